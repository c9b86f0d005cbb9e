package cortexinvestigation_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlette/server/functions/cortex"
	"github.com/owlette/server/functions/cortexinvestigation"
	"github.com/owlette/server/scripts/agentsim/autonomoustest"
	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/autonomous"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/trigger"
	"github.com/owlette/server/shared/trigger/triggertest"
)

const directive = "Restart crashed processes. Never reboot."

// newStack serves E53 (functions/cortex) with autonomous mode on and, when
// deliver is set, has the emulator deliver cortex_jobs creations to the
// trigger for real.
func newStack(t *testing.T, deliver bool) (*autonomoustest.Stack, *triggertest.Server) {
	t.Helper()
	s := autonomoustest.New(t, cortex.Register)
	s.SiteLLM(t, "")
	s.Set(t, "sites/site-a/settings/cortex", map[string]any{"autonomousEnabled": true, "directive": directive})
	var srv *triggertest.Server
	if deliver {
		srv = triggertest.Serve(t, s.D, cortexinvestigation.Spec)
	}
	return s, srv
}

// accept posts E53 as the agent alert's notification delivery does.
func accept(t *testing.T, s *autonomoustest.Stack, machine, process string) (eventID, chatID string) {
	t.Helper()
	r := s.Do("POST", "/api/cortex/autonomous", apptest.NoCred, map[string]any{
		"siteId": "site-a", "machineId": machine, "machineName": machine + " (lobby)", "processName": process,
		"eventType": "process_crash", "errorMessage": "Process exited unexpectedly (code 3221225477)", "agentVersion": "2.6.0",
	}, map[string]string{"X-Cortex-Secret": s.D.Config.CortexSecret})
	if r.StatusCode != 200 || r.JSON["accepted"] != true {
		t.Fatalf("E53: %d %s", r.StatusCode, r.Raw)
	}
	return r.JSON["eventId"].(string), r.JSON["chatId"].(string)
}

func waitOutcome(t *testing.T, s *autonomoustest.Stack, srv *triggertest.Server, eventID string) map[string]any {
	t.Helper()
	path := "sites/site-a/cortex-events/" + eventID
	cond := func() bool { return s.Doc(path)["status"] != autonomous.StatusInvestigating }
	if srv != nil {
		srv.Wait(t, 40*time.Second, "the investigation's outcome", cond)
	} else {
		autonomoustest.WaitFor(t, 40*time.Second, "the investigation's outcome", cond)
	}
	return s.Doc(path)
}

func call(name, args string) llmfake.ToolCall {
	return llmfake.ToolCall{Name: name, Args: []string{args}}
}

func assertReleased(t *testing.T, s *autonomoustest.Stack, eventID, wantJob string) {
	t.Helper()
	lock := s.Doc("sites/site-a/cortex-state/lock")
	if lock["activeSessions"] != int64(0) || len(lock["holders"].(map[string]any)) != 0 {
		t.Errorf("slot not given back: %v", lock)
	}
	job := s.Doc("cortex_jobs/" + eventID)
	if job["status"] != wantJob || job["slotHeldAt"] != nil || job["expireAt"] == nil || job["finishedAt"] == nil {
		t.Errorf("job %v", job)
	}
}

// A crash the simulated agent reports: E53 accepts, the emulator delivers
// the job to the trigger, the model looks, restarts the process through the
// agent, checks, and reports; the event is resolved with its actions, the
// chat is saved, the slot comes back and no e-mail is queued.
func TestInvestigationResolvesCrash(t *testing.T) {
	s, srv := newStack(t, true)
	a := s.Agent(t, "WS-01")
	if !a.CrashProcess("TouchDesigner") {
		t.Fatal("no TouchDesigner on the simulated machine")
	}
	s.Fake.Enqueue(
		llmfake.Turn{Text: []string{"Checking the processes."}, ToolCalls: []llmfake.ToolCall{call("get_process_list", "{}")}},
		llmfake.Turn{ToolCalls: []llmfake.ToolCall{call("restart_process", `{"process_name":"TouchDesigner"}`)}},
		llmfake.Turn{ToolCalls: []llmfake.ToolCall{call("get_process_list", "{}")}},
		llmfake.Turn{Text: []string{"TouchDesigner had stopped; I restarted it.\n\n", "OUTCOME: TouchDesigner crashed and was restarted; it runs again."}},
	)
	start := time.Now()
	eventID, chatID := accept(t, s, "WS-01", "TouchDesigner")
	ev := waitOutcome(t, s, srv, eventID)
	t.Logf("crash → resolved in %s (3 tool calls through the command queue)", time.Since(start).Round(time.Millisecond))

	if ev["status"] != "resolved" || ev["summary"] != "TouchDesigner crashed and was restarted; it runs again." || ev["resolvedAt"] == nil {
		t.Fatalf("event %v", ev)
	}
	if d, _ := ev["durationMs"].(int64); d < 0 {
		t.Errorf("durationMs %v", ev["durationMs"])
	}
	var tools []string
	for _, x := range ev["actions"].([]any) {
		m := x.(map[string]any)
		if _, ok := m["timestamp"].(time.Time); !ok {
			t.Errorf("action without a timestamp: %v", m)
		}
		tools = append(tools, m["tool"].(string))
		if m["tool"] == "restart_process" && m["params"].(map[string]any)["process_name"] != "TouchDesigner" {
			t.Errorf("restart params %v", m["params"])
		}
	}
	if !slices.Equal(tools, []string{"get_process_list", "restart_process", "get_process_list"}) {
		t.Errorf("actions %v", tools)
	}
	if st := a.ProcessStatus("TouchDesigner"); st != sim.StatusRunning {
		t.Errorf("TouchDesigner is %s on the machine", st)
	}

	chat := s.Doc("chats/" + chatID)
	if chat["source"] != "autonomous" || chat["eventId"] != eventID || chat["siteId"] != "site-a" || chat["targetType"] != "machine" ||
		chat["targetMachineId"] != "WS-01" || chat["machineName"] != "WS-01 (lobby)" || chat["title"] != "Auto: TouchDesigner crashed" ||
		chat["autonomousSummary"] != ev["summary"] || chat["createdAt"] == nil || chat["updatedAt"] == nil {
		t.Errorf("chat %v", chat)
	}
	var roles []string
	for _, m := range chat["messages"].([]any) {
		roles = append(roles, m.(map[string]any)["role"].(string))
	}
	if !slices.Equal(roles, []string{"user", "assistant", "tool", "assistant", "tool", "assistant", "tool", "assistant"}) {
		t.Errorf("chat roles %v", roles)
	}
	assertReleased(t, s, eventID, "done")
	if n := s.Count(notify.Collection); n != 0 {
		t.Errorf("%d notification jobs for a resolved event", n)
	}

	reqs := s.Fake.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d model requests", len(reqs))
	}
	for _, want := range []string{directive, "WS-01 (lobby)", "TouchDesigner", "OUTCOME:", "ESCALATION NEEDED"} {
		if !strings.Contains(reqs[0].System, want) {
			t.Errorf("system prompt lacks %q", want)
		}
	}
	if u := reqs[0].LastUserText(); !strings.Contains(u, "crashed") || !strings.Contains(u, "3221225477") {
		t.Errorf("event context %q", u)
	}
	var offered []string
	for _, tl := range reqs[0].Tools {
		offered = append(offered, tl.Name)
	}
	if !slices.Contains(offered, "restart_process") || slices.Contains(offered, "run_command") || slices.Contains(offered, "reboot_machine") {
		t.Errorf("tools offered (maxTier 2 by default): %v", offered)
	}
	// The model saw the crash, then the restart, through the agent.
	if r := reqs[1].Messages[len(reqs[1].Messages)-1].ToolResults; len(r) != 1 || !strings.Contains(r[0].Content, "STOPPED") {
		t.Errorf("first look: %+v", r)
	}
	if r := reqs[2].Messages[len(reqs[2].Messages)-1].ToolResults; len(r) != 1 || !strings.Contains(r[0].Content, "restarted") && !strings.Contains(r[0].Content, "started with PID") {
		t.Errorf("restart result: %+v", r)
	}

	// A redelivered event for the finished job does nothing.
	n := len(s.Fake.Requests())
	redeliver(t, s, eventID)
	if len(s.Fake.Requests()) != n || s.Doc("sites/site-a/cortex-events/" + eventID)["status"] != "resolved" {
		t.Error("a redelivery ran the investigation again")
	}
}

func redeliver(t *testing.T, s *autonomoustest.Stack, eventID string) {
	t.Helper()
	ev := &trigger.Event{ID: "redelivery", Type: trigger.Created, Path: "cortex_jobs/" + eventID,
		After: &trigger.Document{Path: "cortex_jobs/" + eventID, Fields: s.Doc("cortex_jobs/" + eventID)}}
	if err := cortexinvestigation.Handle(context.Background(), s.D, ev); err != nil {
		t.Fatal(err)
	}
}

// The model asks for a person: escalated, and one escalation e-mail job
// (notification_queue) for the site's recipients, unless the site turned
// escalation e-mails off.
func TestInvestigationEscalates(t *testing.T) {
	for _, mail := range []bool{true, false} {
		name := "email"
		if !mail {
			name = "escalationEmail false"
		}
		t.Run(name, func(t *testing.T) {
			s, srv := newStack(t, true)
			if !mail {
				s.Set(t, "sites/site-a/settings/cortex", map[string]any{"escalationEmail": false})
			}
			s.Agent(t, "WS-02")
			s.Fake.Enqueue(llmfake.Turn{Text: []string{"The GPU driver faulted again. ESCALATION NEEDED\n", "OUTCOME: TouchDesigner keeps crashing on a GPU driver fault; update the driver."}})
			eventID, _ := accept(t, s, "WS-02", "TouchDesigner")
			ev := waitOutcome(t, s, srv, eventID)
			if ev["status"] != "escalated" || ev["summary"] != "TouchDesigner keeps crashing on a GPU driver fault; update the driver." {
				t.Fatalf("event %v", ev)
			}
			assertReleased(t, s, eventID, "done")
			job := s.Doc(notify.Collection + "/" + autonomous.EscalationKey("site-a", eventID))
			if !mail {
				if job != nil || s.Count(notify.Collection) != 0 {
					t.Errorf("e-mail queued although escalationEmail is false: %v", job)
				}
				return
			}
			if ev := s.Doc("sites/site-a/cortex-events/" + eventID); ev["escalationSent"] != true || ev["escalationPending"] != nil {
				t.Errorf("event after the e-mail was queued: %v", ev)
			}
			email, _ := job["email"].(map[string]any)
			params, _ := job["params"].(map[string]any)
			if job["kind"] != notify.KindEscalation || job["status"] != "pending" || email["template"] != notify.TemplateCortexEscalation ||
				email["subject"] != "cortex escalation: TouchDesigner on WS-02 (lobby)" || email["preference"] != notify.PrefHealthAlerts ||
				params["summary"] != ev["summary"] || params["eventId"] != eventID || params["machineTimezone"] != "Pacific Standard Time" {
				t.Errorf("escalation job %v", job)
			}
			var to []string
			for _, r := range email["recipients"].([]any) {
				to = append(to, r.(map[string]any)["email"].(string))
			}
			slices.Sort(to)
			want := []string{s.Ten.Member.Email, s.Ten.Owner.Email}
			slices.Sort(want)
			if !slices.Equal(to, want) {
				t.Errorf("recipients %v, want the assigned member and the owner %v", to, want)
			}
		})
	}
}

// An offline machine is escalated without asking the model.
func TestInvestigationOfflineMachine(t *testing.T) {
	s, srv := newStack(t, true)
	s.Set(t, "sites/site-a/machines/GONE", map[string]any{"online": false})
	eventID, _ := accept(t, s, "GONE", "TouchDesigner")
	ev := waitOutcome(t, s, srv, eventID)
	if ev["status"] != "escalated" || !strings.Contains(ev["summary"].(string), "offline") {
		t.Errorf("event %v", ev)
	}
	if len(s.Fake.Requests()) != 0 {
		t.Error("the model was asked about an offline machine")
	}
	if s.Doc(notify.Collection+"/"+autonomous.EscalationKey("site-a", eventID)) == nil {
		t.Error("no escalation e-mail for the offline machine")
	}
	assertReleased(t, s, eventID, "done")
}

// Any error ends the investigation as failed, with the reason, and gives
// the slot back: here the site has no LLM key.
func TestInvestigationFails(t *testing.T) {
	s, srv := newStack(t, true)
	s.Agent(t, "WS-03")
	if _, err := s.FS.Doc("sites/site-a/settings/llm").Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventID, _ := accept(t, s, "WS-03", "TouchDesigner")
	ev := waitOutcome(t, s, srv, eventID)
	if ev["status"] != "failed" || !strings.HasPrefix(ev["summary"].(string), "Investigation error: No LLM API key is configured for site") {
		t.Errorf("event %v", ev)
	}
	assertReleased(t, s, eventID, "failed")
}

// Two deliveries of one job at once (Eventarc may deliver twice): one
// claims it, the other does nothing.
func TestInvestigationConcurrentDeliveries(t *testing.T) {
	s, _ := newStack(t, false)
	s.Agent(t, "WS-04")
	s.Fake.Enqueue(llmfake.Turn{Text: []string{"OUTCOME: fine."}}, llmfake.Turn{Text: []string{"OUTCOME: twice!"}})
	eventID, _ := accept(t, s, "WS-04", "TouchDesigner")
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { redeliver(t, s, eventID) })
	}
	wg.Wait()
	if n := len(s.Fake.Requests()); n != 1 {
		t.Errorf("%d model requests, want 1", n)
	}
	if ev := s.Doc("sites/site-a/cortex-events/" + eventID); ev["status"] != "resolved" || ev["summary"] != "fine." {
		t.Errorf("event %v", ev)
	}
	if job := s.Doc("cortex_jobs/" + eventID); job["attempts"] != int64(1) {
		t.Errorf("job %v", job)
	}
	assertReleased(t, s, eventID, "done")
}

// A run that outlives its deadline (here a model that never finishes) ends
// as failed and still gives its slot back.
func TestInvestigationDeadline(t *testing.T) {
	old := autonomous.RunDeadline
	autonomous.RunDeadline = 1500 * time.Millisecond
	t.Cleanup(func() { autonomous.RunDeadline = old })
	s, srv := newStack(t, true)
	s.Agent(t, "WS-05")
	s.Fake.Enqueue(llmfake.Turn{Text: []string{"Thinking…"}, Hold: true})
	eventID, chatID := accept(t, s, "WS-05", "TouchDesigner")
	ev := waitOutcome(t, s, srv, eventID)
	if ev["status"] != "failed" || !strings.Contains(ev["summary"].(string), "did not finish within 1.5s") {
		t.Errorf("event %v", ev)
	}
	assertReleased(t, s, eventID, "failed")
	if c := s.Doc("chats/" + chatID); c == nil || c["autonomousSummary"] != ev["summary"] {
		t.Errorf("chat of the cut-off run %v", c)
	}
}
