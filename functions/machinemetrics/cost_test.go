package machinemetrics

import (
	"testing"
	"time"

	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/fleetwatch/fleetwatchtest"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/trigger"
)

// TestPathCosts runs each path of the trigger on events shaped like the
// agent's writes and measures what it costs (the per-invocation figures of
// docs/cost-model.md). Handlers h1…h4 are separate function instances.
func TestPathCosts(t *testing.T) {
	v := newEnv(t)
	// Keep the test's minutes inside one UTC day.
	if now := v.e.Clock.Now().UTC(); now.Hour() == 23 {
		v.e.Clock.Advance(2 * time.Hour)
	}
	t0 := v.e.Clock.Now().Truncate(time.Second)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	m1 := func(s int, disk float64) map[string]any { return upload("site-a", "m1", at(s), metrics(20, disk)) }
	clock := func(s int) {
		if d := at(s).Sub(v.e.Clock.Now()); d > 0 {
			v.e.Clock.Advance(d)
		}
	}
	h1, h2, h3, h4 := v.h, NewHandler(), NewHandler(), NewHandler()
	marked := func(doc map[string]any, marker time.Time) map[string]any {
		return with(doc, "health", map[string]any{"status": "ok", "lastCronAlertAt": marker})
	}
	m2before := marked(upload("site-a", "m2", at(100), metrics(20, 10)), at(300))
	m2after := marked(upload("site-a", "m2", at(600), metrics(20, 10)), at(300))
	diskRule := map[string]any{"id": "disk", "name": "Disk full", "metric": "disk_percent", "operator": ">", "value": int64(40),
		"severity": "critical", "channels": []any{"email", "webhook"}, "enabled": true, "cooldownMinutes": int64(5)}

	type step struct {
		name  string
		at    int
		setup func()
		h     *Handler
		ev    *trigger.Event
		want  fleetwatchtest.Ops
	}
	steps := []step{
		{name: "machine deleted", h: h1, ev: event("site-a", "m1", m1(0, 43.2), nil)},
		{name: "flag write (whole-document replace, no metrics)", h: h1, ev: event("site-a", "m1", m1(0, 43.2), map[string]any{"rebooting": true})},
		{name: "dashboard write (metrics.timestamp unchanged)", h: h1, ev: event("site-a", "m1", m1(0, 43.2), with(m1(0, 43.2), "configChangeFlag", true))},
		{name: "first upload of a new machine, cold instance: bucket + rules read, sample", h: h1, ev: event("site-a", "m1", nil, m1(0, 43.2)),
			want: fleetwatchtest.Ops{RPCReads: 2, Reads: 2, RPCWrites: 1, Writes: 1}},
		{name: "upload 30 s later, same instance: skip", at: 30, h: h1, ev: event("site-a", "m1", m1(0, 43.2), m1(30, 43.2))},
		{name: "upload 60 s after the sample, same instance: sample", at: 60, h: h1, ev: event("site-a", "m1", m1(30, 43.2), m1(60, 43.2)),
			want: fleetwatchtest.Ops{RPCWrites: 1, Writes: 1}},
		{name: "upload 30 s later, another instance: bucket read, skip", at: 90, h: h2, ev: event("site-a", "m1", m1(60, 43.2), m1(90, 43.2)),
			want: fleetwatchtest.Ops{RPCReads: 1, Reads: 1}},
		{name: "idle agent, 120 s gap, cold instance: sample without a bucket read (+ rules)", at: 210, h: h3, ev: event("site-a", "m1", m1(90, 43.2), m1(210, 43.2)),
			want: fleetwatchtest.Ops{RPCReads: 1, Reads: 1, RPCWrites: 1, Writes: 1}},
		{name: "rules expired, disk > 40 breached: rules, cooldown, site, users, webhook count, owner; sample, cooldown, job", at: 400,
			setup: func() { v.rules(diskRule) }, h: h1, ev: event("site-a", "m1", m1(210, 43.2), m1(400, 43.2)),
			want: fleetwatchtest.Ops{RPCReads: 6, Reads: 6, RPCWrites: 2, Writes: 3}},
		{name: "sustained breach, cooldown known to the instance", at: 460, h: h1, ev: event("site-a", "m1", m1(400, 43.2), m1(460, 43.2)),
			want: fleetwatchtest.Ops{RPCWrites: 1, Writes: 1}},
		{name: "sustained breach, cold instance: rules + cooldown read", at: 520, h: h4, ev: event("site-a", "m1", m1(460, 43.2), m1(520, 43.2)),
			want: fleetwatchtest.Ops{RPCReads: 2, Reads: 2, RPCWrites: 1, Writes: 1}},
		{name: "comeback of an alerted machine: webhook count, site; job, machine_health, marker (+ sample)", at: 600,
			setup: func() { v.set("sites/site-a/machines/m2", m2after) }, h: h1, ev: event("site-a", "m2", m2before, m2after),
			want: fleetwatchtest.Ops{RPCReads: 2, Reads: 2, RPCWrites: 2, Writes: 4}},
		{name: "the notice's own write (marker removed)", at: 600, h: h1, ev: event("site-a", "m2", m2after, upload("site-a", "m2", at(600), metrics(20, 10)))},
	}
	for _, s := range steps {
		clock(s.at)
		if s.setup != nil {
			s.setup()
		}
		got := v.handle(s.h, s.ev)
		t.Logf("%-112s reads %d (RPCs %d)  writes %d (RPCs %d)", s.name, got.Reads, got.RPCReads, got.Writes, got.RPCWrites)
		if got != s.want {
			t.Errorf("%s: %+v, want %+v", s.name, got, s.want)
		}
	}

	var times []int64
	for _, s := range v.samples("site-a", "m1") {
		times = append(times, s["t"].(int64)-t0.Unix())
	}
	if want := []int64{0, 60, 210, 400, 460, 520}; !equalInts(times, want) {
		t.Errorf("sample times %v, want %v", times, want)
	}
	if n := len(v.samples("site-a", "m2")); n != 1 {
		t.Errorf("m2: %d samples", n)
	}
	alerts := v.jobs(notify.KindThresholdAlert)
	if len(alerts) != 1 {
		t.Fatalf("%d threshold jobs, want 1", len(alerts))
	}
	if mail := alerts[0]["email"].(map[string]any); mail["subject"] != "[CRITICAL] Disk full — m1" || len(mail["recipients"].([]any)) != 2 {
		t.Errorf("threshold e-mail %v", mail)
	}
	hook := alerts[0]["webhook"].(map[string]any)
	if a := hook["data"].(map[string]any)["alert"].(map[string]any); a["metric"] != "disk_percent" || a["value"] != 43.2 || a["threshold"] != int64(40) ||
		a["operator"] != ">" || a["severity"] != "critical" || a["ruleName"] != "Disk full" || hook["event"] != notify.EventThresholdBreached {
		t.Errorf("threshold webhook %v", hook)
	}
	if p := alerts[0]["params"].(map[string]any); p["machineTimezone"] != "Pacific Standard Time" || p["siteName"] != "Site site-a" {
		t.Errorf("params %v", p)
	}
	if cd := v.e.Doc("sites/site-a/alert_cooldowns/disk_m1"); cd["lastTriggered"] != at(400).Unix() {
		t.Errorf("cooldown %v, want lastTriggered %d", cd, at(400).Unix())
	}
	if online := v.jobs(notify.KindMachineState); len(online) != 1 || online[0]["webhook"].(map[string]any)["event"] != notify.EventMachineOnline {
		t.Errorf("online jobs %v", online)
	}
	if mk := fleetwatch.Marker(v.e.Doc("sites/site-a/machines/m2")); !mk.IsZero() {
		t.Error("m2's marker was not removed")
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
