package guard_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	firebase "firebase.google.com/go/v4"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/web"
)

// TestUnverifiableTokenIs503NotUnauthorized: while the Auth service cannot be
// reached (found by the load run's Auth outage: every agent alert got 401),
// a valid agent token or user ID token is answered 503, retryable, never
// 401/403 — an agent drops its credentials on those. A token that is bad in
// itself is still 401.
func TestUnverifiableTokenIs503NotUnauthorized(t *testing.T) {
	e := apptest.New(t, func(rt *app.Router) {
		rt.Handle("POST /agent", guard.Agent, ratelimit.None, func(w http.ResponseWriter, r *http.Request) error {
			if _, err := guard.Site(r, r.URL.Query().Get("site")); err != nil {
				return err
			}
			return web.OK(w, web.M{"ok": true})
		})
		rt.Handle("GET /admin", guard.Admin, ratelimit.None, func(w http.ResponseWriter, r *http.Request) error {
			return web.OK(w, web.M{"ok": true})
		})
	})
	site := e.Site(testenv.UniqueID("site-"), "")
	agentTok, adminTok := e.AgentToken(site, "M1"), e.Admin().IDToken()
	do := func(method, path, tok string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.H.ServeHTTP(rec, req)
		var out struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out.Error
	}
	agentPath, adminPath := "/agent?site="+site, "/admin"
	if c, msg := do("POST", agentPath, agentTok); c != http.StatusOK {
		t.Fatalf("agent token with Auth up: %d %s", c, msg)
	}
	if c, msg := do("GET", adminPath, adminTok); c != http.StatusOK {
		t.Fatalf("admin ID token with Auth up: %d %s", c, msg)
	}

	// The same credentials while Auth does not answer (emulator mode checks
	// revocation on every verification; production fetches Google's keys).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	t.Setenv("FIREBASE_AUTH_EMULATOR_HOST", dead)
	fb, err := firebase.NewApp(context.Background(), &firebase.Config{ProjectID: testenv.ProjectID})
	if err != nil {
		t.Fatal(err)
	}
	down, err := fb.Auth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.D.Guards.Auth = down
	for _, c := range []struct{ method, path, tok string }{{"POST", agentPath, agentTok}, {"GET", adminPath, adminTok}} {
		if code, msg := do(c.method, c.path, c.tok); code != http.StatusServiceUnavailable {
			t.Errorf("%s %s with Auth down: %d %q, want 503", c.method, c.path, code, msg)
		}
	}
	// A malformed token is refused without asking Auth.
	if code, _ := do("POST", agentPath, "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("malformed agent token: %d, want 401", code)
	}
	if code, _ := do("GET", adminPath, "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("malformed ID token: %d, want 401", code)
	}
}
