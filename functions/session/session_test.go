package session_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/session"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/ratelimit"
	sess "github.com/owlette/server/shared/session"
)

func sessionCookie(t *testing.T, r *apptest.Response) *http.Cookie {
	t.Helper()
	for _, c := range r.Cookies() {
		if c.Name == sess.CookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", sess.CookieName, r.Header.Values("Set-Cookie"))
	return nil
}

func TestCreateSession(t *testing.T) {
	e := apptest.New(t, session.Register)
	u := e.Member()
	tok := u.IDToken()
	mfaUser := e.Member()
	if _, err := e.FS.Collection("users").Doc(mfaUser.UID).Update(context.Background(), []firestore.Update{{Path: "mfaEnrolled", Value: true}}); err != nil {
		t.Fatal(err)
	}
	mfaTok := mfaUser.IDToken()
	const path = "/api/auth/session"

	e.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: path, Status: 400, Want: map[string]any{"error": "Request body is empty: expected a JSON object"}},
		{Name: "malformed JSON", Method: "POST", Path: path, Body: apptest.Raw(`{"idToken":`), Status: 400},
		{Name: "array body", Method: "POST", Path: path, Body: apptest.Raw(`[1,2]`), Status: 400},
		{Name: "trailing garbage", Method: "POST", Path: path, Body: apptest.Raw(`{"idToken":"x"} {}`), Status: 400},
		{Name: "idToken missing", Method: "POST", Path: path, Body: map[string]any{}, Status: 400},
		{Name: "idToken not a string", Method: "POST", Path: path, Body: map[string]any{"idToken": 42}, Status: 400},
		{Name: "idToken empty", Method: "POST", Path: path, Body: map[string]any{"idToken": ""}, Status: 400},
		{Name: "huge body", Method: "POST", Path: path, Body: apptest.Raw(`{"idToken":"` + strings.Repeat("a", 2<<20) + `"}`), Status: 413},
		{Name: "forged token", Method: "POST", Path: path, Body: map[string]any{"idToken": "not-a-jwt"}, Status: 401},
		{Name: "userId mismatch", Method: "POST", Path: path, Body: map[string]any{"idToken": tok, "userId": "someone-else"}, Status: 403},
		{Name: "duration too long", Method: "POST", Path: path, Body: map[string]any{"idToken": tok, "durationDays": 31}, Status: 400},
		{Name: "duration below one", Method: "POST", Path: path, Body: map[string]any{"idToken": tok, "durationDays": 0.5}, Status: 400},
		{Name: "duration a string", Method: "POST", Path: path, Body: map[string]any{"idToken": tok, "durationDays": "7"}, Status: 400},
		{Name: "duration true", Method: "POST", Path: path, Body: map[string]any{"idToken": tok, "durationDays": true}, Status: 400},
		{Name: "duration zero yields expired session", Method: "POST", Path: path, Body: map[string]any{"idToken": tok, "durationDays": 0},
			Status: 200, Want: map[string]any{"success": true, "expiresIn": 0}},
		{Name: "default seven days", Method: "POST", Path: path, Body: map[string]any{"idToken": tok, "userId": u.UID, "extra": "ignored"},
			Status: 200, Want: map[string]any{"success": true, "message": "Session created", "expiresIn": 604800}, Absent: []string{"mfaRequired"},
			Check: func(t *testing.T, r *apptest.Response) {
				c := sessionCookie(t, r)
				if c.MaxAge != 604800 || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
					t.Errorf("cookie attributes: %+v", c)
				}
				recs, err := e.FS.Collection(sess.Collection).Where("userId", "==", u.UID).Documents(context.Background()).GetAll()
				if err != nil || len(recs) == 0 {
					t.Fatalf("no session record: %v", err)
				}
				if m := recs[len(recs)-1].Data()["mfa"]; m != sess.MFAComplete {
					t.Errorf("mfa = %v, want complete", m)
				}
			}},
		{Name: "thirty days", Method: "POST", Path: path, Body: map[string]any{"idToken": tok, "durationDays": 30},
			Status: 200, Want: map[string]any{"expiresIn": 2592000},
			Check: func(t *testing.T, r *apptest.Response) {
				// The cookie still lives 7 days, whatever the logical lifetime.
				if c := sessionCookie(t, r); c.MaxAge != 604800 {
					t.Errorf("Max-Age %d", c.MaxAge)
				}
			}},
		{Name: "MFA-enrolled user gets a pending session", Method: "POST", Path: path, Body: map[string]any{"idToken": mfaTok},
			Status: 200, Want: map[string]any{"success": true, "mfaRequired": true},
			Check: func(t *testing.T, r *apptest.Response) {
				st := e.Do("GET", path, apptest.WithCookie(sessionCookie(t, r)), nil, nil)
				if st.JSON["mfaPending"] != true || st.JSON["authenticated"] != true {
					t.Errorf("status after pending login: %s", st.Raw)
				}
			}},
	})
}

func TestSessionStatusAndSignOut(t *testing.T) {
	e := apptest.New(t, session.Register)
	u := e.Member()
	const path = "/api/auth/session"
	login := e.Do("POST", path, nil, map[string]any{"idToken": u.IDToken(), "durationDays": 2}, nil)
	if login.StatusCode != 200 {
		t.Fatalf("login: %d %s", login.StatusCode, login.Raw)
	}
	cookie := sessionCookie(t, login)
	foreign := &http.Cookie{Name: sess.CookieName, Value: "Fe26.2*1*abc*def*ghi*123*jkl*mno~2"}

	e.Run(t, []apptest.Scenario{
		{Name: "no cookie", Method: "GET", Path: path, Status: 200,
			Want: map[string]any{"authenticated": false, "userId": nil, "expiresAt": nil}},
		{Name: "foreign seal", Method: "GET", Path: path, Cred: apptest.WithCookie(foreign), Status: 200,
			Want: map[string]any{"authenticated": false}},
		{Name: "valid session", Method: "GET", Path: path, Cred: apptest.WithCookie(cookie), Status: 200,
			Want: map[string]any{"authenticated": true, "userId": u.UID, "expiresIn": 2 * 86400, "expiresAt": apptest.Present}},
	})

	t.Run("expired after its logical lifetime", func(t *testing.T) {
		e.Clock.Advance(2*24*time.Hour + time.Second)
		defer e.Clock.Advance(-(2*24*time.Hour + time.Second))
		if r := e.Do("GET", path, apptest.WithCookie(cookie), nil, nil); r.JSON["authenticated"] != false {
			t.Errorf("expired session still authenticated: %s", r.Raw)
		}
	})

	t.Run("sign out revokes server-side", func(t *testing.T) {
		out := e.Do("DELETE", path, apptest.WithCookie(cookie), nil, nil)
		if out.StatusCode != 200 || out.JSON["message"] != "Session destroyed" {
			t.Fatalf("delete: %d %s", out.StatusCode, out.Raw)
		}
		if c := sessionCookie(t, out); c.Value != "" || c.MaxAge >= 0 {
			t.Errorf("clearing cookie: %+v", c)
		}
		// Replaying the old cookie no longer works: the record is gone.
		if r := e.Do("GET", path, apptest.WithCookie(cookie), nil, nil); r.JSON["authenticated"] != false {
			t.Errorf("revoked cookie still authenticated: %s", r.Raw)
		}
		if n := e.Count(sess.Collection); n != 0 {
			t.Errorf("%d session records left", n)
		}
	})

	t.Run("sign out without a session", func(t *testing.T) {
		out := e.Do("DELETE", path, nil, nil, nil)
		if out.StatusCode != 200 {
			t.Fatalf("delete: %d", out.StatusCode)
		}
		sessionCookie(t, out)
	})
}

func TestSessionRateLimit(t *testing.T) {
	e := apptest.New(t, session.Register)
	ip := map[string]string{"X-Forwarded-For": "203.0.113.9"}
	for i := 0; i < 10; i++ {
		if r := e.Do("POST", "/api/auth/session", nil, map[string]any{"idToken": "x"}, ip); r.StatusCode != 401 {
			t.Fatalf("request %d: %d %s", i, r.StatusCode, r.Raw)
		}
	}
	r := e.Do("POST", "/api/auth/session", nil, map[string]any{"idToken": "x"}, ip)
	if r.StatusCode != 429 || r.JSON["error"] != "Rate limit exceeded" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("11th: %d %s %v", r.StatusCode, r.Raw, r.Header)
	}
	// GET and DELETE are not limited.
	if r := e.Do("GET", "/api/auth/session", nil, nil, ip); r.StatusCode != 200 {
		t.Fatalf("GET limited: %d", r.StatusCode)
	}
}

func TestUnknownMethodAndPath(t *testing.T) {
	e := apptest.New(t, session.Register)
	e.Run(t, []apptest.Scenario{
		{Name: "PUT", Method: "PUT", Path: "/api/auth/session", Status: 405, Want: map[string]any{"error": "Method not allowed"}},
		{Name: "unknown path", Method: "GET", Path: "/api/auth/other", Status: 404},
		{Name: "preflight", Method: "OPTIONS", Path: "/api/auth/session", Status: 204},
	})
}

// TestPageLoadSignInsFromOneAddress: the dashboard posts /api/auth/session
// on every full page load, and an office shares one address. 50 sign-ins
// with a valid ID token in a minute from one address all succeed and spend
// nothing of the address's auth budget, nor any rate-limit write (one write
// each: the session record); the budget is for what can be guessed, so the
// 11th failed sign-in of the minute is refused with api.md §1.6's 429. A
// verified user still has a budget of their own.
func TestPageLoadSignInsFromOneAddress(t *testing.T) {
	e := apptest.New(t, session.Register)
	u := e.Member()
	tok := u.IDToken()
	const path = "/api/auth/session"
	office := map[string]string{"X-Forwarded-For": "203.0.113.20"}

	e.RPCs.Reset()
	for i := range 50 {
		r := e.Do("POST", path, nil, map[string]any{"idToken": tok, "userId": u.UID}, office)
		if r.StatusCode != 200 {
			t.Fatalf("page load %d: %d %s", i+1, r.StatusCode, r.Raw)
		}
		if h := r.Header; h.Get("X-RateLimit-Limit") != "10" || h.Get("X-RateLimit-Remaining") != "10" || h.Get("RateLimit-Policy") != "10;w=60" {
			t.Fatalf("page load %d headers: %v", i+1, h)
		}
		e.Clock.Advance(time.Second)
	}
	if w, n := e.RPCs.Writes(), e.Count(sess.Collection); w != 50 || n != 50 {
		t.Fatalf("50 sign-ins: %d write RPCs, %d session records; want 50 and 50 (no rate-limit writes)", w, n)
	}
	if n := e.Count(ratelimit.Collection); n != 0 {
		t.Fatalf("%d rate-limit documents after valid sign-ins", n)
	}
	t.Logf("50 page-load sign-ins from one address in 50 s: all 200, %d write RPCs (session records), %d read RPCs", e.RPCs.Writes(), e.RPCs.Reads())

	// Failures spend the address's budget: 10 a minute, then 429.
	e.RPCs.Reset()
	for i := range 10 {
		if r := e.Do("POST", path, nil, map[string]any{"idToken": "forged"}, office); r.StatusCode != 401 || r.Header.Get("X-RateLimit-Remaining") != fmt.Sprint(10-i) {
			t.Fatalf("failure %d: %d %s, remaining %s", i+1, r.StatusCode, r.Raw, r.Header.Get("X-RateLimit-Remaining"))
		}
	}
	r := e.Do("POST", path, nil, map[string]any{"idToken": "forged"}, office)
	if r.StatusCode != 429 || r.JSON["error"] != "Rate limit exceeded" || r.JSON["retryAfter"] == nil || r.JSON["message"] == nil ||
		r.Header.Get("Retry-After") == "" || r.Header.Get("X-RateLimit-Remaining") != "0" || r.Header.Get("RateLimit-Limit") != "10" {
		t.Fatalf("11th failure: %d %s %v", r.StatusCode, r.Raw, r.Header)
	}
	if w := e.RPCs.Writes(); w != 0 {
		t.Fatalf("11 failed sign-ins made %d write RPCs", w)
	}

	// One user's own budget: UserLocal an hour on this instance, then
	// UserLimit shared; spent here through the route's limiter.
	v := e.Member()
	g := e.D.Limiter.Gate(ratelimit.Auth, 1)
	for range ratelimit.UserLocal + ratelimit.UserLimit {
		if err := g.ChargeUser(context.Background(), httptest.NewRecorder(), v.UID); err != nil {
			t.Fatal(err)
		}
	}
	r = e.Do("POST", path, nil, map[string]any{"idToken": v.IDToken()}, nil)
	if r.StatusCode != 429 || r.Header.Get("X-RateLimit-Limit") != "600" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("sign-in past the user's budget: %d %s %v", r.StatusCode, r.Raw, r.Header)
	}
	if r := e.Do("POST", path, nil, map[string]any{"idToken": tok}, nil); r.StatusCode != 200 {
		t.Fatalf("another user meanwhile: %d %s", r.StatusCode, r.Raw)
	}
}
