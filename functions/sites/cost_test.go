package sites_test

import (
	"fmt"
	"testing"

	"github.com/owlette/server/functions/sites"
	"github.com/owlette/server/shared/apptest"
)

// In steady state a read-only request with an API key costs reads only:
// the key index, the user, the site query. No write (DECISIONS §4).
func TestListCostsNoWrites(t *testing.T) {
	e := apptest.New(t, sites.Register)
	admin := e.Admin()
	e.Site("one", "")
	key := admin.APIKey()
	ip := map[string]string{"X-Forwarded-For": "203.0.113.7"}
	for i := 0; i < 3; i++ { // first use records lastUsedAt and leases rate budget
		e.Do("GET", "/api/admin/sites", apptest.WithAPIKey(key), nil, ip)
	}
	e.RPCs.Reset()
	const n = 20
	for i := 0; i < n; i++ {
		if r := e.Do("GET", "/api/admin/sites", apptest.WithAPIKey(key), nil, ip); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	}
	// Rate-limit leases grow geometrically, so a few may remain in 20
	// requests; reads must be exactly 3 per request.
	if w := e.RPCs.Writes(); w > 3 {
		t.Errorf("%d write RPCs for %d read-only requests", w, n)
	}
	s := e.RPCs.Snapshot()
	if s["RunQuery"] != n || s["BatchGetDocuments"] < 2*n || s["BatchGetDocuments"] > 2*n+3 {
		t.Errorf("read RPCs for %d requests: %v", n, s)
	}
	t.Logf("RPCs for %d requests: %v", n, s)
}

func BenchmarkListSitesAPIKey(b *testing.B) {
	e := apptest.New(b, sites.Register)
	admin := e.Admin()
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		e.Site(id, "")
	}
	key := admin.APIKey()
	ip := map[string]string{"X-Forwarded-For": "203.0.113.8"}
	e.Do("GET", "/api/admin/sites", apptest.WithAPIKey(key), nil, ip)
	e.RPCs.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Stay inside one IP's hourly budget whatever b.N is.
		ip["X-Forwarded-For"] = "203.0.113." + string(rune('0'+i/250%10))
		if r := e.Do("GET", "/api/admin/sites", apptest.WithAPIKey(key), nil, ip); r.StatusCode != 200 {
			b.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	}
	b.ReportMetric(float64(e.RPCs.Reads())/float64(b.N), "readRPCs/op")
	b.ReportMetric(float64(e.RPCs.Writes())/float64(b.N), "writeRPCs/op")
}

// BenchmarkUnauthenticated measures what refusing a request costs: each
// comes from a new client address (as an attacker rotating X-Forwarded-For
// would), without a credential or with an unknown API key.
func BenchmarkUnauthenticated(b *testing.B) {
	for _, c := range []struct {
		name string
		cred apptest.Cred
	}{
		{"no credential", apptest.NoCred},
		{"unknown API key", apptest.WithAPIKey("owk_unknownunknownunknownunknownunknownunknown1")},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := apptest.New(b, sites.Register)
			e.RPCs.Reset()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ip := map[string]string{"X-Forwarded-For": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}
				if r := e.Do("GET", "/api/admin/sites", c.cred, nil, ip); r.StatusCode != 401 {
					b.Fatalf("%d %s", r.StatusCode, r.Raw)
				}
			}
			b.ReportMetric(float64(e.RPCs.Reads())/float64(b.N), "readRPCs/op")
			b.ReportMetric(float64(e.RPCs.Writes())/float64(b.N), "writeRPCs/op")
		})
	}
}
