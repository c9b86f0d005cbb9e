package processes_test

import (
	"context"
	"fmt"
	"testing"

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

// TestListCost: with an API key, listing one machine's processes costs one
// read RPC in steady state (the config and machine documents; the key, the
// user and the site are in the instance's memory) and no write.
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
	// in 20 requests; the request itself is exactly 1 read.
	if s["BatchGetDocuments"] < n || s["BatchGetDocuments"] > n+3 || s["RunQuery"] != 0 {
		t.Errorf("read RPCs for %d requests: %v", n, s)
	}
	t.Logf("RPCs for %d requests: %v", n, s)
}

// BenchmarkListProcesses is E25 for one machine of a site of 200 machines,
// with a member's API key and with a member's session cookie (G-MEMBER:
// the site is read to check access); reports CPU, Firestore RPCs and
// p50/p99 latency per request.
//
// Run: go test ./functions/processes -run '^$' -bench ListProcesses -benchtime 2000x
func BenchmarkListProcesses(b *testing.B) {
	for _, c := range apptest.Keyed {
		b.Run(c.Name, func(b *testing.B) {
			f := newFixture(b)
			machines := f.seedSite(b, f.site, 200)
			path := func(i int) string { return base + "?siteId=" + f.site + "&machineId=" + machines[i%len(machines)] }
			f.Bench(b, apptest.Load{Method: "GET", Path: path, Cred: c.Cred(f.member)})
		})
	}
}
