package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/pairphrase"
)

// outcome is what a credential must get from a route's guard.
type outcome int

const (
	refused   outcome = iota // 401
	forbidden                // 403 (authenticated, not allowed)
	passes                   // neither: the request reached the handler's own checks
)

func (o outcome) String() string { return [...]string{"401", "403", "past the guard"}[o] }

// credKinds are the credentials a caller can present, each with what every
// guard must make of it (api.md §1.5, DECISIONS §3): the rows of the
// credential matrix come from the route's declared guard, so a new route
// inherits them by being registered.
var credKinds = []struct {
	name   string
	expect func(g guard.Guard) outcome
}{
	{"none", func(g guard.Guard) outcome { return refused }},
	{"forged bearer token", func(g guard.Guard) outcome { return refused }},
	{"unknown API key", func(g guard.Guard) outcome { return refused }},
	{"admin API key", func(g guard.Guard) outcome {
		return pick(g, map[string]outcome{"admin": passes, "admin-site": passes, "member": passes})
	}},
	{"admin session", func(g guard.Guard) outcome {
		return pick(g, map[string]outcome{"admin": passes, "admin-site": passes, "member": passes, "session": passes,
			"session-site": passes, "self": passes, "session-or-idtoken": passes})
	}},
	{"admin ID token", func(g guard.Guard) outcome {
		// Not an agent token: the agent guard says so with a 403.
		return pick(g, map[string]outcome{"admin": passes, "admin-site": passes, "member": passes, "session-or-idtoken": passes,
			"agent": forbidden})
	}},
	{"member session", func(g guard.Guard) outcome {
		// A member of the site, not an admin, and not the user the
		// requests name (userId is the admin's).
		return pick(g, map[string]outcome{"admin": forbidden, "admin-site": forbidden, "member": passes, "session": passes,
			"session-site": passes, "self": forbidden, "session-or-idtoken": passes})
	}},
	{"other site's member session", func(g guard.Guard) outcome {
		return pick(g, map[string]outcome{"admin": forbidden, "admin-site": forbidden, "member": forbidden, "session": passes,
			"session-site": forbidden, "self": forbidden, "session-or-idtoken": passes})
	}},
	{"agent token", func(g guard.Guard) outcome {
		// An agent's ID token is a Firebase ID token of a user without a
		// users document: no admin role, no site; X10 takes any ID token.
		return pick(g, map[string]outcome{"agent": passes, "admin": forbidden, "admin-site": forbidden, "member": forbidden,
			"session-or-idtoken": passes})
	}},
	{"internal secret", func(g guard.Guard) outcome { return pick(g, map[string]outcome{"internal": passes}) }},
	{"cron secret", func(g guard.Guard) outcome { return pick(g, map[string]outcome{"cron": passes}) }},
}

// pick is the outcome for g: the table says, and a guard the table does not
// name refuses with 401.
func pick(g guard.Guard, m map[string]outcome) outcome {
	if o, ok := m[g.String()]; ok {
		return o
	}
	return refused
}

// TestCredentialsEverywhere sends every kind of credential to every
// registered route (the scheduled functions included) and checks the
// outcome its declared guard promises: refused (401), forbidden (403), or
// let through to the handler's own checks. Routes that check site access
// in the handler (cortex) must answer like the guards do.
func TestCredentialsEverywhere(t *testing.T) {
	e := walkEnv(t)
	admin := e.User("admin", "walker-site")
	site := e.Site("walker-site", admin.UID)
	e.Site("other-site", "")
	member := e.Member(site)
	stranger := e.Member("other-site")
	phrase, err := pairphrase.Generate()
	if err != nil {
		t.Fatal(err)
	}
	query := walkQuery(site, admin.UID).Encode()
	body, _ := json.Marshal(walkBody(site, admin.UID, admin.Email, phrase))
	adminKey := admin.APIKey()
	adminToken := admin.IDToken()
	agentToken := e.AgentToken(site, "walker-machine")
	cookie := func(u *apptest.User) func(*http.Request) {
		c := u.Cookie()
		return func(r *http.Request) { r.AddCookie(c) }
	}
	set := map[string]func(*http.Request, walkRoute){
		"none": func(*http.Request, walkRoute) {},
		"forged bearer token": func(r *http.Request, _ walkRoute) {
			r.Header.Set("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
		},
		"unknown API key": func(r *http.Request, _ walkRoute) {
			r.Header.Set("X-Api-Key", "owk_unknownunknownunknownunknownunknownunknown1")
		},
		"admin API key":  func(r *http.Request, _ walkRoute) { r.Header.Set("X-Api-Key", adminKey) },
		"admin ID token": func(r *http.Request, _ walkRoute) { r.Header.Set("Authorization", "Bearer "+adminToken) },
		"agent token":    func(r *http.Request, _ walkRoute) { r.Header.Set("Authorization", "Bearer "+agentToken) },
		"internal secret": func(r *http.Request, w walkRoute) {
			if h := w.route.Guard.Header(); h != "" {
				r.Header.Set(h, e.D.Config.CortexSecret)
			}
		},
		"cron secret": func(r *http.Request, _ walkRoute) { r.Header.Set(guard.CronSecretHeader, e.D.Config.CronSecret) },
	}
	sessions := map[string]*apptest.User{"admin session": admin, "member session": member, "other site's member session": stranger}

	counts := map[string]int{}
	for _, r := range allRoutes(t, e) {
		t.Run(r.pattern, func(t *testing.T) {
			for _, c := range credKinds {
				want := c.expect(r.route.Guard)
				// Public routes take no credential; those with a secret in
				// the body (exchange, refresh, passkey verify) answer 401 for
				// a wrong one themselves, so only the no-5xx rule applies.
				public := r.route.Guard.String() == "public"
				var b []byte
				if r.method != http.MethodGet {
					b = body
				}
				req := walkRequest(r, r.path, query, b)
				if u, ok := sessions[c.name]; ok {
					cookie(u)(req) // a fresh session: a route may revoke the one it gets
				} else {
					set[c.name](req, r)
				}
				res, _ := serve(r, req)
				got := passes
				switch res.StatusCode {
				case http.StatusUnauthorized:
					got = refused
				case http.StatusForbidden:
					got = forbidden
				}
				counts[fmt.Sprintf("%s: %s", c.name, want)]++
				if got != want && !public {
					t.Errorf("%s (guard %s): %d %.200s, want %s", c.name, r.route.Guard, res.StatusCode, res.Raw, want)
				}
				if res.StatusCode >= 500 {
					t.Errorf("%s: %d %.200s", c.name, res.StatusCode, res.Raw)
				}
				if res.StatusCode >= 400 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
					t.Errorf("%s: %d without a JSON body", c.name, res.StatusCode)
				}
			}
		})
	}
	t.Logf("credential rows: %v", counts)
}
