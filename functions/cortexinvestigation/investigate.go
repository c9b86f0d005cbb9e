package cortexinvestigation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/autonomous"
	"github.com/owlette/server/shared/autonomous/relay"
	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/tools"
)

// Summaries of outcomes that have no model report.
const (
	noSummary = "The investigation ended without a summary."
	// maxSummary bounds the stored summary (the e-mail takes 2,000).
	maxSummary = 8000
)

// investigate runs one claimed job and returns its outcome; it never
// fails (a failure is the outcome "failed").
func (inv *investigator) investigate(ctx context.Context, j *autonomous.Job) autonomous.Outcome {
	d := inv.d
	fs := d.Firestore
	log := logging.From(ctx).With("eventId", j.EventID, "siteId", j.SiteID, "machineId", j.MachineID)
	site := fs.Collection("sites").Doc(j.SiteID)
	snaps, err := fs.GetAll(ctx, []*firestore.DocumentRef{
		site.Collection("machines").Doc(j.MachineID), autonomous.SettingsRef(fs, j.SiteID),
	})
	if err != nil {
		return failed(fmt.Errorf("could not read the machine and the site's settings: %w", err))
	}
	machine, st := data(snaps[0]), autonomous.ParseSettings(data(snaps[1]))
	if !store.Truthy(machine["online"]) {
		return autonomous.Outcome{
			Status: autonomous.StatusEscalated,
			Summary: fmt.Sprintf("%s is offline, so Cortex could not investigate why %s %s. Someone needs to check the machine (power, network, the owlette agent).",
				j.MachineName, j.ProcessName, autonomous.ProcessVerb(j.EventType)),
			Escalate: st.EscalationEmail,
		}
	}

	rctx, cancel := context.WithTimeout(ctx, autonomous.RunDeadline)
	defer cancel()
	resolved, err := llmconfig.Resolve(rctx, fs, d.Config, llmconfig.ModeAutonomous, "", j.SiteID)
	if err != nil {
		return failed(err)
	}
	provider, err := llm.New(resolved.Config(d.Config, inv.client))
	if err != nil {
		return failed(err)
	}
	list := toolList(st.MaxTier)
	res, runErr := llm.Run(rctx, llm.RunConfig{
		Provider: provider,
		System:   SystemPrompt(st.Directive, st.MaxTier, j),
		Messages: []llm.Message{llm.UserText(EventContext(j, j.CreatedAt))},
		Tools:    relay.Defs(list),
		Execute:  inv.executor(j, list),
		MaxSteps: autonomous.MaxSteps,
		Now:      d.Now,
	})
	out := outcome(res, runErr, st)
	if runErr != nil && errors.Is(runErr, context.DeadlineExceeded) && ctx.Err() == nil {
		out.Summary = fmt.Sprintf("Investigation error: it did not finish within %s.", autonomous.RunDeadline)
	}
	if res != nil {
		// The chat is written before the outcome (Finish), so the event
		// never points at a chat that is missing.
		if err := inv.saveChat(ctx, j, res.Messages, out.Summary); err != nil {
			log.Error("investigation chat not saved", "chatId", j.ChatID, "error", err.Error())
		}
	}
	return out
}

// outcome reads a run's result (api.md E53): any error ⇒ failed; the final
// text containing EscalationMarker ⇒ escalated, else resolved; the summary
// is what follows OutcomeMarker.
func outcome(res *llm.Result, err error, st autonomous.Settings) autonomous.Outcome {
	var out autonomous.Outcome
	if res != nil {
		for _, c := range res.ToolCalls {
			params, _ := autonomous.StorableJSON(c.Params).(map[string]any)
			out.Actions = append(out.Actions, autonomous.Action{Tool: c.Name, Params: params, Time: c.Time})
		}
	}
	if err != nil {
		f := failed(err)
		f.Actions = out.Actions
		return f
	}
	text := res.Text
	if strings.TrimSpace(text) == "" {
		text = assistantText(res.Messages)
	}
	out.Status = autonomous.StatusResolved
	if strings.Contains(text, EscalationMarker) {
		out.Status = autonomous.StatusEscalated
		out.Escalate = st.EscalationEmail
	}
	out.Summary = noSummary
	if _, after, ok := strings.Cut(text, OutcomeMarker); ok && strings.TrimSpace(after) != "" {
		out.Summary = strings.TrimSpace(after)
	}
	out.Summary = cut(out.Summary, maxSummary)
	return out
}

func failed(err error) autonomous.Outcome {
	var ce *llmconfig.Error
	msg := err.Error()
	if errors.As(err, &ce) {
		msg = ce.Error()
	}
	return autonomous.Outcome{Status: autonomous.StatusFailed, Summary: cut("Investigation error: "+msg, maxSummary)}
}

func assistantText(msgs []llm.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		if m.Role == llm.RoleAssistant {
			b.WriteString(m.TextContent())
			b.WriteString("\n")
		}
	}
	return b.String()
}

// executor relays every tool call to the machine's agent.
func (inv *investigator) executor(j *autonomous.Job, list []tools.Tool) llm.Executor {
	byName := make(map[string]tools.Tool, len(list))
	for _, t := range list {
		byName[t.Name] = t
	}
	return func(ctx context.Context, call llm.ToolCall) (any, error) {
		t, ok := byName[call.Name]
		if !ok {
			return nil, fmt.Errorf("unknown tool %s", call.Name)
		}
		input, err := relay.DecodeInput(call.Input)
		if err != nil {
			return nil, err
		}
		if err := relay.CheckRequired(t, input); err != nil {
			return nil, err
		}
		out, err := inv.relay.Run(ctx, relay.Call{SiteID: j.SiteID, MachineID: j.MachineID, ChatID: j.ChatID, Tool: t, Input: input})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// maxChatBytes keeps a chat document well inside Firestore's 1 MiB.
const maxChatBytes = 800 << 10

// saveChat writes chats/{chatId} (datamodel.md §2.20): the conversation as
// AI SDK model messages, made storable and, when too large, with long tool
// outputs and texts shortened.
func (inv *investigator) saveChat(ctx context.Context, j *autonomous.Job, msgs []llm.Message, summary string) error {
	raw, err := json.Marshal(msgs)
	if err != nil {
		return err
	}
	stored, _ := autonomous.StorableJSON(raw).([]any)
	stored = boundMessages(stored, maxChatBytes)
	now := inv.d.Now()
	_, err = inv.d.Firestore.Collection("chats").Doc(j.ChatID).Set(ctx, map[string]any{
		"source": "autonomous", "eventId": j.EventID, "siteId": j.SiteID,
		"targetType": "machine", "targetMachineId": j.MachineID, "machineName": j.MachineName,
		"title":             cut(fmt.Sprintf("Auto: %s %s", j.ProcessName, autonomous.ProcessVerb(j.EventType)), 100),
		"autonomousSummary": summary, "messages": stored,
		"createdAt": now, "updatedAt": now,
	})
	return err
}

// boundMessages shortens a stored conversation until its JSON fits budget:
// first tool outputs (to their first 2,000 characters of text), then long
// texts (4,000), then the oldest messages after the first.
func boundMessages(msgs []any, budget int) []any {
	size := func() int { b, _ := json.Marshal(msgs); return len(b) }
	if size() <= budget {
		return msgs
	}
	eachPart(msgs, func(p map[string]any) {
		if p["type"] != "tool-result" {
			return
		}
		out, _ := p["output"].(map[string]any)
		if out == nil {
			return
		}
		text, ok := out["value"].(string)
		if !ok {
			b, _ := json.Marshal(out["value"])
			text = string(b)
		}
		if len(text) > 2000 {
			p["output"] = map[string]any{"type": "text", "value": cut(text, 2000) + " …[truncated]"}
		}
	})
	if size() <= budget {
		return msgs
	}
	eachPart(msgs, func(p map[string]any) {
		if t, ok := p["text"].(string); ok && len(t) > 4000 {
			p["text"] = cut(t, 4000) + " …[truncated]"
		}
	})
	for len(msgs) > 2 && size() > budget {
		msgs = append(msgs[:1], msgs[2:]...)
	}
	return msgs
}

func eachPart(msgs []any, f func(map[string]any)) {
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		parts, _ := mm["content"].([]any)
		for _, p := range parts {
			if pm, ok := p.(map[string]any); ok {
				f(pm)
			}
		}
	}
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

func data(s *firestore.DocumentSnapshot) map[string]any {
	if s == nil || !s.Exists() {
		return map[string]any{}
	}
	return s.Data()
}
