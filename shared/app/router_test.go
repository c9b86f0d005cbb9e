package app_test

import (
	"net/http"
	"testing"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/web"
)

// A route group with deliberate mistakes, to show the router fails closed.
func faulty(rt *app.Router) {
	ok := func(w http.ResponseWriter, r *http.Request) error { return web.OK(w, web.M{"secret": "data"}) }
	// Member guard, but the handler never calls guard.Site.
	rt.Handle("GET /api/test/forgot-site-check", guard.Member, ratelimit.None, ok)
	// Member guard used correctly.
	rt.Handle("GET /api/test/member/{site}", guard.Member, ratelimit.None, func(w http.ResponseWriter, r *http.Request) error {
		if _, err := guard.Site(r, r.PathValue("site")); err != nil {
			return err
		}
		return ok(w, r)
	})
	// A handler that fails before any authorization may still send a 4xx.
	rt.Handle("POST /api/test/validate-first", guard.Member, ratelimit.None, func(w http.ResponseWriter, r *http.Request) error {
		return web.BadRequest("siteId is required")
	})
	rt.Handle("GET /api/test/panic", guard.Public, ratelimit.None, func(w http.ResponseWriter, r *http.Request) error {
		var m map[string]int
		m["boom"]++
		return nil
	})
	rt.Handle("GET /api/admin/test/public", guard.Public, ratelimit.None, ok)
	// Using the wrong completion call is a programming error, not a pass.
	rt.Handle("GET /api/test/wrong-call", guard.Admin, ratelimit.None, func(w http.ResponseWriter, r *http.Request) error {
		if _, err := guard.Site(r, "x"); err != nil {
			return err
		}
		return ok(w, r)
	})
}

func TestRouterFailsClosed(t *testing.T) {
	e := apptest.New(t, faulty)
	admin, member := e.Admin(), e.Member("s1")
	e.Site("s1", "")
	e.Run(t, []apptest.Scenario{
		{Name: "forgotten site check blocks the response", Method: "GET", Path: "/api/test/forgot-site-check", Cred: apptest.WithCookie(admin.Cookie()),
			Status: 500, Absent: []string{"secret"}},
		{Name: "site check done: member of the site", Method: "GET", Path: "/api/test/member/s1", Cred: apptest.WithCookie(member.Cookie()), Status: 200,
			Want: map[string]any{"secret": "data"}},
		{Name: "site check done: other site", Method: "GET", Path: "/api/test/member/s2", Cred: apptest.WithCookie(member.Cookie()), Status: 404},
		{Name: "site id that Firestore cannot name", Method: "GET", Path: "/api/test/member/__x__", Cred: apptest.WithCookie(member.Cookie()), Status: 404},
		{Name: "validation error before authorization", Method: "POST", Path: "/api/test/validate-first", Status: 400},
		{Name: "panic becomes a JSON 500", Method: "GET", Path: "/api/test/panic", Status: 500, Want: map[string]any{"error": "Internal server error"}},
		{Name: "wrong guard call", Method: "GET", Path: "/api/test/wrong-call", Cred: apptest.WithCookie(admin.Cookie()), Status: 500, Absent: []string{"secret"}},
		{Name: "unknown route is JSON 404", Method: "GET", Path: "/api/test/nothing", Status: 404, Want: map[string]any{"error": "Not found"}},
		{Name: "wrong method is JSON 405", Method: "DELETE", Path: "/api/test/panic", Status: 405, Want: map[string]any{"error": "Method not allowed"},
			Check: func(t *testing.T, r *apptest.Response) {
				if r.Header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}},
		{Name: "security and CORS headers", Method: "GET", Path: "/api/admin/test/public", Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				for h, v := range map[string]string{
					"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*",
					"Access-Control-Allow-Headers": "Content-Type, x-api-key, Authorization",
				} {
					if got := r.Header.Get(h); got != v {
						t.Errorf("%s = %q, want %q", h, got, v)
					}
				}
				if r.Header.Get("X-Request-Id") == "" {
					t.Error("no request id")
				}
			}},
		{Name: "no CORS outside /api/admin", Method: "GET", Path: "/api/test/member/s1", Cred: apptest.WithCookie(member.Cookie()), Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				if r.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Error("CORS header outside /api/admin")
				}
			}},
	})
}
