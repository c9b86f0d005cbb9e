package cortex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/owlette/server/shared/autonomous/relay"
	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/uistream"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/tools"
	"github.com/owlette/server/shared/web"
)

// chatTools are the tools of both server paths: every tier.
var chatTools = tools.UpTo(3)

// maxFanOut bounds the machines a site-wide tool call waits on at once
// (each wait is a Firestore listener).
const maxFanOut = 50

// target is who a server-side chat acts on.
type target struct {
	siteID, chatID string
	// machines is the chat's machine, or every online machine (site mode).
	machines []string
	site     bool
}

// machineChat is E52's server path for one machine: the system prompt
// names the machine and its configured processes.
func (h *handlers) machineChat(w http.ResponseWriter, r *http.Request, req *chatRequest, site, config map[string]any) error {
	cfg, err := h.llmConfig(r, req.SiteID)
	if err != nil {
		return err
	}
	name := req.MachineName
	if name == "" {
		name = req.MachineID
	}
	system := machinePrompt(siteName(site, req.SiteID), req.MachineID, name, config)
	t := target{siteID: req.SiteID, chatID: req.ChatID, machines: []string{req.MachineID}}
	return h.stream(w, r, cfg, system, req.msgs, t)
}

// siteChat is E52's site-wide path: the machines online now (truthy
// `online`; none ⇒ 503) are the targets of every agent tool.
func (h *handlers) siteChat(w http.ResponseWriter, r *http.Request, req *chatRequest, site map[string]any) error {
	ctx := r.Context()
	snaps, err := h.d.Firestore.Collection("sites").Doc(req.SiteID).Collection("machines").
		Where("online", "==", true).Select("online").Documents(ctx).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	var machines []string
	for _, s := range snaps {
		machines = append(machines, s.Ref.ID)
	}
	if len(machines) == 0 {
		return ErrNoneOnline
	}
	sort.Strings(machines)
	cfg, err := h.llmConfig(r, req.SiteID)
	if err != nil {
		return err
	}
	system := sitePrompt(siteName(site, req.SiteID), machines)
	t := target{siteID: req.SiteID, chatID: req.ChatID, machines: machines, site: true}
	return h.stream(w, r, cfg, system, req.msgs, t)
}

// stream runs the model and streams the UI message stream. Once the stream
// has started it is the response: failures become error parts (the
// provider's message), and a run still going ChatRunMargin before the
// deadline is stopped with an error part and [DONE].
func (h *handlers) stream(w http.ResponseWriter, r *http.Request, cfg llmconfig.Resolved, system string, msgs []llm.Message, t target) error {
	provider, err := llm.New(cfg.Config(h.d.Config, h.client))
	if err != nil {
		return web.Internal(err)
	}
	ctx := r.Context()
	runCtx, cancel := context.WithTimeout(ctx, ChatDeadline-ChatRunMargin)
	defer cancel()
	sw := uistream.NewResponse(w)
	res, err := llm.Run(runCtx, llm.RunConfig{
		Provider:  provider,
		System:    system,
		Messages:  msgs,
		Tools:     relay.Defs(chatTools),
		Execute:   h.executor(t),
		MaxSteps:  llm.ChatMaxSteps,
		Stream:    sw,
		ErrorText: llm.ProviderErrorText,
		Now:       h.d.Now,
	})
	log := logging.From(ctx)
	if err != nil && runCtx.Err() != nil && ctx.Err() == nil && sw.Err() == nil {
		sw.Error("The answer took too long and was stopped. Ask again, or ask for less at once.")
		sw.Done()
	}
	if err != nil {
		log.Warn("cortex chat ended with an error", "error", err.Error())
	}
	if res != nil {
		log.Info("cortex chat", "steps", res.Steps, "toolCalls", len(res.ToolCalls), "finishReason", string(res.FinishReason),
			"inputTokens", res.Usage.InputTokens, "outputTokens", res.Usage.OutputTokens, "model", provider.Model())
	}
	return nil
}

// executor runs the model's tool calls: server-side tools here, agent tools
// on the target machine, or on every target machine at once (site mode).
func (h *handlers) executor(t target) llm.Executor {
	return func(ctx context.Context, call llm.ToolCall) (any, error) {
		tool, ok := tools.Lookup(call.Name)
		if !ok {
			return nil, fmt.Errorf("unknown tool %s", call.Name)
		}
		input, err := relay.DecodeInput(call.Input)
		if err != nil {
			return nil, err
		}
		if err := relay.CheckRequired(tool, input); err != nil {
			return nil, err
		}
		if tool.ServerSide {
			return h.serverTool(ctx, t, tool, input)
		}
		if !t.site {
			return h.relay.Run(ctx, relay.Call{SiteID: t.siteID, MachineID: t.machines[0], ChatID: t.chatID, Tool: tool, Input: input})
		}
		return h.fanOut(ctx, t, tool, input), nil
	}
}

// fanOut runs an agent tool on every target machine in parallel and
// answers {"machines":[{"machine":<id>, …result}]} in the targets' order.
// A machine whose call fails carries {"machine", "error"}.
func (h *handlers) fanOut(ctx context.Context, t target, tool tools.Tool, input map[string]any) json.RawMessage {
	outs := make([]json.RawMessage, len(t.machines))
	sem := make(chan struct{}, maxFanOut)
	var wg sync.WaitGroup
	for i, m := range t.machines {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out, err := h.relay.Run(ctx, relay.Call{SiteID: t.siteID, MachineID: m, ChatID: t.chatID, Tool: tool, Input: input})
			if err != nil {
				out, _ = json.Marshal(map[string]string{"error": err.Error()})
			}
			outs[i] = machineEntry(m, out)
		})
	}
	wg.Wait()
	var b bytes.Buffer
	b.WriteString(`{"machines":[`)
	for i, o := range outs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(o)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// machineEntry is {"machine":id, …out} for an object output (its key order
// kept; a "machine" key of its own wins, as a spread would), else
// {"machine":id,"result":out}.
func machineEntry(machine string, out json.RawMessage) json.RawMessage {
	id, _ := json.Marshal(machine)
	o := bytes.TrimSpace(out)
	var b bytes.Buffer
	b.WriteString(`{"machine":`)
	b.Write(id)
	if len(o) >= 2 && o[0] == '{' {
		inner := bytes.TrimSpace(o[1 : len(o)-1])
		if len(inner) > 0 {
			b.WriteByte(',')
			b.Write(inner)
		}
	} else {
		b.WriteString(`,"result":`)
		if len(o) == 0 {
			o = []byte("null")
		}
		b.Write(o)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// machinePrompt is the system prompt of a one-machine chat.
func machinePrompt(site, machineID, machineName string, config map[string]any) string {
	var b strings.Builder
	fmt.Fprintf(&b, `You are cortex, the assistant of owlette, which keeps Windows machines running media installations (TouchDesigner, digital signage, kiosks) healthy. You are talking with an operator of the site %q about the machine %s (id %s).

`, site, machineName, machineID)
	procs, _ := config["processes"].([]any)
	if len(procs) == 0 {
		b.WriteString("The machine has no processes configured in owlette.\n")
	} else {
		b.WriteString("Processes owlette manages on this machine (name — executable — launch mode):\n")
		for _, p := range procs {
			m, _ := p.(map[string]any)
			name, _ := m["name"].(string)
			if name == "" {
				continue
			}
			exe, _ := m["exe_path"].(string)
			mode, _ := m["launch_mode"].(string)
			if mode == "" {
				if a, _ := m["autolaunch"].(bool); a {
					mode = "always"
				} else {
					mode = "off"
				}
			}
			fmt.Fprintf(&b, "- %s — %s — %s\n", name, orDash(exe), mode)
		}
	}
	b.WriteString(commonGuidance)
	return b.String()
}

// sitePrompt is the system prompt of a site-wide chat.
func sitePrompt(site string, machines []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `You are cortex, the assistant of owlette, which keeps Windows machines running media installations (TouchDesigner, digital signage, kiosks) healthy. You are talking with an operator about the whole site %q. %d machine(s) are online: %s.

Every machine tool you call runs on all of these machines at once and returns {"machines":[{"machine":<id>, …that machine's result}]}. get_site_logs, get_system_presets and deploy_software run once for the site (a deployment targets every online machine).
`, site, len(machines), strings.Join(machines, ", "))
	b.WriteString(commonGuidance)
	return b.String()
}

const commonGuidance = `
How to work:
- Look before you answer: use the tools to check the real state instead of guessing, and say what the tools returned.
- Ask the operator before anything disruptive or hard to undo: rebooting or shutting down, stopping a process, deploying software, writing files or running commands that change the machine.
- Be brief and concrete. Name machines, processes and numbers.
`

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
