package deployments_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/owlette/server/functions/deployments"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

const base = "/api/admin/deployments"

// fixture is an Env with one site and the callers that matter for G-MEMBER.
type fixture struct {
	*apptest.Env
	site, otherSite string
	admin           *apptest.User
	member          *apptest.User // assigned to site
	owner           *apptest.User // owns site, not assigned
	stranger        *apptest.User // assigned to otherSite only
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	e := apptest.New(t, deployments.Register)
	ten := e.Tenancy(testenv.UniqueID("site-"), testenv.UniqueID("other-"))
	return &fixture{Env: e, site: ten.Site, otherSite: ten.OtherSite, admin: ten.Admin, member: ten.Member, owner: ten.Owner, stranger: ten.Stranger}
}

// agentToken is an agent ID token for a machine of site (claims as minted
// by the token exchange).
func (f *fixture) agentToken(site string) string { return f.AgentToken(site, "m1") }

// seed writes a deployment document as it is stored (raw data).
func (f *fixture) seed(t testing.TB, site, id string, data map[string]any) {
	t.Helper()
	if _, err := f.FS.Doc("sites/"+site+"/deployments/"+id).Set(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

// deployment returns a stored deployment with the given status and targets
// ({machineId: status}).
func deployment(status string, createdAt any, targets ...[2]string) map[string]any {
	ts := make([]any, len(targets))
	for i, t := range targets {
		ts[i] = map[string]any{"machineId": t[0], "status": t[1]}
	}
	return map[string]any{
		"name": "Chrome", "installer_name": "chrome.exe", "installer_url": "https://dl.example/chrome.exe",
		"silent_flags": "/S", "targets": ts, "status": status, "createdAt": createdAt,
	}
}

func validBody(site string, machines ...string) map[string]any {
	if machines == nil {
		machines = []string{"m1"}
	}
	return map[string]any{
		"siteId": site, "name": "Chrome", "installer_name": "chrome.exe",
		"installer_url": "https://dl.example/chrome.exe", "silent_flags": "/S", "machineIds": machines,
	}
}

// TestCredentials runs every endpoint with every kind of caller G-MEMBER
// distinguishes. Each request that may succeed gets its own fresh data.
func TestCredentials(t *testing.T) {
	f := newFixture(t)
	creds := []struct {
		name   string
		cred   func() apptest.Cred
		status int // for the site
	}{
		{"none", func() apptest.Cred { return apptest.NoCred }, 401},
		{"forged bearer", func() apptest.Cred { return apptest.WithBearer("forged.id.token") }, 401},
		{"unknown API key", func() apptest.Cred { return apptest.WithAPIKey("owk_unknownunknownunknownunknownunknownunknown1") }, 401},
		{"admin cookie", func() apptest.Cred { return apptest.WithCookie(f.admin.Cookie()) }, 200},
		{"admin API key", func() apptest.Cred { return apptest.WithAPIKey(f.admin.APIKey()) }, 200},
		{"admin ID token", func() apptest.Cred { return apptest.WithBearer(f.admin.IDToken()) }, 200},
		{"member cookie", func() apptest.Cred { return apptest.WithCookie(f.member.Cookie()) }, 200},
		{"member API key", func() apptest.Cred { return apptest.WithAPIKey(f.member.APIKey()) }, 200},
		{"member ID token", func() apptest.Cred { return apptest.WithBearer(f.member.IDToken()) }, 200},
		{"owner cookie", func() apptest.Cred { return apptest.WithCookie(f.owner.Cookie()) }, 200},
		{"other-site member cookie", func() apptest.Cred { return apptest.WithCookie(f.stranger.Cookie()) }, 403},
		{"other-site member API key", func() apptest.Cred { return apptest.WithAPIKey(f.stranger.APIKey()) }, 403},
		{"agent token of the site", func() apptest.Cred { return apptest.WithBearer(f.agentToken(f.site)) }, 403},
	}
	type endpoint struct {
		name string
		// req returns method, path and body for a fresh request on site.
		req func(i int, site string) (string, string, any)
	}
	endpoints := []endpoint{
		{"E30 list", func(i int, site string) (string, string, any) {
			return "GET", base + "?siteId=" + site, nil
		}},
		{"E31 create", func(i int, site string) (string, string, any) {
			return "POST", base, validBody(site, fmt.Sprintf("m%d", i))
		}},
		{"E32 get", func(i int, site string) (string, string, any) {
			id := fmt.Sprintf("deploy-get-%d", i)
			f.seed(t, site, id, deployment("in_progress", time.Now(), [2]string{"m1", "pending"}))
			return "GET", base + "/" + id + "?siteId=" + site, nil
		}},
		{"E33 delete", func(i int, site string) (string, string, any) {
			id := fmt.Sprintf("deploy-del-%d", i)
			f.seed(t, site, id, deployment("completed", time.Now(), [2]string{"m1", "completed"}))
			return "DELETE", base + "/" + id + "?siteId=" + site, nil
		}},
		{"E34 cancel", func(i int, site string) (string, string, any) {
			id := fmt.Sprintf("deploy-cancel-%d", i)
			f.seed(t, site, id, deployment("in_progress", time.Now(), [2]string{"m1", "downloading"}))
			return "POST", base + "/" + id + "/cancel", map[string]any{"siteId": site, "machineId": "m1", "installer_name": "chrome.exe"}
		}},
	}
	var scenarios []apptest.Scenario
	n := 0
	for _, ep := range endpoints {
		for _, c := range creds {
			n++
			method, path, body := ep.req(n, f.site)
			scenarios = append(scenarios, apptest.Scenario{
				Name: ep.name + ": " + c.name, Method: method, Path: path, Body: body, Cred: c.cred(), Status: c.status,
			})
		}
		n++
		method, path, body := ep.req(n, "no-such-site")
		scenarios = append(scenarios, apptest.Scenario{
			Name: ep.name + ": unknown site", Method: method, Path: path, Body: body, Cred: apptest.WithCookie(f.admin.Cookie()), Status: 404,
		})
	}
	f.Run(t, scenarios)

	t.Run("query api_key is refused", func(t *testing.T) {
		r := f.Do("GET", base+"?siteId="+f.site+"&api_key="+f.admin.APIKey(), nil, nil, nil)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
}
