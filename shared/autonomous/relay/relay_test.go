package relay_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/autonomous/relay"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/tools"
)

func tool(t *testing.T, name string) tools.Tool {
	t.Helper()
	tl, ok := tools.Lookup(name)
	if !ok {
		t.Fatalf("no tool %s", name)
	}
	return tl
}

// agent answers pending commands of site s1, machine M1 with reply's entry
// (nil: no answer), recording when each was seen.
type agent struct {
	mu   sync.Mutex
	seen []seenCmd
}

type seenCmd struct {
	id  string
	cmd map[string]any
	at  time.Time
}

func (a *agent) commands() []seenCmd {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]seenCmd(nil), a.seen...)
}

func startAgent(t *testing.T, fs *firestore.Client, reply func(n int, cmd map[string]any) map[string]any) *agent {
	t.Helper()
	a := &agent{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	base := "sites/s1/machines/M1/commands/"
	go func() {
		done := map[string]bool{}
		// A listener that breaks (a busy emulator) is opened again.
		for ctx.Err() == nil {
			it := fs.Doc(base + "pending").Snapshots(ctx)
			for {
				snap, err := it.Next()
				if err != nil {
					break
				}
				if !snap.Exists() {
					continue
				}
				for id, v := range snap.Data() {
					if done[id] {
						continue
					}
					done[id] = true
					cmd := v.(map[string]any)
					a.mu.Lock()
					n := len(a.seen)
					a.seen = append(a.seen, seenCmd{id, cmd, time.Now()})
					a.mu.Unlock()
					e := reply(n, cmd)
					if e == nil {
						continue
					}
					_, _ = fs.Doc(base+"completed").Set(ctx, map[string]any{id: e}, firestore.Merge(firestore.FieldPath{id}))
					_, _ = fs.Doc(base+"pending").Update(ctx, []firestore.Update{{FieldPath: firestore.FieldPath{id}, Value: firestore.Delete}})
				}
			}
			it.Stop()
		}
	}()
	return a
}

// A tool the agent does not answer in its timeout + buffer: an error
// object for the model, and the command withdrawn from the queue.
func TestTimeoutWithdraws(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	startAgent(t, fs, func(int, map[string]any) map[string]any { return nil })
	r := relay.New(fs, nil)
	r.Buffer = 200 * time.Millisecond
	start := time.Now()
	out, err := r.Run(context.Background(), relay.Call{SiteID: "s1", MachineID: "M1", ChatID: "c", Tool: tool(t, "get_event_logs"), Input: map[string]any{"timeout_seconds": int64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 1200*time.Millisecond || took > 5*time.Second {
		t.Errorf("waited %s, want timeout_seconds + buffer", took)
	}
	var v map[string]any
	if json.Unmarshal(out, &v) != nil || v["timeout"] != true || !strings.Contains(v["error"].(string), "get_event_logs") {
		t.Errorf("output %s", out)
	}
	snap, err := fs.Doc("sites/s1/machines/M1/commands/pending").Get(context.Background())
	if err != nil || len(snap.Data()) != 0 {
		t.Errorf("pending after the timeout: %v %v", snap.Data(), err)
	}
}

// The agent refuses a second command of a type within its gap ("Rate
// limited: …", recorded as completed): the relay queues it again.
func TestRateLimitedIsRetried(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	a := startAgent(t, fs, func(n int, cmd map[string]any) map[string]any {
		if n == 0 {
			return map[string]any{"status": "completed", "result": "Rate limited: mcp_tool_call executed too recently, try again in a few seconds"}
		}
		return map[string]any{"status": "completed", "result": `{"ok":true}`}
	})
	r := relay.New(fs, nil)
	r.Gap = 300 * time.Millisecond
	out, err := r.Run(context.Background(), relay.Call{SiteID: "s1", MachineID: "M1", Tool: tool(t, "get_disk_usage"), Input: map[string]any{}})
	if err != nil || string(out) != `{"ok":true}` {
		t.Fatalf("output %s %v", out, err)
	}
	cmds := a.commands()
	if len(cmds) != 2 || cmds[0].id == cmds[1].id {
		t.Fatalf("commands %v", cmds)
	}
	if gap := cmds[1].at.Sub(cmds[0].at); gap < 250*time.Millisecond {
		t.Errorf("re-queued after %s, want the gap", gap)
	}
}

// Commands of one type to one machine are spaced: the next is queued Gap
// after the previous one was queued and after it completed; another type
// is not held back.
func TestSameTypeSpacing(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	a := startAgent(t, fs, func(n int, cmd map[string]any) map[string]any {
		if n == 0 {
			time.Sleep(400 * time.Millisecond) // a slow first tool
		}
		return map[string]any{"status": "completed", "result": "{}"}
	})
	r := relay.New(fs, nil)
	r.Gap = 500 * time.Millisecond
	ctx := context.Background()
	call := func(name string, in map[string]any) {
		if _, err := r.Run(ctx, relay.Call{SiteID: "s1", MachineID: "M1", Tool: tool(t, name), Input: in}); err != nil {
			t.Error(err)
		}
	}
	start := time.Now()
	call("get_system_info", nil)
	done := time.Now()
	call("get_gpu_processes", nil)
	call("restart_process", map[string]any{"process_name": "TD"})
	cmds := a.commands()
	if len(cmds) != 3 {
		t.Fatalf("%d commands", len(cmds))
	}
	ms := func(i int) time.Time { return time.UnixMilli(cmds[i].cmd["timestamp"].(int64)) }
	if d := ms(1).Sub(done); d < 450*time.Millisecond {
		t.Errorf("second mcp_tool_call queued %s after the first completed, want ≥ the gap", d)
	}
	if d := ms(1).Sub(start); d < 850*time.Millisecond {
		t.Errorf("second mcp_tool_call %s after the first was queued", d)
	}
	if d := cmds[2].at.Sub(cmds[1].at); d > 400*time.Millisecond {
		t.Errorf("a restart_process waited %s behind an mcp_tool_call", d)
	}
}

func TestOutput(t *testing.T) {
	for _, c := range []struct {
		typ   string
		entry map[string]any
		want  string
	}{
		{relay.MCPType, map[string]any{"status": "completed", "result": ` {"z":1,"a":[2]} `}, `{"z":1,"a":[2]}`},
		{relay.MCPType, map[string]any{"status": "completed", "result": "plain text"}, `{"result":"plain text"}`},
		{relay.MCPType, map[string]any{"status": "failed", "error": "Error: boom"}, `{"success":false,"error":"Error: boom"}`},
		{"restart_process", map[string]any{"status": "completed", "result": "Process TD started with PID 4"}, `{"success":true,"result":"Process TD started with PID 4"}`},
		{"kill_process", map[string]any{"status": "failed"}, `{"success":false,"error":"The command failed"}`},
	} {
		if got := string(relay.Output(c.typ, c.entry)); got != c.want {
			t.Errorf("%s %v → %s, want %s", c.typ, c.entry, got, c.want)
		}
	}
}

func TestToolTimeoutAndInput(t *testing.T) {
	for in, want := range map[any]time.Duration{nil: 30 * time.Second, int64(5): 5 * time.Second, 2.5: 2500 * time.Millisecond,
		int64(-1): 30 * time.Second, "60": 30 * time.Second, int64(999): 120 * time.Second} {
		if got := relay.ToolTimeout(map[string]any{"timeout_seconds": in}); got != want {
			t.Errorf("%v → %s, want %s", in, got, want)
		}
	}
	in, err := relay.DecodeInput(json.RawMessage(`{"n":3,"f":1.5,"nested":[[1]],"__x__":1}`))
	if err != nil || in["n"] != int64(3) || in["f"] != 1.5 || in["k__x__"] != int64(1) {
		t.Errorf("input %v %v", in, err)
	}
	if nested, _ := in["nested"].([]any); len(nested) != 1 || nested[0] != "[1]" {
		t.Errorf("nested array %v: Firestore cannot store arrays in arrays", in["nested"])
	}
	for _, bad := range []string{`[1]`, `"x"`, `{`} {
		if _, err := relay.DecodeInput(json.RawMessage(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if in, err := relay.DecodeInput(nil); err != nil || len(in) != 0 {
		t.Errorf("empty input: %v %v", in, err)
	}
	restart := tool(t, "restart_process")
	if relay.CheckRequired(restart, map[string]any{"process_name": ""}) == nil || relay.CheckRequired(restart, map[string]any{"process_name": "TD"}) != nil {
		t.Error("required parameters")
	}
}
