package machines_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/machines"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/store"
)

// Every credential kind against every endpoint: list and status need the
// admin role, update any member of the site (api.md §0.1, §1.5).
func TestCredentials(t *testing.T) {
	f := newFixture(t)
	f.machine(t, "m1", agentDoc("m1", f.site, f.Clock.Now(), 1))
	f.set(t, machines.LatestInstaller, map[string]any{"version": "2.7.0", "download_url": "https://example.test/i.exe", "checksum_sha256": "ab12"})
	type cred struct {
		name        string
		cred        func() apptest.Cred
		admin, memb int // status on admin-only and member routes
	}
	creds := []cred{
		{"none", func() apptest.Cred { return apptest.NoCred }, 401, 401},
		{"forged bearer", func() apptest.Cred { return apptest.WithBearer("forged.id.token") }, 401, 401},
		{"unknown API key", func() apptest.Cred { return apptest.WithAPIKey("owk_unknownunknownunknownunknownunknownunknown1") }, 401, 401},
		{"admin with MFA pending", func() apptest.Cred { return apptest.WithCookie(f.admin.CookieWith(session.MFAPending)) }, 403, 403},
		{"admin cookie", func() apptest.Cred { return apptest.WithCookie(f.admin.Cookie()) }, 200, 200},
		{"admin API key", func() apptest.Cred { return apptest.WithAPIKey(f.admin.APIKey()) }, 200, 200},
		{"admin API key as bearer", func() apptest.Cred { return apptest.WithBearer(f.admin.APIKey()) }, 200, 200},
		{"admin ID token", func() apptest.Cred { return apptest.WithBearer(f.admin.IDToken()) }, 200, 200},
		{"member cookie", func() apptest.Cred { return apptest.WithCookie(f.member.Cookie()) }, 403, 200},
		{"member API key", func() apptest.Cred { return apptest.WithAPIKey(f.member.APIKey()) }, 403, 200},
		{"member ID token", func() apptest.Cred { return apptest.WithBearer(f.member.IDToken()) }, 403, 200},
		{"owner cookie", func() apptest.Cred { return apptest.WithCookie(f.owner.Cookie()) }, 403, 200},
		{"other-site member cookie", func() apptest.Cred { return apptest.WithCookie(f.outside.Cookie()) }, 403, 403},
		{"other-site member API key", func() apptest.Cred { return apptest.WithAPIKey(f.outside.APIKey()) }, 403, 403},
		{"agent token of the site", func() apptest.Cred { return apptest.WithBearer(f.agentToken(f.site)) }, 403, 403},
	}
	type endpoint struct {
		name        string
		memberRoute bool
		method      string
		path        func(site string) string
		body        func(site string) any
	}
	endpoints := []endpoint{
		{"E19 list", false, "GET", func(s string) string { return "/api/admin/machines?siteId=" + s }, nil},
		{"E20 status", false, "GET", func(s string) string { return "/api/admin/machines/status?siteId=" + s + "&machineId=m1" }, nil},
		{"E21 update", true, "POST", func(string) string { return "/api/admin/machines/update" },
			func(s string) any { return map[string]any{"siteId": s, "machineIds": []string{"m1"}} }},
	}
	var sc []apptest.Scenario
	for _, ep := range endpoints {
		var body any
		if ep.body != nil {
			body = ep.body(f.site)
		}
		for _, c := range creds {
			want := c.admin
			if ep.memberRoute {
				want = c.memb
			}
			s := apptest.Scenario{Name: ep.name + ": " + c.name, Method: ep.method, Path: ep.path(f.site), Body: body, Cred: c.cred(), Status: want}
			if want == 200 {
				s.Want = map[string]any{"success": true}
			}
			sc = append(sc, s)
		}
		if ep.body != nil {
			body = ep.body("no-such-site")
		}
		sc = append(sc,
			apptest.Scenario{Name: ep.name + ": unknown site", Method: ep.method, Path: ep.path("no-such-site"), Body: body,
				Cred: apptest.WithCookie(f.admin.Cookie()), Status: 404, Want: map[string]any{"error": "Site not found"}},
			apptest.Scenario{Name: ep.name + ": API key in the query", Method: ep.method, Path: withQuery(ep.path(f.site), "api_key="+f.admin.APIKey()),
				Body: body, Status: 400})
	}
	f.Run(t, sc)
}

func TestList(t *testing.T) {
	f := newFixture(t)
	now := f.Clock.Now()
	hb := now.Add(-10 * time.Second)
	legacyMs := now.Add(-time.Hour).UnixMilli()
	f.machine(t, "DESKTOP-7", agentDoc("DESKTOP-7", f.site, hb, 2))
	f.machine(t, "kiosk-2", map[string]any{"name": "apple kiosk", "online": true, "lastHeartbeat": hb})
	f.machine(t, "kiosk-3", map[string]any{"name": "Banana kiosk", "online": "yes", "lastHeartbeat": "2026-03-04T05:06:07.891Z"})
	f.machine(t, "legacy", map[string]any{
		"machine_name": "cherry", "online": false, "lastHeartbeat": legacyMs,
		"presence": map[string]any{"agent_version": "1.9.0", "os": "Windows 10"},
	})
	// Whole-document flag write (datamodel.md §12.6): everything else gone.
	f.machine(t, "zz-rebooting", map[string]any{"rebooting": true})
	f.machine(t, "odd", map[string]any{"name": "odd", "lastHeartbeat": "soon", "os": "Windows 11", "agent_version": ""})
	f.machine(t, "float", map[string]any{"name": "float", "lastHeartbeat": float64(legacyMs) + 0.7})
	// A pending queue for a machine without a document is no machine.
	f.set(t, "sites/"+f.site+"/machines/ghost/commands/pending", map[string]any{"x": map[string]any{"type": "t"}})
	f.machine(t, "empty", map[string]any{})
	key := f.admin.APIKey()

	path := "/api/admin/machines?siteId=" + f.site
	f.Run(t, []apptest.Scenario{
		{Name: "list", Method: "GET", Path: path, Cred: apptest.WithAPIKey(key), Status: 200,
			Want: map[string]any{
				"success": true,
				// localeCompare (case-insensitive first): byte order would put DESKTOP-7 and Banana first.
				"machines.0.id": "kiosk-2", "machines.0.name": "apple kiosk", "machines.0.agentVersion": nil, "machines.0.lastHeartbeat": store.ISO(hb),
				"machines.1.id": "kiosk-3", "machines.1.online": true, "machines.1.lastHeartbeat": "2026-03-04T05:06:07.891Z",
				"machines.2.id": "legacy", "machines.2.name": "cherry", "machines.2.online": false,
				"machines.2.lastHeartbeat": store.ISO(time.UnixMilli(legacyMs)), "machines.2.agentVersion": "1.9.0", "machines.2.os": "Windows 10",
				"machines.3.id": "DESKTOP-7", "machines.3.name": "DESKTOP-7", "machines.3.online": true,
				"machines.3.lastHeartbeat": store.ISO(hb), "machines.3.agentVersion": "2.6.0", "machines.3.os": nil,
				"machines.4.id": "empty", "machines.4.name": "empty", "machines.4.online": false, "machines.4.lastHeartbeat": nil,
				"machines.5.id": "float", "machines.5.lastHeartbeat": store.ISO(time.UnixMilli(legacyMs)),
				"machines.6.id": "odd", "machines.6.lastHeartbeat": nil, "machines.6.os": "Windows 11", "machines.6.agentVersion": nil,
				"machines.7.id": "zz-rebooting", "machines.7.name": "zz-rebooting", "machines.7.online": false,
				"machines.7.lastHeartbeat": nil, "machines.7.agentVersion": nil, "machines.7.os": nil,
			},
			Absent: []string{"machines.8", "machines.3.metrics"},
			Check: func(t *testing.T, r *apptest.Response) {
				if r.Header.Get("X-RateLimit-Limit") != "300" || r.Header.Get("Access-Control-Allow-Origin") != "*" {
					t.Errorf("headers %v", r.Header)
				}
			}},
		{Name: "empty site", Method: "GET", Path: "/api/admin/machines?siteId=site-b", Cred: apptest.WithAPIKey(key), Status: 200,
			Want: map[string]any{"success": true, "machines": []any{}}},
		{Name: "missing siteId", Method: "GET", Path: "/api/admin/machines", Cred: apptest.WithAPIKey(key), Status: 400,
			Want: map[string]any{"error": machines.ErrSiteID.Message}},
		{Name: "missing siteId, no credential: credential first", Method: "GET", Path: "/api/admin/machines", Status: 401},
		{Name: "site id that names no document", Method: "GET", Path: "/api/admin/machines?siteId=a%2Fb", Cred: apptest.WithAPIKey(key), Status: 404},
		{Name: "reserved site id", Method: "GET", Path: "/api/admin/machines?siteId=__x__", Cred: apptest.WithAPIKey(key), Status: 404},
		{Name: "wrong method", Method: "DELETE", Path: path, Cred: apptest.WithAPIKey(key), Status: 405},
	})
}

func TestHeartbeatISO(t *testing.T) {
	ts := time.Date(2026, 5, 6, 7, 8, 9, 123_456_789, time.UTC)
	for _, c := range []struct {
		in   any
		want any
	}{
		{ts, "2026-05-06T07:08:09.123Z"},
		{ts.UnixMilli(), "2026-05-06T07:08:09.123Z"},
		{float64(ts.UnixMilli()) + 0.9, "2026-05-06T07:08:09.123Z"},
		{"2026-05-06T09:08:09.123+02:00", "2026-05-06T07:08:09.123Z"},
		{"2026-05-06", "2026-05-06T00:00:00.000Z"},
		{nil, nil}, {int64(0), nil}, {"", nil}, {false, nil},
		{"yesterday", nil}, {true, nil}, {map[string]any{"seconds": 1}, nil}, {float64(9e15), nil}, {int64(-9e15), nil},
	} {
		if got := machines.HeartbeatISO(c.in); got != c.want {
			t.Errorf("HeartbeatISO(%#v) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t)
	hb := f.Clock.Now().Add(-5 * time.Second)
	f.machine(t, "DESKTOP-7", agentDoc("DESKTOP-7", f.site, hb, 2))
	config := []any{map[string]any{"id": "proc-0", "name": "App 0", "exe_path": `C:\Apps\app.exe`, "launch_mode": "always"}}
	f.set(t, "config/"+f.site+"/machines/DESKTOP-7", map[string]any{"processes": config})
	f.machine(t, "flag-only", map[string]any{"rebootPending": map[string]any{"active": false, "processName": nil}})
	f.machine(t, "own-processes", map[string]any{"name": "Own", "processes": []any{}, "status": map[string]any{
		"metrics": map[string]any{"cpu": 1.0}, "health": map[string]any{"status": "ok"}, "processes": []any{"legacy"},
	}})
	f.set(t, "config/"+f.site+"/machines/own-processes", map[string]any{"processes": config})
	f.machine(t, "legacy-status", map[string]any{"status": map[string]any{
		"metrics": map[string]any{"cpu": 2.0}, "health": map[string]any{"status": "degraded"}, "processes": []any{"from-status"},
	}})
	f.machine(t, "a.b", map[string]any{"name": "dotted"})
	f.machine(t, "nan", map[string]any{"metrics": map[string]any{
		"cpu": map[string]any{"percent": 3.5, "temperature": math.NaN()}, "gpu": map[string]any{"temperature": math.Inf(1)}, "samples": []any{math.Inf(-1), 1.5},
	}})
	key := f.admin.APIKey()
	path := func(m string) string { return "/api/admin/machines/status?siteId=" + f.site + "&machineId=" + m }

	f.Run(t, []apptest.Scenario{
		{Name: "agent machine", Method: "GET", Path: path("DESKTOP-7"), Cred: apptest.WithAPIKey(key), Status: 200,
			Want: map[string]any{
				"success": true, "machine.id": "DESKTOP-7", "machine.name": "DESKTOP-7", "machine.online": true,
				"machine.lastHeartbeat": store.ISO(hb), "machine.agentVersion": "2.6.0", "machine.os": nil,
				"machine.metrics.cpu.percent": 12.5, "machine.metrics.processes.proc-1.pid": 4001,
				"machine.metrics.network.interfaces.Ethernet.link_speed": 1000,
				// Nested timestamps pass through raw (api.md §5.17).
				"machine.health.last_checked_at": tsJSON(hb), "machine.health.last_error_at": nil,
				// Processes come from the config document.
				"machine.processes": config,
			},
			// The literal top-level "metrics.timestamp" is not part of metrics.
			Absent: []string{"machine.metrics.timestamp"}},
		{Name: "flag-only document", Method: "GET", Path: path("flag-only"), Cred: apptest.WithAPIKey(key), Status: 200,
			Want: map[string]any{"machine.id": "flag-only", "machine.name": "flag-only", "machine.online": false, "machine.lastHeartbeat": nil,
				"machine.metrics": nil, "machine.health": nil, "machine.processes": []any{}, "machine.agentVersion": nil}},
		{Name: "machine processes (an empty array is truthy)", Method: "GET", Path: path("own-processes"), Cred: apptest.WithAPIKey(key), Status: 200,
			Want: map[string]any{"machine.processes": []any{}, "machine.metrics": map[string]any{"cpu": 1.0}, "machine.health.status": "ok"}},
		{Name: "legacy status sub-map", Method: "GET", Path: path("legacy-status"), Cred: apptest.WithAPIKey(key), Status: 200,
			Want: map[string]any{"machine.processes": []any{"from-status"}, "machine.metrics.cpu": 2.0, "machine.health.status": "degraded"}},
		{Name: "machine id with a dot", Method: "GET", Path: path("a.b"), Cred: apptest.WithAPIKey(key), Status: 200,
			Want: map[string]any{"machine.id": "a.b", "machine.name": "dotted"}},
		{Name: "NaN and Infinity metrics render as null, not a failure", Method: "GET", Path: path("nan"), Cred: apptest.WithAPIKey(key), Status: 200,
			Want: map[string]any{"machine.metrics.cpu.percent": 3.5, "machine.metrics.cpu.temperature": nil, "machine.metrics.gpu.temperature": nil,
				"machine.metrics.samples": []any{nil, 1.5}}},
		{Name: "unknown machine", Method: "GET", Path: path("nope"), Cred: apptest.WithAPIKey(key), Status: 404,
			Want: map[string]any{"error": "Machine not found"}},
		{Name: "machine id that names no document", Method: "GET", Path: path("a%2Fb"), Cred: apptest.WithAPIKey(key), Status: 404},
		{Name: "machine of another site", Method: "GET", Path: "/api/admin/machines/status?siteId=site-b&machineId=DESKTOP-7", Cred: apptest.WithAPIKey(key), Status: 404},
		{Name: "missing machineId", Method: "GET", Path: "/api/admin/machines/status?siteId=" + f.site, Cred: apptest.WithAPIKey(key), Status: 400},
		{Name: "missing siteId", Method: "GET", Path: "/api/admin/machines/status?machineId=DESKTOP-7", Cred: apptest.WithAPIKey(key), Status: 400},
		{Name: "missing both, no credential", Method: "GET", Path: "/api/admin/machines/status", Status: 401},
		{Name: "wrong method", Method: "POST", Path: path("DESKTOP-7"), Cred: apptest.WithAPIKey(key), Status: http.StatusMethodNotAllowed},
	})
}

// In steady state a machine list costs its one query: the key, the user and
// the site are in the instance's memory (DECISIONS §4), and no write.
func TestListCost(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("M-%03d", i)
		f.machine(t, id, agentDoc(id, f.site, f.Clock.Now(), 3))
	}
	key := f.admin.APIKey()
	ip := map[string]string{"X-Forwarded-For": "203.0.113.9"}
	path := "/api/admin/machines?siteId=" + f.site
	for i := 0; i < 3; i++ {
		f.Do("GET", path, apptest.WithAPIKey(key), nil, ip)
	}
	f.RPCs.Reset()
	const n = 10
	for i := 0; i < n; i++ {
		if r := f.Do("GET", path, apptest.WithAPIKey(key), nil, ip); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	}
	s := f.RPCs.Snapshot()
	// Rate-limit leases grow geometrically, so a few lease reads may remain.
	if s["RunQuery"] != n || s["BatchGetDocuments"] > 3 || f.RPCs.Writes() > 3 {
		t.Errorf("RPCs for %d lists: %v", n, s)
	}
	t.Logf("RPCs for %d lists: %v", n, s)
}

func withQuery(path, q string) string {
	if strings.Contains(path, "?") {
		return path + "&" + q
	}
	return path + "?" + q
}
