package cortex_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/owlette/server/scripts/agentsim/autonomoustest"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/autonomous"
)

func (f e53) post(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	r := f.s.Do("POST", "/api/cortex/autonomous", apptest.NoCred, body, map[string]string{"X-Cortex-Secret": f.s.D.Config.CortexSecret})
	if r.StatusCode != 200 {
		t.Fatalf("E53: %d %s", r.StatusCode, r.Raw)
	}
	return r.JSON
}

type e53 struct{ s *autonomoustest.Stack }

func alert(machine, process string) map[string]any {
	return map[string]any{"siteId": "site-a", "machineId": machine, "processName": process, "eventType": "process_crash", "errorMessage": "exit code 1", "agentVersion": "2.6.0"}
}

// E53's gates in order, and what an accepted request writes: the event
// (investigating), the job the trigger fires on, the slot it holds.
func TestAutonomousGates(t *testing.T) {
	s := newStack(t)
	f := e53{s}
	if got := f.post(t, alert("M1", "TD")); got["accepted"] != false || got["reason"] != "autonomous_disabled" {
		t.Fatalf("disabled: %v", got)
	}
	s.Set(t, "sites/site-a/settings/cortex", map[string]any{"autonomousEnabled": true, "cooldownMinutes": 1})

	now := s.Clock.Now()
	s.RPCs.Reset()
	got := f.post(t, alert("M1", "TD"))
	// Reads (settings; cooldown and lock, again in the transaction with the
	// id check), one commit of the three writes.
	if rpc := s.RPCs.Snapshot(); s.RPCs.Writes() != 1 || s.RPCs.Reads() > 6 {
		t.Errorf("accepting cost %v", rpc)
	} else {
		t.Logf("E53 accepted: %v", rpc)
	}
	eventID, _ := got["eventId"].(string)
	chatID, _ := got["chatId"].(string)
	if got["accepted"] != true || eventID != fmt.Sprintf("evt_%d_M1", now.UnixMilli()) || chatID != fmt.Sprintf("auto_%d_M1", now.UnixMilli()) || got["reason"] != nil {
		t.Fatalf("accepted: %v", got)
	}
	ev := s.Doc("sites/site-a/cortex-events/" + eventID)
	if ev["machineName"] != "M1" || ev["status"] != "investigating" || ev["summary"] != "" || ev["chatId"] != chatID ||
		ev["errorMessage"] != "exit code 1" || ev["processName"] != "TD" || !ev["timestamp"].(time.Time).Equal(now) || len(ev["actions"].([]any)) != 0 {
		t.Errorf("event %v", ev)
	}
	job := s.Doc("cortex_jobs/" + eventID)
	if job["status"] != "pending" || job["siteId"] != "site-a" || job["chatId"] != chatID || job["agentVersion"] != "2.6.0" || job["slotHeldAt"] == nil {
		t.Errorf("job %v", job)
	}
	lock := s.Doc("sites/site-a/cortex-state/lock")
	if lock["activeSessions"] != int64(1) || lock["holders"].(map[string]any)[eventID] == nil {
		t.Errorf("lock %v", lock)
	}

	s.RPCs.Reset()
	if got := f.post(t, alert("M1", "TD")); got["reason"] != "cooldown_active" {
		t.Errorf("same machine and process within the cooldown: %v", got)
	}
	if s.RPCs.Writes() != 0 || s.RPCs.Snapshot()["BeginTransaction"] != 0 {
		t.Errorf("a refusal wrote or locked: %v", s.RPCs.Snapshot())
	}
	second := f.post(t, alert("M1", "Signage")) // another process: no cooldown
	s.Clock.Advance(61 * time.Second)
	third := f.post(t, alert("M1", "TD")) // cooldown of 1 minute passed
	if second["accepted"] != true || third["accepted"] != true {
		t.Fatalf("second %v third %v", second, third)
	}
	if got := f.post(t, alert("M2", "TD")); got["reason"] != "concurrency_limit" {
		t.Errorf("fourth concurrent investigation: %v", got)
	}
	if n := s.Count("sites/site-a/cortex-events"); n != 3 {
		t.Errorf("%d events", n)
	}
	// Slots of investigations that died (held past ReclaimAfter) do not
	// count: the next request drops them.
	s.Clock.Advance(autonomous.ReclaimAfter + time.Second)
	if got := f.post(t, alert("M2", "TD")); got["accepted"] != true {
		t.Errorf("after the dead slots: %v", got)
	}
	if lock := s.Doc("sites/site-a/cortex-state/lock"); lock["activeSessions"] != int64(1) || len(lock["holders"].(map[string]any)) != 1 {
		t.Errorf("lock %v", lock)
	}
}

// Concurrent requests cannot take more than three slots, nor both pass
// one cooldown: the gates and the writes are one transaction on the lock.
func TestAutonomousConcurrentRequests(t *testing.T) {
	s := newStack(t)
	f := e53{s}
	s.Set(t, "sites/site-a/settings/cortex", map[string]any{"autonomousEnabled": true})
	var mu sync.Mutex
	reasons := map[string]int{}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			m := fmt.Sprintf("M%d", i%5) // M0 twice: one of the pair is a cooldown (or over the limit)
			got := f.post(t, alert(m, "TD"))
			mu.Lock()
			defer mu.Unlock()
			if got["accepted"] == true {
				reasons["accepted"]++
			} else {
				reasons[got["reason"].(string)]++
			}
		})
	}
	wg.Wait()
	if reasons["accepted"] != 3 || reasons["accepted"]+reasons["cooldown_active"]+reasons["concurrency_limit"] != 6 {
		t.Errorf("outcomes %v", reasons)
	}
	lock := s.Doc("sites/site-a/cortex-state/lock")
	if lock["activeSessions"] != int64(3) || len(lock["holders"].(map[string]any)) != 3 || s.Count("sites/site-a/cortex-events") != 3 || s.Count("cortex_jobs") != 3 {
		t.Errorf("lock %v, %d events", lock, s.Count("sites/site-a/cortex-events"))
	}
}

// A lock written by the server we replace (a count, no holders): its slots
// count while the lock is fresh, and expire once it has been untouched for
// ReclaimAfter (the original leaked slots, api.md §5.19).
func TestAutonomousLegacyLock(t *testing.T) {
	s := newStack(t)
	f := e53{s}
	s.Set(t, "sites/site-a/settings/cortex", map[string]any{"autonomousEnabled": true})
	s.Set(t, "sites/site-a/cortex-state/lock", map[string]any{"activeSessions": 3, "lastUpdated": s.Clock.Now()})
	if got := f.post(t, alert("M1", "TD")); got["reason"] != "concurrency_limit" {
		t.Fatalf("fresh legacy lock: %v", got)
	}
	s.Clock.Advance(autonomous.ReclaimAfter + time.Second)
	if got := f.post(t, alert("M1", "TD")); got["accepted"] != true {
		t.Fatalf("stale legacy lock: %v", got)
	}
	if lock := s.Doc("sites/site-a/cortex-state/lock"); lock["activeSessions"] != int64(1) {
		t.Errorf("lock %v", lock)
	}
}

// The ids keep the original format, with the machine id's unsafe
// characters removed, and two investigations in one millisecond on one
// machine still get distinct ids.
func TestAutonomousIDs(t *testing.T) {
	s := newStack(t)
	f := e53{s}
	s.Set(t, "sites/site-a/settings/cortex", map[string]any{"autonomousEnabled": true})
	a := f.post(t, alert("WS.01 (lobby)", "TD"))
	b := f.post(t, alert("WS.01 (lobby)", "Other"))
	re := regexp.MustCompile(`^evt_\d{13}_WS01lobby$`)
	if !re.MatchString(a["eventId"].(string)) || !re.MatchString(b["eventId"].(string)) || a["eventId"] == b["eventId"] {
		t.Errorf("ids %v %v", a, b)
	}
	raw, _ := json.Marshal(b)
	if a["chatId"] == b["chatId"] {
		t.Errorf("chat ids collide: %s", raw)
	}
	if ev := s.Doc("sites/site-a/cortex-events/" + a["eventId"].(string)); ev["machineId"] != "WS.01 (lobby)" {
		t.Errorf("event %v", ev)
	}
}
