package fleetwatch_test

import (
	"testing"
	"time"

	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
)

func TestComeback(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	marker := t0.Add(5 * time.Minute)
	doc := func(online any, hb time.Time, mk time.Time) map[string]any {
		d := map[string]any{"online": online}
		if !hb.IsZero() {
			d["lastHeartbeat"] = hb
		}
		if !mk.IsZero() {
			d["health"] = map[string]any{"status": "ok", "lastCronAlertAt": mk}
		}
		return d
	}
	stale := doc(true, t0, marker)
	for _, c := range []struct {
		name          string
		before, after map[string]any
		want          bool
	}{
		{"first heartbeat after the alert", stale, doc(true, marker.Add(time.Minute), marker), true},
		{"presence write after a restart (before had no heartbeat)", map[string]any{"rebooting": true}, doc(true, marker.Add(time.Minute), marker), true},
		{"created with a marker", nil, doc(true, marker.Add(time.Minute), marker), true},
		{"a later heartbeat while the marker is still there (retry)", doc(true, marker.Add(time.Minute), marker), doc(true, marker.Add(2*time.Minute), marker), true},
		{"the alert's own write: heartbeat older than the marker", doc(true, t0, time.Time{}), stale, false},
		{"not a heartbeat: heartbeat unchanged", doc(true, marker.Add(time.Minute), marker), doc(true, marker.Add(time.Minute), marker), false},
		{"no marker", doc(true, t0, time.Time{}), doc(true, marker, time.Time{}), false},
		{"clean stop after the alert (online false)", stale, doc(false, marker.Add(time.Minute), marker), false},
		{"marker older than the window (left by the original server)", doc(true, t0, t0), doc(true, t0.Add(fleetwatch.ComebackWindow+time.Second), t0), false},
		{"just within the window", doc(true, t0, t0), doc(true, t0.Add(fleetwatch.ComebackWindow), t0), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			mk, seen, ok := fleetwatch.Comeback(c.before, c.after)
			if ok != c.want {
				t.Fatalf("Comeback = %v, want %v", ok, c.want)
			}
			if ok && (!mk.Equal(fleetwatch.Marker(c.after)) || !seen.Equal(fleetwatch.Heartbeat(c.after))) {
				t.Errorf("marker %v seen %v", mk, seen)
			}
		})
	}
}

// TestOnlineNotice: the notice is queued once per outage, settles the
// machine's state and removes its marker; a site without machine.online
// webhooks gets no job but is settled all the same.
func TestOnlineNotice(t *testing.T) {
	f := newFixture(t)
	e := f.e
	f.machine("site-a", "m1", true, 10*time.Minute)
	f.machine("site-b", "m2", true, 10*time.Minute)
	f.run()
	f.heartbeat("site-a", "m1")
	m1 := e.Doc("sites/site-a/machines/m1")
	marker, seen := fleetwatch.Marker(m1), fleetwatch.Heartbeat(m1)
	now := e.Clock.Now()

	e.RPCs.Reset()
	queued, err := fleetwatch.OnlineNotice(f.ctx, e.FS, "site-a", "m1", marker, seen, now, "https://owlette.app")
	if err != nil || !queued {
		t.Fatalf("OnlineNotice = %v, %v", queued, err)
	}
	if r, w := e.RPCs.Reads(), e.RPCs.Writes(); r != 2 || w != 1 {
		t.Errorf("%d read and %d write RPCs, want 2 (webhook count, site) and 1", r, w)
	}
	jobs := f.jobs(notify.KindMachineState, notify.EventMachineOnline)
	if len(jobs) != 1 {
		t.Fatalf("%d online jobs", len(jobs))
	}
	w := jobs[0]["webhook"].(map[string]any)
	if jobs[0]["siteId"] != "site-a" || jobs[0]["status"] != notify.StatusPending || w["status"] != notify.StatusPending ||
		w["data"].(map[string]any)["machine"].(map[string]any)["lastSeen"] != store.ISO(seen) ||
		w["data"].(map[string]any)["machine"].(map[string]any)["id"] != "m1" || w["data"].(map[string]any)["machine"].(map[string]any)["name"] != "m1" {
		t.Errorf("online job %v", jobs[0])
	}
	if st := e.Doc("sites/site-a/machine_health/m1"); st["onlineOwed"] != false || !st["onlineAt"].(time.Time).Equal(now) || st["lastAlertAt"] == nil {
		t.Errorf("machine_health %v", st)
	}
	if mk := fleetwatch.Marker(e.Doc("sites/site-a/machines/m1")); !mk.IsZero() {
		t.Errorf("marker still there: %v", mk)
	}

	// The same outage again (a redelivered event): no second job.
	if queued, err := fleetwatch.OnlineNotice(f.ctx, e.FS, "site-a", "m1", marker, seen, now, "https://owlette.app"); err != nil || queued {
		t.Errorf("repeat: %v, %v", queued, err)
	}
	if n := len(f.jobs(notify.KindMachineState, notify.EventMachineOnline)); n != 1 {
		t.Errorf("%d online jobs after a repeat", n)
	}

	// site-b's webhook is not subscribed to machine.online.
	f.heartbeat("site-b", "m2")
	m2 := e.Doc("sites/site-b/machines/m2")
	e.RPCs.Reset()
	if queued, err := fleetwatch.OnlineNotice(f.ctx, e.FS, "site-b", "m2", fleetwatch.Marker(m2), fleetwatch.Heartbeat(m2), now, ""); err != nil || queued {
		t.Errorf("site-b: %v, %v", queued, err)
	}
	if r, w := e.RPCs.Reads(), e.RPCs.Writes(); r != 1 || w != 1 {
		t.Errorf("site-b: %d read and %d write RPCs, want 1 and 1", r, w)
	}
	if st := e.Doc("sites/site-b/machine_health/m2"); st["onlineOwed"] != false {
		t.Errorf("site-b machine_health %v", st)
	}
	if n := len(f.jobs(notify.KindMachineState, notify.EventMachineOnline)); n != 1 {
		t.Errorf("%d online jobs", n)
	}

	// A machine deleted meanwhile: settled without touching it.
	if _, err := e.FS.Doc("sites/site-a/machines/m1").Delete(f.ctx); err != nil {
		t.Fatal(err)
	}
	later := marker.Add(time.Hour)
	if _, err := fleetwatch.OnlineNotice(f.ctx, e.FS, "site-a", "m1", later, later.Add(time.Minute), now, ""); err != nil {
		t.Errorf("deleted machine: %v", err)
	}
	if e.Doc("sites/site-a/machines/m1") != nil {
		t.Error("the deleted machine document was recreated")
	}
}
