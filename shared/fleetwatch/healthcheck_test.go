package fleetwatch_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
)

// TestHealthCheck walks one fleet through alerts, cooldowns and a rewrite
// that wipes the machine's marker.
func TestHealthCheck(t *testing.T) {
	f := newFixture(t)
	e := f.e
	f.machine("site-a", "fresh", true, time.Minute)
	f.machine("site-a", "stale1", true, 10*time.Minute)
	f.machine("site-a", "stale2", true, 4*time.Minute)
	f.machine("site-a", "stopped", false, time.Hour) // clean stop: online false
	f.machine("site-a", "edge", true, 3*time.Minute) // exactly 3 min: not older
	f.machine("site-b", "dead", true, 20*time.Minute)
	// Another "machines" collection in the collection group: not a machine.
	f.set("config/site-a/machines/ghost", map[string]any{"online": true, "lastHeartbeat": e.Clock.Now().Add(-time.Hour), "processes": []any{}}, false)
	hbStale1 := e.Doc("sites/site-a/machines/stale1")["lastHeartbeat"].(time.Time)
	first := e.Clock.Now()

	got := f.run()
	want := map[string]any{"ok": true, "sitesChecked": float64(2), "machinesChecked": float64(3), "offlineMachines": float64(3),
		"alertsSent": float64(2), "webhooksQueued": float64(3)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("first run = %v, want %v", got, want)
	}
	mails := f.jobs(notify.KindMachinesOffline, "")
	if len(mails) != 1 {
		t.Fatalf("%d e-mail jobs, want 1 (site-b has no recipients)", len(mails))
	}
	m := mails[0]
	email := m["email"].(map[string]any)
	if m["siteId"] != "site-a" || email["subject"] != "2 machine(s) offline in site-a" || email["template"] != notify.TemplateMachinesOffline ||
		email["preference"] != notify.PrefHealthAlerts || email["status"] != notify.StatusPending || m["webhook"] != nil {
		t.Errorf("e-mail job %v", m)
	}
	if got, want := recipientUIDs(m), sorted(f.member.UID, f.owner.UID); !reflect.DeepEqual(got, want) {
		t.Errorf("recipients %v, want %v (the unsubscribed member is left out)", got, want)
	}
	params := m["params"].(map[string]any)
	list := params["machines"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["id"] != "stale1" || !list[0].(map[string]any)["lastHeartbeat"].(time.Time).Equal(hbStale1) ||
		list[1].(map[string]any)["id"] != "stale2" || params["siteName"] != "Site site-a" || params["machineTimezone"] != "Pacific Standard Time" ||
		!params["checkedAt"].(time.Time).Equal(first) {
		t.Errorf("params %v", params)
	}
	hooks := f.jobs(notify.KindMachineState, notify.EventMachineOffline)
	if got := machinesOf(hooks, "site-a"); !reflect.DeepEqual(got, []string{"stale1", "stale2"}) {
		t.Errorf("site-a webhooks for %v", got)
	}
	if got := machinesOf(hooks, "site-b"); !reflect.DeepEqual(got, []string{"dead"}) {
		t.Errorf("site-b webhooks for %v (webhooks do not depend on e-mail)", got)
	}
	for _, h := range hooks {
		if h["siteId"] != "site-a" || h["webhook"].(map[string]any)["data"].(map[string]any)["machine"].(map[string]any)["id"] != "stale1" {
			continue
		}
		wantHook := map[string]any{"event": "machine.offline", "status": "pending", "site": map[string]any{"id": "site-a", "name": "Site site-a"},
			"data": map[string]any{"machine": map[string]any{"id": "stale1", "name": "stale1", "lastSeen": store.ISO(hbStale1)}}}
		if w := h["webhook"].(map[string]any); !reflect.DeepEqual(w, wantHook) {
			t.Errorf("webhook part\n got %v\nwant %v", w, wantHook)
		}
		if h["email"] != nil {
			t.Errorf("webhook job with an e-mail part")
		}
	}
	// The cooldown lives in machine_health; the marker on the machine is
	// the same commit's time.
	st := e.Doc("sites/site-a/machine_health/stale1")
	marker := fleetwatch.Marker(e.Doc("sites/site-a/machines/stale1"))
	if !st["lastAlertAt"].(time.Time).Equal(first) || st["onlineOwed"] != true || !st["lastSeen"].(time.Time).Equal(hbStale1) ||
		marker.IsZero() || !st["alertMarker"].(time.Time).Equal(marker) || st["siteId"] != "site-a" || st["machineId"] != "stale1" {
		t.Errorf("machine_health %v, marker %v", st, marker)
	}
	for _, id := range []string{"fresh", "stopped", "edge"} {
		if e.Doc("sites/site-a/machine_health/"+id) != nil {
			t.Errorf("%s alerted", id)
		}
	}

	// Five minutes on, still down: nothing new (the markers say so, so the
	// run reads nothing but the query).
	e.Clock.Advance(5 * time.Minute)
	f.heartbeat("site-a", "fresh")
	f.heartbeat("site-a", "edge")
	e.RPCs.Reset()
	got = f.run()
	if got["machinesChecked"] != float64(3) || got["offlineMachines"] != nil || got["alertsSent"] != float64(0) {
		t.Errorf("second run = %v", got)
	}
	if r, w := e.RPCs.Reads(), e.RPCs.Writes(); r != 1 || w != 0 {
		t.Errorf("second run: %d read and %d write RPCs, want 1 and 0", r, w)
	}

	// The agent's whole-document rewrite drops the marker (the original
	// lost its cooldown there): machine_health still holds it.
	f.set("sites/site-a/machines/stale1", map[string]any{"online": true, "lastHeartbeat": hbStale1, "rebooting": false}, false)
	e.Clock.Advance(5 * time.Minute)
	f.heartbeat("site-a", "fresh")
	f.heartbeat("site-a", "edge")
	if got = f.run(); got["offlineMachines"] != nil {
		t.Errorf("wiped marker re-alerted: %v", got)
	}

	// An hour after the first alert, the three still-dead machines alert
	// again: one more e-mail and one more webhook each.
	e.Clock.Advance(51 * time.Minute)
	f.heartbeat("site-a", "fresh")
	f.heartbeat("site-a", "edge")
	got = f.run()
	if got["offlineMachines"] != float64(3) || got["alertsSent"] != float64(2) || got["webhooksQueued"] != float64(3) {
		t.Errorf("run after the cooldown = %v", got)
	}
	if n := len(f.jobs(notify.KindMachinesOffline, "")); n != 2 {
		t.Errorf("%d e-mail jobs after two cooldowns, want 2", n)
	}
	if n := len(f.jobs(notify.KindMachineState, notify.EventMachineOffline)); n != 6 {
		t.Errorf("%d webhook jobs after two cooldowns, want 6", n)
	}
}

// TestHealthCheckWithoutEmail: with e-mail not configured the webhooks
// still fire (§12.16) and nothing is read for recipients.
func TestHealthCheckWithoutEmail(t *testing.T) {
	f := newFixture(t)
	f.e.D.Config.ResendAPIKey = ""
	f.machine("site-a", "m1", true, 10*time.Minute)
	got := f.run()
	if got["offlineMachines"] != float64(1) || got["alertsSent"] != float64(0) || got["webhooksQueued"] != float64(1) {
		t.Errorf("run = %v", got)
	}
	if n := len(f.jobs(notify.KindMachinesOffline, "")); n != 0 {
		t.Errorf("%d e-mail jobs without e-mail", n)
	}
	if got := machinesOf(f.jobs(notify.KindMachineState, notify.EventMachineOffline), "site-a"); !reflect.DeepEqual(got, []string{"m1"}) {
		t.Errorf("webhooks for %v", got)
	}
}

// TestHealthCheckNoWebhooks: a site without subscribed webhooks gets no
// webhook job, and its cooldown still starts.
func TestHealthCheckNoWebhooks(t *testing.T) {
	f := newFixture(t)
	if _, err := f.e.FS.Doc("sites/site-b/webhooks/h2").Update(f.ctx, []firestore.Update{{Path: "enabled", Value: false}}); err != nil {
		t.Fatal(err)
	}
	f.machine("site-b", "m1", true, 10*time.Minute)
	if got := f.run(); got["offlineMachines"] != float64(1) || got["webhooksQueued"] != float64(0) || got["alertsSent"] != float64(0) {
		t.Errorf("run = %v", got)
	}
	if n := f.e.Count(notify.Collection); n != 0 {
		t.Errorf("%d jobs queued for a site with no recipients and no webhooks", n)
	}
	if st := f.e.Doc("sites/site-b/machine_health/m1"); st == nil || st["onlineOwed"] != true {
		t.Errorf("machine_health %v", st)
	}
}

// TestHealthCheckAuth: E63 is behind guard.Cron.
func TestHealthCheckAuth(t *testing.T) {
	f := newFixture(t)
	if r := f.e.Do("GET", checkPath, nil, nil, nil); r.StatusCode != 401 {
		t.Errorf("no secret: %d", r.StatusCode)
	}
	if r := f.e.Do("GET", checkPath, nil, nil, map[string]string{"X-Cron-Secret": "wrong"}); r.StatusCode != 401 {
		t.Errorf("wrong secret: %d", r.StatusCode)
	}
	if r := f.e.Do("GET", checkPath, nil, nil, map[string]string{"Authorization": "Bearer apptest-cron-secret"}); r.StatusCode != 200 ||
		!reflect.DeepEqual(r.JSON, map[string]any{"ok": true, "sitesChecked": float64(0), "machinesChecked": float64(0), "alertsSent": float64(0), "webhooksQueued": float64(0)}) {
		t.Errorf("bearer secret: %d %s", r.StatusCode, r.Raw)
	}
}

// TestHealthCheckSameMinute: E63 called by hand right after the scheduled
// run alerts a machine that went stale in between, in the same minute: its
// own e-mail, no collision with the first.
func TestHealthCheckSameMinute(t *testing.T) {
	f := newFixture(t)
	f.machine("site-a", "m1", true, 10*time.Minute)
	f.machine("site-a", "m2", true, time.Minute)
	if got := f.run(); got["offlineMachines"] != 1.0 {
		t.Fatalf("first run %v", got)
	}
	f.machine("site-a", "m2", true, 4*time.Minute)
	if got := f.run(); got["offlineMachines"] != 1.0 || got["alertsSent"] != 2.0 {
		t.Fatalf("second run %v", got)
	}
	mails := f.jobs(notify.KindMachinesOffline, "")
	if len(mails) != 2 {
		t.Fatalf("%d e-mail jobs, want 2", len(mails))
	}
	var about []string
	for _, m := range mails {
		for _, x := range m["params"].(map[string]any)["machines"].([]any) {
			about = append(about, x.(map[string]any)["id"].(string))
		}
	}
	if got := sorted(about...); !reflect.DeepEqual(got, []string{"m1", "m2"}) {
		t.Errorf("e-mails about %v, want one about m1 and one about m2", got)
	}
}

// TestHealthCheckMassOutage: a site losing more machines at once than one
// transaction takes gets them all alerted, in groups.
func TestHealthCheckMassOutage(t *testing.T) {
	f := newFixture(t)
	b := f.e.FS.Batch()
	const n = 160
	for i := range n {
		b.Set(f.e.FS.Doc(fmt.Sprintf("sites/site-a/machines/m%03d", i)), map[string]any{"online": true, "lastHeartbeat": f.e.Clock.Now().Add(-10 * time.Minute)})
	}
	if _, err := b.Commit(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.run(); got["offlineMachines"] != float64(n) || got["webhooksQueued"] != float64(n) || got["alertsSent"] != 4.0 {
		t.Fatalf("run %v", got)
	}
	mails := f.jobs(notify.KindMachinesOffline, "")
	total := 0
	for _, m := range mails {
		total += len(m["params"].(map[string]any)["machines"].([]any))
	}
	if len(mails) != 2 || total != n {
		t.Errorf("%d e-mails about %d machines, want 2 about %d", len(mails), total, n)
	}
	if got := f.run(); got["offlineMachines"] != nil {
		t.Errorf("second run %v", got)
	}
}
