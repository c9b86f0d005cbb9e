package processes_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/owlette/server/shared/apptest"
)

// TestCredentials runs every endpoint with every kind of caller G-MEMBER
// distinguishes. Each request that may succeed gets its own machine.
func TestCredentials(t *testing.T) {
	f := newFixture(t)
	creds := []struct {
		name   string
		cred   func() apptest.Cred
		status int
	}{
		{"none", func() apptest.Cred { return apptest.NoCred }, 401},
		{"forged bearer", func() apptest.Cred { return apptest.WithBearer("forged.id.token") }, 401},
		{"unknown API key", func() apptest.Cred { return apptest.WithAPIKey("owk_unknownunknownunknownunknownunknownunknown1") }, 401},
		{"admin cookie", func() apptest.Cred { return apptest.WithCookie(f.admin.Cookie()) }, 200},
		{"admin API key", func() apptest.Cred { return apptest.WithAPIKey(f.admin.APIKey()) }, 200},
		{"admin API key as bearer", func() apptest.Cred { return apptest.WithBearer(f.admin.APIKey()) }, 200},
		{"admin ID token", func() apptest.Cred { return apptest.WithBearer(f.admin.IDToken()) }, 200},
		{"member cookie", func() apptest.Cred { return apptest.WithCookie(f.member.Cookie()) }, 200},
		{"member API key", func() apptest.Cred { return apptest.WithAPIKey(f.member.APIKey()) }, 200},
		{"member ID token", func() apptest.Cred { return apptest.WithBearer(f.member.IDToken()) }, 200},
		{"owner cookie", func() apptest.Cred { return apptest.WithCookie(f.owner.Cookie()) }, 200},
		{"owner API key", func() apptest.Cred { return apptest.WithAPIKey(f.owner.APIKey()) }, 200},
		{"other-site member cookie", func() apptest.Cred { return apptest.WithCookie(f.stranger.Cookie()) }, 403},
		{"other-site member API key", func() apptest.Cred { return apptest.WithAPIKey(f.stranger.APIKey()) }, 403},
		{"agent token of the site", func() apptest.Cred { return apptest.WithBearer(f.agentToken(f.site)) }, 403},
	}
	type endpoint struct {
		name string
		req  func(site, machine, proc string) (string, string, any)
	}
	endpoints := []endpoint{
		{"E25 list", func(site, machine, _ string) (string, string, any) {
			return "GET", base + "?siteId=" + site + "&machineId=" + machine, nil
		}},
		{"E26 create", func(site, machine, _ string) (string, string, any) {
			return "POST", base, map[string]any{"siteId": site, "machineId": machine, "name": "Show", "exe_path": `C:\show.exe`}
		}},
		{"E27 update", func(site, machine, proc string) (string, string, any) {
			return "PATCH", base + "/" + proc, map[string]any{"siteId": site, "machineId": machine, "priority": "Low"}
		}},
		{"E28 delete", func(site, machine, proc string) (string, string, any) {
			return "DELETE", base + "/" + proc + "?siteId=" + site + "&machineId=" + machine, nil
		}},
		{"E29 launch mode", func(site, machine, proc string) (string, string, any) {
			return "PATCH", base + "/" + proc + "/launch-mode", map[string]any{"siteId": site, "machineId": machine, "mode": "off"}
		}},
	}
	var scenarios []apptest.Scenario
	n := 0
	for _, ep := range endpoints {
		for _, c := range creds {
			n++
			machine := fmt.Sprintf("M-%d", n)
			ids := f.seedMachine(t, f.site, machine, 1)
			method, path, body := ep.req(f.site, machine, ids[0])
			sc := apptest.Scenario{Name: ep.name + ": " + c.name, Method: method, Path: path, Body: body, Cred: c.cred(), Status: c.status}
			if c.status != 200 {
				// A refused caller changes nothing.
				site, machine, id := f.site, machine, ids[0]
				sc.Check = func(t *testing.T, _ *apptest.Response) {
					ps := f.processes(t, site, machine)
					if len(ps) != 1 || byID(ps, id)["priority"] != "High" || byID(ps, id)["launch_mode"] != "always" {
						t.Errorf("refused request changed the config: %v", ps)
					}
					if m := f.Doc(machinePath(site, machine)); m["configChangeFlag"] != nil {
						t.Errorf("refused request set configChangeFlag")
					}
				}
			}
			scenarios = append(scenarios, sc)
		}
		method, path, body := ep.req("no-such-site", "m1", "p1")
		scenarios = append(scenarios, apptest.Scenario{
			Name: ep.name + ": unknown site", Method: method, Path: path, Body: body, Cred: apptest.WithCookie(f.admin.Cookie()), Status: 404,
			Want: map[string]any{"error": "Site not found"},
		})
		// The other site exists, but the member has no access to it.
		method, path, body = ep.req(f.otherSite, "m1", "p1")
		scenarios = append(scenarios, apptest.Scenario{
			Name: ep.name + ": member on another site", Method: method, Path: path, Body: body, Cred: apptest.WithCookie(f.member.Cookie()), Status: 403,
		})
	}
	f.Run(t, scenarios)

	t.Run("query api_key is refused", func(t *testing.T) {
		r := f.Do("GET", base+"?siteId="+f.site+"&machineId=m1&api_key="+f.admin.APIKey(), nil, nil, nil)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("admin routes answer CORS headers", func(t *testing.T) {
		r := f.Do("GET", base+"?siteId="+f.site+"&machineId=M-1", apptest.WithCookie(f.admin.Cookie()), nil, nil)
		if r.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("headers %v", r.Header)
		}
	})
}
