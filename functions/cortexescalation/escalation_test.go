package cortexescalation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/cortex"
	"github.com/owlette/server/functions/cortexescalation"
	"github.com/owlette/server/scripts/agentsim/autonomoustest"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/autonomous"
	"github.com/owlette/server/shared/notify"
)

// stack serves the schedule ("/") and, for E53 and E55, functions/cortex,
// without the investigation trigger: jobs stay as a crash leaves them.
func stack(t *testing.T) *autonomoustest.Stack {
	t.Helper()
	s := autonomoustest.New(t, cortexescalation.Register, cortex.Register)
	s.NoContract = true // "/" is the schedule's own URL, not an /api operation
	s.Set(t, "sites/site-a/settings/cortex", map[string]any{"autonomousEnabled": true})
	return s
}

func sweep(t *testing.T, s *autonomoustest.Stack) map[string]any {
	t.Helper()
	r := s.Do("POST", "/", apptest.NoCred, nil, map[string]string{"X-Cron-Secret": s.D.Config.CronSecret})
	if r.StatusCode != 200 || r.JSON["success"] != true {
		t.Fatalf("sweep: %d %s", r.StatusCode, r.Raw)
	}
	return r.JSON
}

func accept(t *testing.T, s *autonomoustest.Stack, machine, process string) string {
	t.Helper()
	res, err := autonomous.Accept(context.Background(), s.D, autonomous.Request{SiteID: "site-a", MachineID: machine, ProcessName: process, EventType: "process_crash"})
	if err != nil || !res.Accepted {
		t.Fatalf("accept: %+v %v", res, err)
	}
	return res.EventID
}

func TestScheduleCredentials(t *testing.T) {
	s := stack(t)
	cfg := s.D.Config
	s.Run(t, []apptest.Scenario{
		{Name: "none", Method: "POST", Path: "/", Cred: apptest.NoCred, Status: 401},
		{Name: "cortex secret", Method: "POST", Path: "/", Header: map[string]string{"X-Cortex-Secret": cfg.CortexSecret}, Status: 401},
		{Name: "admin session", Method: "GET", Path: "/", Cred: apptest.WithCookie(s.Ten.Admin.Cookie()), Status: 401},
		{Name: "wrong cron secret", Method: "GET", Path: "/", Header: map[string]string{"X-Cron-Secret": "nope"}, Status: 401},
		{Name: "cron secret", Method: "GET", Path: "/", Header: map[string]string{"X-Cron-Secret": cfg.CronSecret}, Status: 200,
			Want: map[string]any{"success": true, "processed": 0, "errors": 0, "reclaimed": 0}},
		{Name: "cron bearer", Method: "POST", Path: "/", Cred: apptest.WithBearer(cfg.CronSecret), Status: 200},
	})
}

// An investigation whose instance died (claimed, never finished) keeps its
// slot until the schedule finds it held past ReclaimAfter: then the job is
// abandoned, the event failed, the slot given back — and a late outcome of
// the dead run changes nothing. A job whose trigger never came is
// reclaimed the same way.
func TestScheduleReclaimsCrashedInvestigations(t *testing.T) {
	s := stack(t)
	crashed := accept(t, s, "M1", "TD")
	job, err := autonomous.Claim(context.Background(), s.D, crashed) // the instance that then died
	if err != nil || job == nil {
		t.Fatalf("claim: %v %v", job, err)
	}
	never := accept(t, s, "M2", "TD") // its trigger never came
	accept(t, s, "M3", "TD")
	if res, _ := autonomous.Accept(context.Background(), s.D, autonomous.Request{SiteID: "site-a", MachineID: "M4", ProcessName: "TD", EventType: "process_crash"}); res.Reason != autonomous.ReasonConcurrency {
		t.Fatalf("fourth: %+v", res)
	}

	// Not yet: a live investigation may run for the function's timeout.
	s.Clock.Advance(autonomous.FunctionTimeout)
	if got := sweep(t, s); got["reclaimed"] != float64(0) {
		t.Fatalf("reclaimed a live investigation: %v", got)
	}
	s.Clock.Advance(autonomous.ReclaimAfter - autonomous.FunctionTimeout + time.Second)
	if got := sweep(t, s); got["reclaimed"] != float64(3) || got["errors"] != float64(0) {
		t.Fatalf("sweep %v", got)
	}
	for id, why := range map[string]string{crashed: "stopped before it finished", never: "did not start in time"} {
		ev := s.Doc("sites/site-a/cortex-events/" + id)
		if ev["status"] != "failed" || !contains(ev["summary"], why) || ev["resolvedAt"] == nil {
			t.Errorf("event %s: %v", id, ev)
		}
		if j := s.Doc("cortex_jobs/" + id); j["status"] != "abandoned" || j["slotHeldAt"] != nil {
			t.Errorf("job %s: %v", id, j)
		}
	}
	lock := s.Doc("sites/site-a/cortex-state/lock")
	if lock["activeSessions"] != int64(0) || len(lock["holders"].(map[string]any)) != 0 {
		t.Errorf("lock %v", lock)
	}
	// The dead run's outcome arrives after all: ignored.
	if err := autonomous.Finish(context.Background(), s.D, job, autonomous.Outcome{Status: autonomous.StatusResolved, Summary: "late"}); err != nil {
		t.Fatal(err)
	}
	if ev := s.Doc("sites/site-a/cortex-events/" + crashed); ev["status"] != "failed" {
		t.Errorf("late outcome overwrote the event: %v", ev)
	}
	if got := sweep(t, s); got["reclaimed"] != float64(0) {
		t.Errorf("second sweep %v", got)
	}
	if res, _ := autonomous.Accept(context.Background(), s.D, autonomous.Request{SiteID: "site-a", MachineID: "M4", ProcessName: "TD", EventType: "process_crash"}); !res.Accepted {
		t.Errorf("after the reclaim: %+v", res)
	}
	// A late trigger for an abandoned job does nothing.
	if j, err := autonomous.Claim(context.Background(), s.D, never); j != nil || err != nil {
		t.Errorf("claimed an abandoned job: %v %v", j, err)
	}
}

func contains(v any, sub string) bool {
	s, _ := v.(string)
	return strings.Contains(s, sub)
}

// Escalations flagged by machines' local Cortex, across sites: one e-mail
// job each (recipients per api.md §1.14), each event marked processed once,
// however often the sweep runs (the schedule, E55, E56).
func TestScheduleSendsEscalations(t *testing.T) {
	s := stack(t)
	s.D.Config.AdminEmail = "ops@example.test"
	s.Set(t, "sites/site-a/machines/WS-01", map[string]any{"machine_timezone": "W. Europe Standard Time"})
	long := make([]byte, 3000)
	for i := range long {
		long[i] = 'x'
	}
	s.Set(t, "sites/site-a/cortex-events/auto_1_WS-01", map[string]any{"machineId": "WS-01", "machineName": "WS-01", "processName": "TouchDesigner",
		"status": "escalated", "summary": string(long), "source": "local", "escalationPending": true})
	s.Env.Site("site-c", "") // nobody assigned, no owner
	s.Set(t, "sites/site-c/cortex-events/auto_2_KIOSK", map[string]any{"machineId": "KIOSK", "status": "escalated", "escalationPending": true})
	s.Set(t, "sites/site-a/cortex-events/auto_0_done", map[string]any{"machineId": "WS-01", "escalationPending": false, "escalationSent": true})

	got := sweep(t, s)
	if got["processed"] != float64(2) || got["errors"] != float64(0) {
		t.Fatalf("sweep %v", got)
	}
	a := s.Doc(notify.Collection + "/" + autonomous.EscalationKey("site-a", "auto_1_WS-01"))
	email, _ := a["email"].(map[string]any)
	params, _ := a["params"].(map[string]any)
	if email["subject"] != "cortex escalation: TouchDesigner on WS-01" || len([]rune(params["summary"].(string))) != autonomous.SummaryMax ||
		params["machineTimezone"] != "W. Europe Standard Time" || params["siteName"] != "Site site-a" || a["origin"] != "https://dev.owlette.app" ||
		len(email["recipients"].([]any)) != 2 {
		t.Errorf("site-a job %v", a)
	}
	// site-c has nobody: the admin address; unknown names read "Unknown".
	b := s.Doc(notify.Collection + "/" + autonomous.EscalationKey("site-c", "auto_2_KIOSK"))
	be, _ := b["email"].(map[string]any)
	rs, _ := be["recipients"].([]any)
	if be["subject"] != "cortex escalation: Unknown on KIOSK" || len(rs) != 1 || rs[0].(map[string]any)["uid"] != notify.AdminUID ||
		b["params"].(map[string]any)["summary"] != autonomous.DefaultSummary {
		t.Errorf("site-b job %v", b)
	}
	for _, p := range []string{"sites/site-a/cortex-events/auto_1_WS-01", "sites/site-c/cortex-events/auto_2_KIOSK"} {
		if ev := s.Doc(p); ev["escalationPending"] != false || ev["escalationSent"] != true || ev["escalationProcessedAt"] == nil {
			t.Errorf("%s: %v", p, ev)
		}
	}
	if ev := s.Doc("sites/site-a/cortex-events/auto_0_done"); ev["escalationProcessedAt"] != nil {
		t.Errorf("a processed event was touched: %v", ev)
	}
	// Again, through E55: nothing left.
	r := s.Do("POST", "/api/cortex/escalation", apptest.NoCred, nil, map[string]string{"X-Cortex-Secret": s.D.Config.CortexSecret})
	if r.StatusCode != 200 || r.JSON["processed"] != float64(0) || s.Count(notify.Collection) != 2 {
		t.Errorf("E55 after the sweep: %s, %d jobs", r.Raw, s.Count(notify.Collection))
	}
}

// Without anyone to e-mail (no users, no admin address) an escalation is
// still marked processed, with escalationSent false: it does not stay
// pending forever.
func TestScheduleEscalationWithoutRecipients(t *testing.T) {
	s := stack(t)
	s.Env.Site("site-c", "")
	s.Set(t, "sites/site-c/cortex-events/e1", map[string]any{"machineId": "M", "escalationPending": true})
	if got := sweep(t, s); got["processed"] != float64(0) || got["errors"] != float64(0) {
		t.Fatalf("sweep %v", got)
	}
	if ev := s.Doc("sites/site-c/cortex-events/e1"); ev["escalationPending"] != false || ev["escalationSent"] != false {
		t.Errorf("event %v", ev)
	}
	if s.Count(notify.Collection) != 0 {
		t.Error("a job without recipients was queued")
	}
}
