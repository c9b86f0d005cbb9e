package machinemetrics

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/trigger/triggertest"
)

// agentWriter writes heartbeats as the agent does (§5.2: one :commit of
// masked updates through Firestore's REST API with the agent's own ID
// token, so the security rules apply), but timed by the test's clock
// instead of the server's, so 30 s heartbeats take no 30 s.
type agentWriter struct {
	fs            *sim.Firestore
	site, machine string
}

func newAgentWriter(v *env, site, machine string) *agentWriter {
	testenv.LoadRules(v.t, v.e.Project)
	tok := v.e.AgentToken(site, machine)
	return &agentWriter{site: site, machine: machine, fs: &sim.Firestore{
		Base: sim.DefaultFirestoreURL(), Project: v.e.Project, HTTP: http.DefaultClient,
		Token: func(context.Context) (string, error) { return tok, nil },
	}}
}

func (a *agentWriter) heartbeat(t testing.TB, at time.Time, m map[string]any) {
	t.Helper()
	ups := []sim.Update{
		{Path: sim.FieldPath{"online"}, Value: true},
		{Path: sim.FieldPath{"lastHeartbeat"}, Value: at},
		{Path: sim.FieldPath{"agent_version"}, Value: "2.6.0"},
		{Path: sim.FieldPath{"machine_timezone"}, Value: "Pacific Standard Time"},
		{Path: sim.FieldPath{"machineId"}, Value: a.machine},
		{Path: sim.FieldPath{"siteId"}, Value: a.site},
	}
	for _, k := range []string{"cpu", "memory", "disk", "gpu", "network"} {
		ups = append(ups, sim.Update{Path: sim.FieldPath{"metrics", k}, Value: m[k]})
	}
	ups = append(ups,
		sim.Update{Path: sim.FieldPath{"metrics.timestamp"}, Value: at},
		sim.Update{Path: sim.FieldPath{"metrics", "processes"}, Value: map[string]any{}},
	)
	path := "sites/" + a.site + "/machines/" + a.machine
	if err := a.fs.Commit(context.Background(), "heartbeat", a.fs.MergeWrite(path, ups)); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
}

// TestRealDelivery: an agent heartbeats every 30 s for 10 minutes (by the
// test's clock) through Firestore under the rules; the emulator delivers
// each change to the trigger. Samples are 60 s apart (every other
// heartbeat, never under 55 s), and a disk rule breached all along alerts
// once per 5-minute cooldown: at 0, 5 and 10 minutes.
func TestRealDelivery(t *testing.T) {
	v := newEnv(t)
	v.rules(
		map[string]any{"id": "disk", "name": "Disk full", "metric": "disk_percent", "operator": ">", "value": int64(40),
			"severity": "critical", "channels": []any{"email", "webhook"}, "enabled": true, "cooldownMinutes": int64(5)},
		map[string]any{"id": "cpu", "name": "CPU pegged", "metric": "cpu_percent", "operator": ">=", "value": int64(99),
			"severity": "warning", "channels": []any{"email"}, "enabled": true, "cooldownMinutes": int64(30)},
		map[string]any{"id": "off", "name": "Disabled", "metric": "disk_percent", "operator": ">", "value": int64(1),
			"severity": "info", "channels": []any{"email"}, "enabled": false, "cooldownMinutes": int64(1)},
	)
	srv := triggertest.Serve(t, v.d, Spec, v.h.Handle)
	agent := newAgentWriter(v, "site-a", "m1")
	t0 := v.e.Clock.Now().Truncate(time.Second)
	if t0.UTC().Hour() == 23 && t0.UTC().Minute() >= 45 {
		t0 = t0.Add(time.Hour) // keep the 10 minutes in one UTC day
	}
	v.e.Clock.Advance(t0.Sub(v.e.Clock.Now()))
	v.meter.Reset()
	const beats = 21
	for i := range beats {
		at := t0.Add(time.Duration(i) * 30 * time.Second)
		v.e.Clock.Advance(at.Sub(v.e.Clock.Now()))
		n := len(srv.Deliveries())
		agent.heartbeat(t, at, metrics(35+float64(i), 43.2))
		srv.Wait(t, 20*time.Second, "the heartbeat's delivery", func() bool { return len(srv.Deliveries()) > n })
		if d := srv.Deliveries()[n]; d.Err != nil || d.Trigger != Name || d.Document != "sites/site-a/machines/m1" {
			t.Fatalf("delivery %+v", d)
		}
	}
	ops := v.meter.Ops()
	t.Logf("%d heartbeats on one instance: %d reads, %d writes (%.2f reads, %.2f writes per heartbeat)",
		beats, ops.Reads, ops.Writes, float64(ops.Reads)/beats, float64(ops.Writes)/beats)

	samples := v.samples("site-a", "m1")
	var rel []int64
	for i, s := range samples {
		rel = append(rel, s["t"].(int64)-t0.Unix())
		if i > 0 && s["t"].(int64)-samples[i-1]["t"].(int64) < 55 {
			t.Errorf("samples %d and %d are %d s apart", i-1, i, s["t"].(int64)-samples[i-1]["t"].(int64))
		}
	}
	if want := []int64{0, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600}; !equalInts(rel, want) {
		t.Errorf("sample times %v, want %v", rel, want)
	}
	if s := samples[2]; s["c"] != 39.0 || s["d"] != 43.2 || s["g"] != 20.0 {
		t.Errorf("sample at 120 s: %v", s)
	}
	bucket := v.e.Doc("sites/site-a/machines/m1/" + History + "/" + Day(t0.Unix()))
	if meta := bucket["meta"].(map[string]any); meta["lastSampleTime"] != t0.Unix()+600 || meta["resolution"] != "1min" {
		t.Errorf("meta %v", meta)
	}

	alerts := v.jobs(notify.KindThresholdAlert)
	if len(alerts) != 3 {
		t.Fatalf("%d threshold jobs in 10 minutes with a 5-minute cooldown, want 3", len(alerts))
	}
	for i, a := range alerts {
		if a["params"].(map[string]any)["ruleName"] != "Disk full" || a["email"] == nil || a["webhook"] == nil {
			t.Errorf("alert %d: %v", i, a)
		}
	}
	if cd := v.e.Doc("sites/site-a/alert_cooldowns/disk_m1"); cd["lastTriggered"] != t0.Unix()+600 {
		t.Errorf("cooldown %v", cd)
	}
	if v.e.Doc("sites/site-a/alert_cooldowns/off_m1") != nil || v.e.Doc("sites/site-a/alert_cooldowns/cpu_m1") != nil {
		t.Error("a disabled or unbreached rule alerted")
	}
}
