package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/pairphrase"
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

// TestPendingMFAEverywhere walks every route with the two credentials a
// password alone gives a user who has MFA enrolled: a pending session
// cookie, and a Firebase ID token without a second factor sent as
// Authorization: Bearer (DECISIONS §3). Every route that takes a session
// must answer 403 {"mfaRequired": true} to the cookie, except the allowed
// ones; every route that takes an ID token must answer the same to the
// token; the same request with a completed session must not, so the 403 is
// the pending state's doing. Routes that take neither (public, agent,
// internal) must ignore them.
func TestPendingMFAEverywhere(t *testing.T) {
	e := walkEnv(t)
	// An admin, assigned to and owner of the site: every guard would let a
	// completed session through.
	admin := e.User("admin", "walker-site")
	admin.EnableMFA()
	site := e.Site("walker-site", admin.UID)
	phrase, err := pairphrase.Generate()
	if err != nil {
		t.Fatal(err)
	}
	query := walkQuery(site, admin.UID).Encode()
	body, _ := json.Marshal(walkBody(site, admin.UID, admin.Email, phrase))
	passwordToken := admin.IDToken() // custom-token sign-in: no second factor

	all := allRoutes(t, e)
	for p := range pendingAllowed {
		found := false
		for _, r := range all {
			found = found || r.pattern == p
		}
		if !found {
			t.Errorf("allowed route %q is not registered", p)
		}
	}
	send := func(r walkRoute, cred func(*http.Request)) *apptest.Response {
		var b []byte
		if r.method != http.MethodGet {
			b = body
		}
		req := walkRequest(r, r.path, query, b)
		cred(req)
		res, _ := serve(r, req)
		return res
	}
	cookie := func(c *http.Cookie) func(*http.Request) { return func(r *http.Request) { r.AddCookie(c) } }
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+passwordToken) }
	mfaRequired := func(res *apptest.Response) bool {
		return res.StatusCode == http.StatusForbidden && res.JSON["mfaRequired"] == true
	}

	counts := map[string]int{}
	for _, r := range all {
		t.Run(r.pattern, func(t *testing.T) {
			g := r.route.Guard.String()
			sessionless := r.route.Guard.Sessionless()
			takesIDToken := g == "session-or-idtoken" || g == "admin" || g == "admin-site" || g == "member"
			// A fresh session per request: a route may revoke the one it gets.
			res := send(r, cookie(admin.CookieWith(session.MFAPending)))
			switch {
			case sessionless:
				counts["no session (ignored)"]++
				if mfaRequired(res) {
					t.Errorf("%s route answered mfaRequired: %d %s", g, res.StatusCode, res.Raw)
				}
			case pendingAllowed[r.pattern]:
				counts["pending allowed"]++
				if mfaRequired(res) {
					t.Errorf("allowed route refused a pending session: %d %s", res.StatusCode, res.Raw)
				}
			default:
				counts["cookie: 403 mfaRequired"]++
				if !mfaRequired(res) {
					t.Errorf("pending session got %d %s, want 403 with mfaRequired (guard %s)", res.StatusCode, res.Raw, g)
				}
				if msg, _ := res.JSON["error"].(string); !strings.Contains(msg, "MFA verification required") {
					t.Errorf("unclear message %q", msg)
				}
				if ok := send(r, cookie(admin.Cookie())); mfaRequired(ok) {
					t.Errorf("a completed session is refused too: %d %s", ok.StatusCode, ok.Raw)
				}
			}
			res = send(r, bearer)
			switch {
			case takesIDToken:
				counts["bearer: 403 mfaRequired"]++
				if !mfaRequired(res) {
					t.Errorf("password-only ID token got %d %s, want 403 with mfaRequired (guard %s)", res.StatusCode, res.Raw, g)
				}
			case res.StatusCode < 400 && !sessionless && g != "public":
				t.Errorf("a session-only route accepted a Bearer ID token: %d %s", res.StatusCode, res.Raw)
			}
		})
	}
	t.Logf("%d routes: %v", len(all), counts)
	if counts["cookie: 403 mfaRequired"] == 0 || counts["bearer: 403 mfaRequired"] == 0 || counts["pending allowed"] != len(pendingAllowed) {
		t.Errorf("walk incomplete: %v", counts)
	}
}
