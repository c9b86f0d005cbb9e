package machines_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
)

// BenchmarkListMachinesAPIKey is E19 with an admin API key on a site of 200
// machines whose documents are shaped like real agent uploads (metrics,
// three processes each, health, the literal "metrics.timestamp" field).
// Reports p50/p99 latency and Firestore RPCs per request.
//
// Run: go test ./functions/machines -run '^$' -bench ListMachines -benchtime 500x
func BenchmarkListMachinesAPIKey(b *testing.B) {
	f := newFixture(b)
	now := f.Clock.Now()
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("KIOSK-%03d", i)
		f.machine(b, id, agentDoc(id, f.site, now.Add(-time.Duration(i)*time.Second), 3))
	}
	key := f.admin.APIKey()
	path := "/api/admin/machines?siteId=" + f.site
	ip := map[string]string{"X-Forwarded-For": "203.0.113.1"}
	r := f.Do("GET", path, apptest.WithAPIKey(key), nil, ip) // warm: key lastUsedAt, rate budget lease
	if r.StatusCode != 200 || len(r.JSON["machines"].([]any)) != 200 {
		b.Fatalf("%d %.200s", r.StatusCode, r.Raw)
	}
	b.Logf("response size: %d bytes", len(r.Raw))
	f.RPCs.Reset()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Stay inside one IP's hourly budget (300) whatever b.N is.
		ip["X-Forwarded-For"] = fmt.Sprintf("203.0.%d.%d", i/250/250%250, i/250%250+1)
		start := time.Now()
		r := f.Do("GET", path, apptest.WithAPIKey(key), nil, ip)
		lat = append(lat, time.Since(start))
		if r.StatusCode != 200 {
			b.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[max(0, int(math.Ceil(p/100*float64(len(lat))))-1)].Microseconds()) / 1000
	}
	b.ReportMetric(at(50), "p50-ms")
	b.ReportMetric(at(99), "p99-ms")
	b.ReportMetric(float64(f.RPCs.Reads())/float64(b.N), "readRPCs/op")
	b.ReportMetric(float64(f.RPCs.Writes())/float64(b.N), "writeRPCs/op")
}
