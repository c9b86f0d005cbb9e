package sites_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/owlette/server/functions/sites"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/iron"
	"github.com/owlette/server/shared/session"
)

// In steady state a read-only request with an API key costs its one query:
// the key and the user are in the instance's memory (DECISIONS §4), and no
// write.
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
	// Rate-limit leases grow geometrically, so a few lease reads and writes
	// may remain in 20 requests; the request itself is exactly 1 read.
	if w := e.RPCs.Writes(); w > 3 {
		t.Errorf("%d write RPCs for %d read-only requests", w, n)
	}
	s := e.RPCs.Snapshot()
	if s["RunQuery"] != n || s["BatchGetDocuments"] > 3 {
		t.Errorf("read RPCs for %d requests: %v", n, s)
	}
	t.Logf("RPCs for %d requests: %v", n, s)
}

// BenchmarkListSites is E39 (five sites) with an admin's API key and with
// an admin's session cookie: CPU, Firestore RPCs and latency per request.
//
// Run: go test ./functions/sites -run '^$' -bench ListSites -benchtime 2000x
func BenchmarkListSites(b *testing.B) {
	for _, c := range apptest.Keyed {
		b.Run(c.Name, func(b *testing.B) {
			e := apptest.New(b, sites.Register)
			admin := e.Admin()
			for _, id := range []string{"a", "b", "c", "d", "e"} {
				e.Site(id, "")
			}
			e.Bench(b, apptest.Load{Method: "GET", Path: apptest.Fixed("/api/admin/sites"), Cred: c.Cred(admin)})
		})
	}
}

// BenchmarkUnauthenticated measures what refusing a request costs: each
// comes from a new client address (as an attacker rotating X-Forwarded-For
// would), without a credential or with one that is not valid.
func BenchmarkUnauthenticated(b *testing.B) {
	for _, c := range []struct {
		name string
		cred apptest.Cred
	}{
		{"no credential", apptest.NoCred},
		{"malformed API key", apptest.WithAPIKey("owk_short")},
		{"unknown API key", apptest.WithAPIKey("owk_unknownunknownunknownunknownunknownunknown1")},
		{"bad cookie", apptest.WithCookie(&http.Cookie{Name: session.CookieName, Value: "Fe26.2*1*not-a-seal~2"})},
		{"forged cookie", apptest.WithCookie(forgedCookie(b))},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := apptest.New(b, sites.Register)
			e.Bench(b, apptest.Load{Method: "GET", Path: apptest.Fixed("/api/admin/sites"), Cred: c.cred, Status: 401, NewClient: true})
		})
	}
}

// forgedCookie is a well-formed seal of a session payload under another
// password: it fails at the MAC.
func forgedCookie(t testing.TB) *http.Cookie {
	s, err := iron.NewSealer("another-password-0123456789abcdef-xyz")
	if err != nil {
		t.Fatal(err)
	}
	seal, err := s.Seal([]byte(`{"userId":"u1","expiresAt":99999999999999,"sid":"s1"}`), session.SealTTL, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: session.CookieName, Value: seal}
}
