package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/owlette/server/functions/mfa"
	"github.com/owlette/server/functions/passkeys"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/pairphrase"
	"github.com/owlette/server/shared/routes"
	"github.com/owlette/server/shared/session"
)

// pendingAllowed are the routes that take a session and accept one still
// waiting for its second factor (DECISIONS.md §3): the second step itself
// and the passkey list (a pending session may also sign in again with a
// passkey, but E09/E10 are public). Session GET/DELETE are public routes.
// Registering, renaming and deleting passkeys are not here: a password
// alone must not be able to add a passkey that then signs in MFA-complete.
var pendingAllowed = map[string]bool{
	"POST /api/mfa/verify-login": true,
	"GET /api/passkeys/list":     true,
}

// pendingFixtures overrides the request of a route whose handler validates
// more than the universal request below supplies before its guard runs
// (api.md "Order" lines): body (JSON) and query.
var pendingFixtures = map[string]struct {
	Body  map[string]any
	Query url.Values
}{}

// TestPendingMFAEverywhere walks every route of every function the dev
// server serves (plus mfa and passkeys) with a session that has not
// finished MFA. Every route that takes a session must answer 403
// {"mfaRequired": true}, except the allowed ones; the same request with a
// completed session must not, so the 403 is the pending state's doing.
// Routes that take no session (public, agent) must ignore the cookie.
func TestPendingMFAEverywhere(t *testing.T) {
	e := apptest.New(t)
	regs := map[string]app.Register{}
	for name, reg := range groups {
		regs[name] = reg
	}
	regs[mfa.Name] = mfa.Register
	regs[passkeys.Name] = passkeys.Register

	// An admin, assigned to and owner of the site: every guard would let a
	// completed session through.
	admin := e.User("admin", "walker-site")
	site := e.Site("walker-site", admin.UID)
	phrase, err := pairphrase.Generate()
	if err != nil {
		t.Fatal(err)
	}
	query := url.Values{
		"userId": {admin.UID}, "siteId": {site}, "machineId": {"walker-machine"}, "deploymentId": {"walker-deployment"},
		"webhookId": {"walker-webhook"}, "screenshotId": {"walker-shot"}, "limit": {"1"},
	}
	body := map[string]any{
		"userId": admin.UID, "siteId": site, "machineId": "walker-machine", "machineIds": []string{"walker-machine"},
		"email": admin.Email, "code": "123456", "backupCodes": []string{"AAAA1111"},
		"credential": map[string]any{}, "challengeId": "walker-challenge", "friendlyName": "walker",
		"pairPhrase": phrase, "keyId": "walker-key", "tokenId": "walker-token", "name": "walker",
		"title": "walker", "description": "walker", "idToken": "walker",
		"installer_name": "walker.exe", "installer_url": "https://example.test/walker.exe", "silent_flags": "/S",
	}

	var ip atomic.Int64
	type route struct {
		fn, pattern, method, path string
		guard                     string
		h                         http.Handler
	}
	var all []route
	for name, reg := range regs {
		if _, ok := routes.ByName(name); !ok {
			t.Errorf("group %q is not in the routes table", name)
		}
		rt := app.NewRouter(e.D)
		reg(rt)
		h := app.Build(e.D, reg)
		for _, r := range rt.Routes() {
			method, path, ok := strings.Cut(r.Pattern, " ")
			if !ok {
				t.Errorf("%s: pattern %q has no method", name, r.Pattern)
				continue
			}
			path = wildcard.ReplaceAllStringFunc(path, func(w string) string {
				return "walker-" + strings.TrimSuffix(strings.Trim(w, "{}"), "...")
			})
			if fn, ok := routes.Lookup(path); !ok || fn.Name != name {
				t.Errorf("%s %s is registered by %s but the routes table sends it to %q", method, path, name, fn.Name)
			}
			all = append(all, route{fn: name, pattern: r.Pattern, method: method, path: path, guard: r.Guard.String(), h: h})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].pattern < all[j].pattern })
	for p := range pendingAllowed {
		found := false
		for _, r := range all {
			found = found || r.pattern == p
		}
		if !found {
			t.Errorf("allowed route %q is not registered", p)
		}
	}

	send := func(r route, c *http.Cookie) *apptest.Response {
		q, b := query, body
		if f, ok := pendingFixtures[r.pattern]; ok {
			q, b = f.Query, f.Body
		}
		var rd *bytes.Reader
		if r.method != http.MethodGet {
			raw, _ := json.Marshal(b)
			rd = bytes.NewReader(raw)
		} else {
			rd = bytes.NewReader(nil)
		}
		req := httptest.NewRequest(r.method, r.path+"?"+q.Encode(), rd)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", ip.Add(1)%250+1))
		req.AddCookie(c)
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		res := &apptest.Response{Response: w.Result(), Raw: w.Body.Bytes()}
		_ = json.Unmarshal(res.Raw, &res.JSON)
		return res
	}
	mfaRequired := func(res *apptest.Response) bool {
		return res.StatusCode == http.StatusForbidden && res.JSON["mfaRequired"] == true
	}

	counts := map[string]int{}
	for _, r := range all {
		t.Run(r.pattern, func(t *testing.T) {
			sessionless := r.guard == "public" || r.guard == "agent"
			// A fresh session per request: a route may revoke the one it gets.
			res := send(r, admin.CookieWith(session.MFAPending))
			switch {
			case sessionless:
				counts["no session (ignored)"]++
				if mfaRequired(res) {
					t.Errorf("%s route answered mfaRequired: %d %s", r.guard, res.StatusCode, res.Raw)
				}
			case pendingAllowed[r.pattern]:
				counts["pending allowed"]++
				if mfaRequired(res) {
					t.Errorf("allowed route refused a pending session: %d %s", res.StatusCode, res.Raw)
				}
			default:
				counts["403 mfaRequired"]++
				if !mfaRequired(res) {
					t.Errorf("pending session got %d %s, want 403 with mfaRequired (guard %s)."+
						" If the handler validated the request before its guard, give it a valid request in pendingFixtures.",
						res.StatusCode, res.Raw, r.guard)
				}
				if msg, _ := res.JSON["error"].(string); !strings.Contains(msg, "MFA verification required") {
					t.Errorf("unclear message %q", msg)
				}
				if ok := send(r, admin.Cookie()); mfaRequired(ok) {
					t.Errorf("a completed session is refused too: %d %s", ok.StatusCode, ok.Raw)
				}
			}
		})
	}
	t.Logf("%d routes in %d functions: %v", len(all), len(regs), counts)
	if counts["403 mfaRequired"] == 0 || counts["pending allowed"] != len(pendingAllowed) {
		t.Errorf("walk incomplete: %v", counts)
	}
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)
