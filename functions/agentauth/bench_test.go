package agentauth

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// benchIP keeps one client address for per requests, then moves on, so
// the per-IP rate-limit leases are amortised as for a steady client, yet
// no budget runs out.
func benchIP(i, per int) map[string]string {
	return map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.%d.%d", i/per/250, i/per%250+1)}
}

// latency records request durations and reports p50/p99 in ms.
type latency []time.Duration

func (l latency) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	q := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkExchange: one E14 redemption per iteration (code stored outside
// the timer): Firestore read + conditional write + refresh doc, Auth
// claims, custom token and Identity Toolkit exchange at the emulators.
func BenchmarkExchange(b *testing.B) {
	f := newFixture(b)
	var lat latency
	var reads, writes int
	f.RPCs.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		reads, writes = reads+f.RPCs.Reads(), writes+f.RPCs.Writes()
		body := map[string]any{"registrationCode": f.code(b, nil), "machineId": "BENCH", "version": "1"}
		f.RPCs.Reset()
		b.StartTimer()
		start := time.Now()
		r := f.Do("POST", exchangePath, nil, body, benchIP(i, 50))
		lat = append(lat, time.Since(start))
		if r.StatusCode != 200 {
			b.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	}
	b.StopTimer()
	reads, writes = reads+f.RPCs.Reads(), writes+f.RPCs.Writes()
	lat.report(b)
	b.ReportMetric(float64(reads)/float64(b.N), "readRPCs/op")
	b.ReportMetric(float64(writes)/float64(b.N), "writeRPCs/op")
}

// BenchmarkRefresh: one E15 refresh per iteration.
func BenchmarkRefresh(b *testing.B) {
	f := newFixture(b)
	body := map[string]any{"refreshToken": f.refreshToken(b, "BENCH", nil), "machineId": "BENCH"}
	if r := f.Do("POST", refreshPath, nil, body, nil); r.StatusCode != 200 {
		b.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	var lat latency
	f.RPCs.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		r := f.Do("POST", refreshPath, nil, body, benchIP(i, 100))
		lat = append(lat, time.Since(start))
		if r.StatusCode != 200 {
			b.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	}
	b.StopTimer()
	lat.report(b)
	b.ReportMetric(float64(f.RPCs.Reads())/float64(b.N), "readRPCs/op")
	b.ReportMetric(float64(f.RPCs.Writes())/float64(b.N), "writeRPCs/op")
}

// BenchmarkPollPending: the agent's 5-second poll while it waits.
func BenchmarkPollPending(b *testing.B) {
	f := newFixture(b)
	r := f.Do("POST", devicePath, nil, map[string]any{"machineId": "BENCH"}, nil)
	body := map[string]any{"deviceCode": r.JSON["deviceCode"]}
	var lat latency
	f.RPCs.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if r := f.Do("POST", pollPath, nil, body, benchIP(i, 250)); r.StatusCode != 202 {
			b.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	lat.report(b)
	b.ReportMetric(float64(f.RPCs.Reads())/float64(b.N), "readRPCs/op")
	b.ReportMetric(float64(f.RPCs.Writes())/float64(b.N), "writeRPCs/op")
}
