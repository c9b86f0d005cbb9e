package llmsettings_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/owlette/server/shared/apptest"
	sess "github.com/owlette/server/shared/session"
)

// TestCredentials sends every kind of credential to every route. E57–E59,
// X12 and X13 are session-only (api.md G-SESSION: API keys and bearer
// tokens are not sessions); E60–E62 are G-ADMIN (session, API key or ID
// token of an admin). Each request gets a fresh caller whose own key and a
// fresh site's key are stored first, so a refused request can be shown to
// have changed nothing and an accepted one to have done its work.
func TestCredentials(t *testing.T) {
	f := newFixture(t)
	const ok = 0 // the route's success status
	type made struct {
		cred apptest.Cred
		uid  string // the user whose stored key is at stake
	}
	creds := []struct {
		name           string
		make           func() made
		session, admin int
	}{
		{"none", func() made { return made{apptest.NoCred, f.Admin().UID} }, 401, 401},
		{"forged cookie", func() made {
			return made{apptest.WithCookie(&http.Cookie{Name: sess.CookieName, Value: "Fe26.2*1*a*b*c*1*d*e~2"}), f.Admin().UID}
		}, 401, 401},
		{"unknown API key", func() made { return made{apptest.WithAPIKey(unknownAPIKey), f.Admin().UID} }, 401, 401},
		{"member cookie", func() made { u := f.Member("s"); return made{cookie(u), u.UID} }, ok, 403},
		{"member API key", func() made { u := f.Member("s"); return made{apptest.WithAPIKey(u.APIKey()), u.UID} }, 401, 403},
		{"pending-MFA cookie", func() made {
			u := f.Admin()
			return made{apptest.WithCookie(u.CookieWith(sess.MFAPending)), u.UID}
		}, 403, 403},
		{"admin cookie", func() made { u := f.Admin(); return made{cookie(u), u.UID} }, ok, ok},
		{"admin API key", func() made { u := f.Admin(); return made{apptest.WithAPIKey(u.APIKey()), u.UID} }, 401, ok},
		{"admin API key as bearer", func() made { u := f.Admin(); return made{apptest.WithBearer(u.APIKey()), u.UID} }, 401, ok},
		{"admin ID token", func() made { u := f.Admin(); return made{apptest.WithBearer(u.IDToken()), u.UID} }, 401, ok},
		{"agent token", func() made { return made{apptest.WithBearer(f.AgentToken("s", "m1")), f.Admin().UID} }, 401, 403},
	}

	type route struct {
		name, method, path string
		admin              bool
		body               func(site string) any
		// done checks the accepted request's effect on the caller's and the
		// site's stored keys.
		done func(t *testing.T, uid, site string, r *apptest.Response)
	}
	gone := func(t *testing.T, path string) {
		t.Helper()
		if f.Doc(path) != nil {
			t.Errorf("%s not deleted", path)
		}
	}
	routes := []route{
		{name: "E57 set", method: "POST", path: userKeyPath, body: func(string) any { return map[string]any{"provider": "openai", "apiKey": "sk-new"} },
			done: func(t *testing.T, uid, _ string, _ *apptest.Response) {
				f.checkStored(t, userDoc(uid), "openai", "sk-new", nil)
			}},
		{name: "E58 status", method: "GET", path: userKeyPath,
			done: func(t *testing.T, _, _ string, r *apptest.Response) {
				if r.JSON["configured"] != true || r.JSON["provider"] != "anthropic" {
					t.Errorf("%s", r.Raw)
				}
			}},
		{name: "E59 delete", method: "DELETE", path: userKeyPath,
			done: func(t *testing.T, uid, _ string, _ *apptest.Response) { gone(t, userDoc(uid)) }},
		{name: "X12 models", method: "GET", path: modelsPath,
			done: func(t *testing.T, _, _ string, r *apptest.Response) {
				if _, ok := r.Get("models.0.id"); !ok {
					t.Errorf("%s", r.Raw)
				}
			}},
		{name: "X13 models", method: "POST", path: modelsPath, body: func(string) any { return map[string]any{"provider": "openai", "apiKey": "sk-x"} },
			done: func(t *testing.T, _, _ string, r *apptest.Response) {
				if _, ok := r.Get("models.0.id"); !ok {
					t.Errorf("%s", r.Raw)
				}
			}},
		{name: "E60 set", method: "POST", path: siteKeyPath, admin: true,
			body: func(site string) any {
				return map[string]any{"siteId": site, "provider": "openai", "apiKey": "sk-site", "model": "gpt-4o"}
			},
			done: func(t *testing.T, _, site string, _ *apptest.Response) {
				f.checkStored(t, siteDoc(site), "openai", "sk-site", "gpt-4o")
			}},
		{name: "E61 status", method: "GET", path: siteKeyPath + "?siteId=%s", admin: true,
			done: func(t *testing.T, _, _ string, r *apptest.Response) {
				if r.JSON["configured"] != true || r.JSON["model"] != "claude-x" {
					t.Errorf("%s", r.Raw)
				}
			}},
		{name: "E62 delete", method: "DELETE", path: siteKeyPath, admin: true, body: func(site string) any { return map[string]any{"siteId": site} },
			done: func(t *testing.T, _, site string, _ *apptest.Response) { gone(t, siteDoc(site)) }},
	}

	var scenarios []apptest.Scenario
	n := 0
	for _, rt := range routes {
		for _, c := range creds {
			n++
			m := c.make()
			site := fmt.Sprintf("site-%d", n)
			userSealed := f.store(userDoc(m.uid), "anthropic", "sk-user-old", nil)
			siteSealed := f.store(siteDoc(site), "anthropic", "sk-site-old", "claude-x")
			status := c.session
			if rt.admin {
				status = c.admin
			}
			path := rt.path
			if rt.method == "GET" && rt.admin {
				path = fmt.Sprintf(rt.path, site)
			}
			var body any
			if rt.body != nil {
				body = rt.body(site)
			}
			sc := apptest.Scenario{Name: rt.name + ": " + c.name, Method: rt.method, Path: path, Cred: m.cred, Body: body, Status: status}
			uid, done := m.uid, rt.done
			if status == ok {
				sc.Status = 200
				sc.Absent = []string{"apiKey", "apiKeyEncrypted"}
				sc.Check = func(t *testing.T, r *apptest.Response) { done(t, uid, site, r) }
			} else {
				if status == 403 && c.name == "pending-MFA cookie" {
					sc.Want = map[string]any{"mfaRequired": true}
				}
				sc.Check = func(t *testing.T, _ *apptest.Response) {
					for path, want := range map[string]string{userDoc(uid): userSealed, siteDoc(site): siteSealed} {
						if d := f.Doc(path); d == nil || d["apiKeyEncrypted"] != want {
							t.Errorf("refused request changed %s: %v", path, d)
						}
					}
				}
			}
			scenarios = append(scenarios, sc)
		}
	}
	f.Run(t, scenarios)

	t.Run("an API key in the query is refused on admin routes", func(t *testing.T) {
		key := f.Admin().APIKey()
		r := f.Do("GET", siteKeyPath+"?siteId=s&api_key="+key, nil, nil, nil)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
}
