package machinemetrics

import (
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/owlette/server/shared/store"
)

// SampleGap is the least time between two samples of a machine (§7.3).
const SampleGap = 55 * time.Second

// History is the per-machine collection of daily sample buckets.
const History = "metrics_history"

// Resolution is meta.resolution of a bucket.
const Resolution = "1min"

// MetricsTime is when a machine document's metrics were uploaded: the
// agent's top-level field literally named "metrics.timestamp" (§13), else
// metrics.timestamp, else lastHeartbeat; zero when none is a time.
func MetricsTime(doc map[string]any) time.Time {
	if t, ok := timeValue(doc["metrics.timestamp"]); ok {
		return t
	}
	if m, ok := doc["metrics"].(map[string]any); ok {
		if t, ok := timeValue(m["timestamp"]); ok {
			return t
		}
	}
	t, _ := timeValue(doc["lastHeartbeat"])
	return t
}

func timeValue(v any) (time.Time, bool) {
	if t, ok := v.(time.Time); ok {
		return t, true
	}
	if ms, ok := store.Millis(v); ok {
		return time.UnixMilli(ms), true
	}
	return time.Time{}, false
}

// Day is the bucket id of a sample time: its UTC date.
func Day(t int64) string { return time.Unix(t, 0).UTC().Format("2006-01-02") }

// Sample is the metrics-history sample (§2.5) of an upload at t (epoch
// seconds): t, c, m, d (cpu, memory, disk %), g (gpu %, when there is a
// GPU), ct, gt (°C), nl (latency ms), np (packet loss %) when reported, and
// n, the NICs with traffic: {i name, tx, rx (B/s, integers), tu, ru (%)}
// (an empty list when none has).
// Numbers are rounded to one decimal (JavaScript Math.round), except tx and
// rx. Missing cpu, memory or disk values are 0.
func Sample(metrics map[string]any, t int64) map[string]any {
	sub := func(k string) map[string]any { m, _ := metrics[k].(map[string]any); return m }
	cpu, mem, disk, gpu, net := sub("cpu"), sub("memory"), sub("disk"), sub("gpu"), sub("network")
	s := map[string]any{
		"t": t,
		"c": round1(numOr0(cpu["percent"])),
		"m": round1(numOr0(mem["percent"])),
		"d": round1(numOr0(disk["percent"])),
	}
	opt := func(key string, v any) {
		if f, ok := Number(v); ok {
			s[key] = round1(f)
		}
	}
	if name, _ := gpu["name"].(string); name != "N/A" {
		opt("g", gpu["usage_percent"])
	}
	opt("ct", cpu["temperature"])
	opt("gt", gpu["temperature"])
	opt("nl", net["latency_ms"])
	opt("np", net["packet_loss_pct"])

	ifaces, _ := net["interfaces"].(map[string]any)
	names := make([]string, 0, len(ifaces))
	for name := range ifaces {
		names = append(names, name)
	}
	sort.Strings(names)
	nics := []any{}
	for _, name := range names {
		nic, _ := ifaces[name].(map[string]any)
		tx, rx := numOr0(nic["tx_bps"]), numOr0(nic["rx_bps"])
		if tx <= 0 && rx <= 0 {
			continue
		}
		nics = append(nics, map[string]any{
			"i": name, "tx": roundInt(tx), "rx": roundInt(rx),
			"tu": round1(numOr0(nic["tx_util"])), "ru": round1(numOr0(nic["rx_util"])),
		})
	}
	// Always present (possibly empty): a reader iterating it never meets
	// a missing array.
	s["n"] = nics
	return s
}

// Number reads a stored or decoded number; numeric strings count, as
// JavaScript's comparisons coerce them.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

func numOr0(v any) float64 {
	if f, ok := Number(v); ok {
		return f
	}
	return 0
}

// round1 is Math.round(x*10)/10.
func round1(x float64) float64 { return math.Floor(x*10+0.5) / 10 }

// roundInt is Math.round(x).
func roundInt(x float64) int64 { return int64(math.Floor(x + 0.5)) }
