package machinemetrics

import (
	"reflect"
	"testing"
	"time"

	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/trigger"
)

func TestSample(t *testing.T) {
	full := map[string]any{
		"cpu":    map[string]any{"name": "i7", "percent": 12.25, "unit": "%", "temperature": 55.04},
		"memory": map[string]any{"used_gb": 12.8, "total_gb": 32.0, "percent": int64(40), "unit": "GB"},
		"disk":   map[string]any{"used_gb": 412.3, "total_gb": 953.9, "percent": 43.249, "unit": "GB"},
		"gpu":    map[string]any{"name": "RTX 4080", "usage_percent": 99.95, "temperature": 61.0},
		"network": map[string]any{
			"interfaces": map[string]any{
				"Wi-Fi":    map[string]any{"tx_bps": int64(0), "rx_bps": int64(0), "tx_util": 0.0, "rx_util": 0.0},
				"Ethernet": map[string]any{"tx_bps": 1234.5, "rx_bps": int64(98765), "tx_util": 0.01234, "rx_util": 0.98765, "link_speed": int64(1000)},
			},
			"gateway_ip": "192.168.1.1", "latency_ms": 2.35, "packet_loss_pct": 0.0,
		},
	}
	want := map[string]any{
		"t": int64(1700000000), "c": 12.3, "m": 40.0, "d": 43.2, "g": 100.0, "ct": 55.0, "gt": 61.0, "nl": 2.4, "np": 0.0,
		"n": []any{map[string]any{"i": "Ethernet", "tx": int64(1235), "rx": int64(98765), "tu": 0.0, "ru": 1.0}},
	}
	if got := Sample(full, 1700000000); !reflect.DeepEqual(got, want) {
		t.Errorf("full sample\n got %v\nwant %v", got, want)
	}

	// A machine without GPU, temperatures or network figures, and a
	// metrics map missing disk: only t, c, m, d and an empty n.
	bare := map[string]any{
		"cpu":     map[string]any{"percent": 0.05},
		"memory":  map[string]any{"percent": 99.94},
		"gpu":     map[string]any{"name": "N/A", "usage_percent": 0.0},
		"network": map[string]any{"interfaces": map[string]any{}, "latency_ms": nil, "packet_loss_pct": nil},
	}
	if got, want := Sample(bare, 5), map[string]any{"t": int64(5), "c": 0.1, "m": 99.9, "d": 0.0, "n": []any{}}; !reflect.DeepEqual(got, want) {
		t.Errorf("bare sample\n got %v\nwant %v", got, want)
	}
}

func TestRound(t *testing.T) {
	// JavaScript's Math.round: halves go up, also below zero.
	for in, want := range map[float64]float64{0.25: 0.3, 0.35: 0.4, -0.25: -0.2, 1.04: 1.0, 99.95: 100.0, -3.05: -3.0} {
		if got := round1(in); got != want {
			t.Errorf("round1(%v) = %v, want %v", in, got, want)
		}
	}
	if roundInt(2.5) != 3 || roundInt(-2.5) != -2 || roundInt(7) != 7 {
		t.Error("roundInt")
	}
}

func TestMetricsTime(t *testing.T) {
	a, b, c := time.Unix(100, 0), time.Unix(200, 0), time.Unix(300, 0)
	for _, tc := range []struct {
		doc  map[string]any
		want time.Time
	}{
		{map[string]any{"metrics.timestamp": a, "metrics": map[string]any{"timestamp": b}, "lastHeartbeat": c}, a},
		{map[string]any{"metrics": map[string]any{"timestamp": b}, "lastHeartbeat": c}, b},
		{map[string]any{"lastHeartbeat": c}, c},
		{map[string]any{"lastHeartbeat": int64(300000)}, c}, // epoch ms
		{map[string]any{"rebooting": true}, time.Time{}},
		{nil, time.Time{}},
	} {
		if got := MetricsTime(tc.doc); !got.Equal(tc.want) {
			t.Errorf("MetricsTime(%v) = %v, want %v", tc.doc, got, tc.want)
		}
	}
	if Day(1700000000) != "2023-11-14" || Day(1699999199) != "2023-11-14" || Day(1699919999) != "2023-11-13" {
		t.Error("Day")
	}
}

func TestParseRules(t *testing.T) {
	doc := map[string]any{"rules": []any{
		map[string]any{"id": "r1", "name": "CPU hot", "metric": "cpu_percent", "operator": ">", "value": int64(90), "severity": "critical",
			"channels": []any{"email", "webhook", "sms"}, "enabled": true, "cooldownMinutes": int64(30)},
		map[string]any{"id": "r2", "metric": "gpu_temp", "operator": ">=", "value": "80", "channels": []any{"webhook"}, "enabled": true},
		map[string]any{"id": "off", "metric": "cpu_percent", "operator": ">", "value": 1.0, "enabled": false},
		map[string]any{"id": "nometric", "operator": ">", "value": 1.0, "enabled": true},
		map[string]any{"metric": "cpu_percent", "operator": ">", "value": 1.0, "enabled": true},
		map[string]any{"id": "unknown", "metric": "fan_speed", "operator": ">", "value": 1.0, "enabled": true},
		map[string]any{"id": "badvalue", "metric": "cpu_percent", "operator": ">", "value": "lots", "enabled": true},
		"not a rule",
	}}
	got := ParseRules(doc)
	want := []Rule{
		{ID: "r1", Name: "CPU hot", Metric: "cpu_percent", Operator: ">", Severity: "critical", Value: 90, Threshold: int64(90), Email: true, Webhook: true, CooldownSeconds: 1800},
		{ID: "r2", Name: "r2", Metric: "gpu_temp", Operator: ">=", Severity: "warning", Value: 80, Threshold: "80", Webhook: true, CooldownSeconds: 60},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseRules\n got %+v\nwant %+v", got, want)
	}
	if ParseRules(nil) != nil || ParseRules(map[string]any{"rules": "x"}) != nil {
		t.Error("no rules")
	}
}

func TestBreached(t *testing.T) {
	metrics := map[string]any{
		"cpu":     map[string]any{"percent": 91.0, "temperature": "hot"},
		"gpu":     map[string]any{"usage_percent": int64(80), "temperature": 79.9},
		"network": map[string]any{"latency_ms": nil, "packet_loss_pct": 2.5},
	}
	for _, c := range []struct {
		metric, op string
		value      float64
		measured   bool
		want       bool
	}{
		{"cpu_percent", ">", 90, true, true},
		{"cpu_percent", "<", 90, true, false},
		{"gpu_percent", ">=", 80, true, true},
		{"gpu_percent", ">", 80, true, false},
		{"gpu_temp", "<=", 79.9, true, true},
		{"network_packet_loss", ">", 1, true, true},
		{"network_latency", ">", 1, false, false}, // null: skipped
		{"cpu_temp", ">", 1, false, false},        // not a number
		{"memory_percent", ">", 1, false, false},  // missing
		{"cpu_percent", "==", 91, true, false},    // unknown operator
	} {
		r := Rule{Metric: c.metric, Operator: c.op, Value: c.value}
		_, v, ok := r.Measure(metrics)
		if ok != c.measured || (ok && r.Breached(v) != c.want) {
			t.Errorf("%s %s %v: measured %v (%v), breached %v", c.metric, c.op, c.value, ok, v, ok && r.Breached(v))
		}
	}
}

// TestPlan: what an instance decides without Firestore.
func TestPlan(t *testing.T) {
	st := func(hb, lo, hi int64) machineState { return machineState{hb: hb, lo: lo, hi: hi} }
	for _, c := range []struct {
		name    string
		st      machineState
		known   bool
		prev, t int64
		want    verdict
		after   machineState
	}{
		{"cold, previous upload unknown", st(0, 0, 0), false, 0, 1000, readFirst, st(0, 0, 0)},
		{"cold, previous upload 30 s back", st(0, 0, 0), false, 970, 1000, readFirst, st(0, 0, 0)},
		{"cold, previous upload 55 s back: no sample can be nearer", st(0, 0, 0), false, 945, 1000, sampleNow, st(0, 0, 0)},
		{"cold, previous upload 120 s back (idle agent)", st(0, 0, 0), false, 880, 1000, sampleNow, st(0, 0, 0)},
		{"handled the previous upload, sample 30 s back", st(970, 970, 970), true, 970, 1000, skip, st(1000, 970, 970)},
		{"handled the previous upload, sample 60 s back", st(970, 940, 940), true, 970, 1000, sampleNow, st(0, 0, 0)},
		{"handled the previous upload, which had no sample before it", st(970, 0, 0), true, 970, 1000, sampleNow, st(0, 0, 0)},
		{"others handled uploads since, none could be sampled: sample", st(940, 940, 940), true, 970, 1000, sampleNow, st(0, 0, 0)},
		{"others handled uploads since, none could be sampled: too soon", st(940, 950, 950), true, 970, 1000, skip, st(1000, 950, 950)},
		{"others handled uploads since, prev may have been sampled", st(910, 910, 910), true, 970, 1000, readFirst, st(0, 0, 0)},
		{"others handled uploads since, none could be sampled, range too recent", st(940, 950, 960), true, 970, 1000, skip, st(1000, 950, 960)},
		{"others handled uploads since, none could be sampled, range undecided", st(940, 920, 960), true, 970, 1000, readFirst, st(0, 0, 0)},
		{"others handled uploads since the first upload ever: unknown", st(940, 0, 0), true, 970, 1000, readFirst, st(0, 0, 0)},
		{"previous upload unknown (a flag write in between), recent sample", st(970, 970, 970), true, 0, 1000, skip, st(1000, 970, 999)},
		{"previous upload unknown, older sample", st(900, 900, 900), true, 0, 1000, readFirst, st(0, 0, 0)},
		{"repeated event", st(1000, 1000, 1000), true, 970, 1000, skip, st(1000, 1000, 1000)},
		{"late event", st(1030, 1000, 1000), true, 970, 1000, skip, st(1030, 1000, 1000)},
	} {
		got, after := plan(c.st, c.known, c.prev, c.t)
		if got != c.want || after != c.after {
			t.Errorf("%s: %v %+v, want %v %+v", c.name, got, after, c.want, c.after)
		}
	}
}

// Every write of a machine document is delivered here.
func TestSpec(t *testing.T) {
	if Spec.Kind != fn.Firestore || Spec.Document != Document || Spec.EventType != trigger.Written || Spec.Package() != "functions/machinemetrics" {
		t.Errorf("spec = %+v, package %s", Spec, Spec.Package())
	}
}
