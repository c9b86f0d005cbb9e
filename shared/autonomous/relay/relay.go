// Package relay runs cortex's machine tools on the agents, through each
// machine's command queue (api.md §1.12, §2.20 "Execution routing";
// datamodel.md §5.5, §5.8), for both cortex paths: chat (E52) and
// autonomous investigations (E53).
//
// A tool mapped to a native agent command (restart_process, kill_process,
// start_process → restart_process, set_launch_mode, reboot_machine,
// shutdown_machine, cancel_reboot) is queued as that command,
// {type, process_name, timestamp: ms, status:"pending"}, id <type>_<ms>,
// and awaited 30 s. Every other tool is queued as
// {type:"mcp_tool_call", tool_name, tool_params, chat_id, timestamp: ms,
// status:"pending", timeout_seconds}, id mcp_<ms>_<tool>, and awaited
// timeout_seconds (the tool input's, default 30, at most 120) + 10 s. The
// wait listens to commands/completed (shared/cmdqueue); a timeout or a
// cancelled request withdraws the pending command, and a timeout answers
// the model with an error object rather than failing the call.
//
// The agent refuses a second command of one type within 5 s
// ("Rate limited: …", recorded as completed). A Relay therefore spaces
// commands of one type to one machine: each is queued Gap after the
// previous one was queued and after it completed (the agent dispatched it
// no later than that); a command refused anyway is queued again, at most
// twice. Ids keep the original formats and never repeat within an instance
// (the millisecond is bumped).
package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/autonomous"
	"github.com/owlette/server/shared/cmdqueue"
	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/tools"
)

// Waits (api.md §2.20, datamodel.md §10).
const (
	NativeWait         = 30 * time.Second
	DefaultToolTimeout = 30 * time.Second
	MaxToolTimeout     = 120 * time.Second
	ToolWaitBuffer     = 10 * time.Second
	// DefaultGap is the spacing of same-type commands to one machine: the
	// agent's 5 s, and a margin for its clock.
	DefaultGap = 5500 * time.Millisecond
	// maxRateRetries bounds re-queueing a command the agent rate-limited.
	maxRateRetries = 2
)

// MCPType is the command type of relayed tools.
const MCPType = "mcp_tool_call"

// Relay queues tool calls and waits for their results. One per instance:
// it remembers, per machine and command type, when the next command may
// be queued. Safe for concurrent use.
type Relay struct {
	FS *firestore.Client
	// Now stamps the commands (timestamp and id); time.Now when nil.
	Now func() time.Time
	// Gap spaces same-type commands to one machine (DefaultGap when 0).
	Gap time.Duration
	// Buffer is added to an mcp tool's timeout for the wait
	// (ToolWaitBuffer when 0).
	Buffer time.Duration

	mu     sync.Mutex
	next   map[string]time.Time // earliest time the next command of a key may be queued
	lastMs map[string]int64     // last id millisecond of a key
}

// New returns a Relay over fs.
func New(fs *firestore.Client, now func() time.Time) *Relay {
	return &Relay{FS: fs, Now: now}
}

// Call is one tool call for one machine.
type Call struct {
	SiteID, MachineID string
	// ChatID goes with mcp_tool_call commands (chat_id).
	ChatID string
	Tool   tools.Tool
	// Input is the model's arguments, decoded with DecodeInput.
	Input map[string]any
}

// Run queues the call's command, waits for the agent and returns the
// output for the model (see Output). A timeout is an output too (an error
// object); err is for failures to queue or wait, and for ctx ending.
func (r *Relay) Run(ctx context.Context, c Call) (json.RawMessage, error) {
	typ, wait := MCPType, NativeWait
	if c.Tool.Command != "" {
		typ = c.Tool.Command
	} else {
		wait = ToolTimeout(c.Input) + r.buffer()
	}
	key := c.SiteID + "\x00" + c.MachineID + "\x00" + typ
	for attempt := 0; ; attempt++ {
		if err := r.reserve(ctx, key); err != nil {
			return nil, err
		}
		id, cmd := r.command(key, typ, c, wait)
		if err := cmdqueue.Enqueue(ctx, r.FS, c.SiteID, c.MachineID, id, cmd); err != nil {
			if status.Code(err) == codes.InvalidArgument {
				return nil, fmt.Errorf("the tool input cannot be sent to the machine: %s", status.Convert(err).Message())
			}
			return nil, fmt.Errorf("could not queue the command: %w", err)
		}
		entry, err := cmdqueue.Wait(ctx, r.FS, c.SiteID, c.MachineID, id, wait)
		r.completed(key)
		if errors.Is(err, cmdqueue.ErrTimeout) {
			r.withdraw(ctx, c, id)
			return TimeoutOutput(c.Tool.Name, wait), nil
		}
		if err != nil {
			r.withdraw(ctx, c, id)
			return nil, err
		}
		if rateLimited(entry) && attempt < maxRateRetries {
			logging.From(ctx).Info("agent rate-limited a relayed command: queueing it again", "machineId", c.MachineID, "type", typ)
			continue
		}
		return Output(typ, entry), nil
	}
}

// ToolTimeout is an mcp tool's timeout: the input's timeout_seconds when a
// positive number (at most MaxToolTimeout), else DefaultToolTimeout.
func ToolTimeout(input map[string]any) time.Duration {
	var s float64
	switch v := input["timeout_seconds"].(type) {
	case int64:
		s = float64(v)
	case float64:
		s = v
	}
	if !(s > 0) || math.IsInf(s, 0) {
		return DefaultToolTimeout
	}
	return min(time.Duration(s*float64(time.Second)), MaxToolTimeout)
}

// command builds the id and pending entry of one attempt.
func (r *Relay) command(key, typ string, c Call, wait time.Duration) (string, map[string]any) {
	ms := r.nextMs(key)
	if typ != MCPType {
		cmd := map[string]any{"type": typ, "process_name": c.Input["process_name"], "timestamp": ms, "status": "pending"}
		if cmd["process_name"] == nil {
			delete(cmd, "process_name")
		}
		// The agent reads mode and schedules for set_launch_mode; without
		// them it would always set "off" (the original forwarded
		// process_name only).
		if typ == "set_launch_mode" {
			for _, k := range []string{"mode", "schedules"} {
				if v, ok := c.Input[k]; ok {
					cmd[k] = v
				}
			}
		}
		return fmt.Sprintf("%s_%d", typ, ms), cmd
	}
	params := c.Input
	if params == nil {
		params = map[string]any{}
	}
	return fmt.Sprintf("mcp_%d_%s", ms, c.Tool.Name), map[string]any{
		"type": MCPType, "tool_name": c.Tool.Name, "tool_params": params, "chat_id": c.ChatID,
		"timestamp": ms, "status": "pending", "timeout_seconds": int64((wait - r.buffer()) / time.Second),
	}
}

func (r *Relay) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Relay) buffer() time.Duration {
	if r.Buffer > 0 {
		return r.Buffer
	}
	return ToolWaitBuffer
}

func (r *Relay) gap() time.Duration {
	if r.Gap > 0 {
		return r.Gap
	}
	return DefaultGap
}

// nextMs is now in ms, or one past the key's last id when that is later.
func (r *Relay) nextMs(key string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastMs == nil {
		r.lastMs = map[string]int64{}
	}
	ms := max(r.now().UnixMilli(), r.lastMs[key]+1)
	r.lastMs[key] = ms
	return ms
}

// reserve waits until the key's next command may be queued and books the
// slot after it.
func (r *Relay) reserve(ctx context.Context, key string) error {
	r.mu.Lock()
	if r.next == nil {
		r.next = map[string]time.Time{}
	}
	now := time.Now()
	if len(r.next) > 1000 { // forget keys whose spacing has passed
		for k, t := range r.next {
			if t.Before(now) {
				delete(r.next, k)
				delete(r.lastMs, k)
			}
		}
	}
	at := now
	if t := r.next[key]; t.After(at) {
		at = t
	}
	r.next[key] = at.Add(r.gap())
	r.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// completed pushes the key's next slot to Gap after now: the agent ran the
// command no later than it answered.
func (r *Relay) completed(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := time.Now().Add(r.gap()); t.After(r.next[key]) {
		r.next[key] = t
	}
}

// withdraw removes a command whose result nobody will read (timeout, or
// the request ended), best effort.
func (r *Relay) withdraw(ctx context.Context, c Call, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := cmdqueue.Pending(r.FS, c.SiteID, c.MachineID).Update(ctx, []firestore.Update{{FieldPath: firestore.FieldPath{id}, Value: firestore.Delete}})
	if err != nil && status.Code(err) != codes.NotFound {
		logging.From(ctx).Warn("relayed command not withdrawn", "commandId", id, "error", err.Error())
	}
}

func rateLimited(entry any) bool {
	m, _ := entry.(map[string]any)
	s, _ := m["result"].(string)
	return strings.HasPrefix(s, "Rate limited:")
}

// Output turns the agent's completed entry into what the model reads:
//   - failed: {"success":false,"error":<the agent's error>};
//   - mcp_tool_call: the tool's JSON result as the agent sent it (its key
//     order kept), or {"result":<text>} when it is not JSON;
//   - native commands: {"success":true,"result":<text>}.
func Output(typ string, entry any) json.RawMessage {
	m, _ := entry.(map[string]any)
	if m["status"] == "failed" {
		msg, _ := m["error"].(string)
		if msg == "" {
			msg = "The command failed"
		}
		return mustJSON(struct {
			Success bool   `json:"success"`
			Error   string `json:"error"`
		}{false, msg})
	}
	res, _ := m["result"].(string)
	if typ == MCPType {
		t := bytes.TrimSpace([]byte(res))
		if len(t) > 0 && json.Valid(t) {
			return json.RawMessage(t)
		}
		return mustJSON(map[string]any{"result": res})
	}
	return mustJSON(struct {
		Success bool   `json:"success"`
		Result  string `json:"result"`
	}{true, res})
}

// TimeoutOutput is the model's answer when the agent did not answer.
func TimeoutOutput(tool string, wait time.Duration) json.RawMessage {
	return mustJSON(struct {
		Error   string `json:"error"`
		Timeout bool   `json:"timeout"`
	}{fmt.Sprintf("The machine did not answer %s within %d seconds: its agent may be busy, offline or restarting.", tool, int(wait.Seconds())), true})
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// DecodeInput decodes a model's tool input into values Firestore can store
// (autonomous.Storable): it must be a JSON object (empty input is {}).
func DecodeInput(raw json.RawMessage) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	v, ok := autonomous.StorableJSON(raw).(map[string]any)
	if !ok {
		return nil, errors.New("the tool input must be a JSON object")
	}
	return v, nil
}

// CheckRequired reports the first required parameter of t missing from
// input (absent, null or "").
func CheckRequired(t tools.Tool, input map[string]any) error {
	for _, name := range t.Required() {
		if v, ok := input[name]; !ok || v == nil || v == "" {
			return fmt.Errorf("missing required parameter: %s", name)
		}
	}
	return nil
}

// Defs describes tools to the model.
func Defs(list []tools.Tool) []llm.ToolDef {
	out := make([]llm.ToolDef, len(list))
	for i, t := range list {
		schema, _ := json.Marshal(t.Parameters)
		out[i] = llm.ToolDef{Name: t.Name, Description: t.Description, InputSchema: schema}
	}
	return out
}
