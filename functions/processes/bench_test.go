package processes_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
)

// seedSite writes n machines (config and machine documents shaped like the
// agent's writes, 4 processes each) in batches, and returns their ids.
func (f *fixture) seedSite(t testing.TB, site string, n int) []string {
	t.Helper()
	ctx := context.Background()
	machines := make([]string, n)
	b := f.FS.Batch()
	for i := range n {
		machines[i] = fmt.Sprintf("SHOW-PC-%03d", i)
		procs := make([]map[string]any, 4)
		for j := range procs {
			procs[j] = agentProcess(fmt.Sprintf("%08d-0000-4000-8000-%012d", i, j), fmt.Sprintf("app%d", j), j)
		}
		b.Set(f.FS.Doc(configPath(site, machines[i])), agentConfig(procs...))
		b.Set(f.FS.Doc(machinePath(site, machines[i])), agentMachine(f.Clock.Now(), procs...))
		if (i+1)%100 == 0 || i == n-1 {
			if _, err := b.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			b = f.FS.Batch()
		}
	}
	return machines
}

// TestListCost: with an API key, listing one machine's processes costs
// three read RPCs (key index; user and site; config and machine documents)
// and, in steady state, no write.
func TestListCost(t *testing.T) {
	f := newFixture(t)
	machines := f.seedSite(t, f.site, 200)
	key := f.member.APIKey()
	ip := map[string]string{"X-Forwarded-For": "203.0.113.17"}
	url := base + "?siteId=" + f.site + "&machineId=" + machines[117]
	for range 3 { // first use records lastUsedAt and leases rate budget
		f.Do("GET", url, apptest.WithAPIKey(key), nil, ip)
	}
	f.RPCs.Reset()
	const n = 20
	for range n {
		r := f.Do("GET", url, apptest.WithAPIKey(key), nil, ip)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if ps, _ := r.JSON["processes"].([]any); len(ps) != 4 {
			t.Fatalf("%d processes", len(ps))
		}
	}
	if w := f.RPCs.Writes(); w > 3 {
		t.Errorf("%d write RPCs for %d read-only requests", w, n)
	}
	s := f.RPCs.Snapshot()
	// Rate-limit leases grow geometrically, so a few lease reads may remain
	// in 20 requests; the request itself is exactly 3 reads.
	if s["BatchGetDocuments"] < 3*n || s["BatchGetDocuments"] > 3*n+3 || s["RunQuery"] != 0 {
		t.Errorf("read RPCs for %d requests: %v", n, s)
	}
	t.Logf("RPCs for %d requests: %v", n, s)
}

// BenchmarkListProcessesAPIKey: E25 with an API key for one machine of a
// site of 200 machines; reports p50/p99 latency and RPCs per request.
func BenchmarkListProcessesAPIKey(b *testing.B) {
	f := newFixture(b)
	machines := f.seedSite(b, f.site, 200)
	key := f.member.APIKey()
	ip := map[string]string{"X-Forwarded-For": "203.0.113.30"}
	f.Do("GET", base+"?siteId="+f.site+"&machineId="+machines[0], apptest.WithAPIKey(key), nil, ip)
	f.RPCs.Reset()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Stay inside one IP's hourly budget whatever b.N is.
		ip["X-Forwarded-For"] = fmt.Sprintf("203.0.113.%d", 30+i/250%200)
		url := base + "?siteId=" + f.site + "&machineId=" + machines[i%len(machines)]
		start := time.Now()
		r := f.Do("GET", url, apptest.WithAPIKey(key), nil, ip)
		lat = append(lat, time.Since(start))
		if r.StatusCode != 200 {
			b.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(f.RPCs.Reads())/float64(b.N), "readRPCs/op")
	b.ReportMetric(float64(f.RPCs.Writes())/float64(b.N), "writeRPCs/op")
}
