package machines_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
)

// BenchmarkListMachinesAPIKey is E19 with an admin API key on a site of 200
// machines whose documents are shaped like real agent uploads (metrics,
// three processes each, health, the literal "metrics.timestamp" field).
// Reports CPU, Firestore RPCs and p50/p99 latency per request.
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
	r := f.Do("GET", path, apptest.WithAPIKey(key), nil, nil)
	if r.StatusCode != 200 || len(r.JSON["machines"].([]any)) != 200 {
		b.Fatalf("%d %.200s", r.StatusCode, r.Raw)
	}
	b.Logf("response size: %d bytes", len(r.Raw))
	f.Bench(b, apptest.Load{Method: "GET", Path: apptest.Fixed(path), Cred: apptest.WithAPIKey(key)})
}

// BenchmarkMachines is E19 (list) and E20 (status) on a site of five
// machines, with an admin's API key and with an admin's session cookie:
// CPU, Firestore RPCs and latency per request.
//
// Run: go test ./functions/machines -run '^$' -bench '^BenchmarkMachines$' -benchtime 2000x
func BenchmarkMachines(b *testing.B) {
	for _, route := range []struct{ name, path string }{
		{"list", "/api/admin/machines?siteId=site-a"},
		{"status", "/api/admin/machines/status?siteId=site-a&machineId=KIOSK-002"},
	} {
		for _, c := range apptest.Keyed {
			b.Run(route.name+"/"+c.Name, func(b *testing.B) {
				f := newFixture(b)
				now := f.Clock.Now()
				for i := range 5 {
					id := fmt.Sprintf("KIOSK-%03d", i)
					f.machine(b, id, agentDoc(id, f.site, now.Add(-time.Duration(i)*time.Second), 3))
				}
				f.Bench(b, apptest.Load{Method: "GET", Path: apptest.Fixed(route.path), Cred: c.Cred(f.admin)})
			})
		}
	}
}
