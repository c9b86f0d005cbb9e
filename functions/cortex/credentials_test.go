package cortex_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/iron"
	"github.com/owlette/server/shared/session"
)

// forgedCookie is a well-formed session cookie naming uid, sealed with a
// password that is not the server's.
func forgedCookie(t *testing.T, uid string) apptest.Cred {
	s, err := iron.NewSealer("not-the-server-secret-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"userId": uid, "expiresAt": time.Now().Add(time.Hour).UnixMilli(), "sid": "forged"})
	v, err := s.Seal(payload, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return apptest.WithCookie(&http.Cookie{Name: session.CookieName, Value: v})
}

// Every credential kind on every browser route: only a session whose user
// may use the site gets through (admin, owner, assignee); the site check
// answers 403/404, never 500 (DECISIONS §2 5.6); a pending MFA session is
// 403 mfaRequired; API keys, ID tokens and agent tokens are not sessions.
func TestSessionRoutesCredentials(t *testing.T) {
	s := newStack(t)
	ten := s.Ten
	key := ten.Admin.APIKey()
	adminMFA := s.User("admin")
	adminMFA.EnableMFA()
	routes := []struct {
		name, path string
		body       func(site string) map[string]any
		allowed    int // the status of a valid call by an allowed user
	}{
		{"E52 chat", "/api/cortex", func(site string) map[string]any {
			b := chatBody("OFFLINE", "hi")
			b["siteId"] = site
			return b
		}, 503},
		{"E54 provision-key", "/api/cortex/provision-key", func(site string) map[string]any {
			return map[string]any{"siteId": site, "machineId": "OFFLINE", "apiKey": "sk-ant-key"}
		}, 504},
		{"X11 categorize", "/api/cortex/categorize", func(site string) map[string]any {
			return map[string]any{"siteId": site, "chatId": "no-such-chat", "message": "hello"}
		}, 404},
	}
	creds := []struct {
		name   string
		cred   apptest.Cred
		site   string
		status int // 0: the route's allowed status
		want   map[string]any
	}{
		{"no credential", apptest.NoCred, "site-a", 401, nil},
		{"forged cookie naming the admin", forgedCookie(t, ten.Admin.UID), "site-a", 401, nil},
		{"admin API key", apptest.WithAPIKey(key), "site-a", 401, nil},
		{"admin API key as bearer", apptest.WithBearer(key), "site-a", 401, nil},
		{"admin ID token", apptest.WithBearer(ten.Admin.IDToken()), "site-a", 401, nil},
		{"agent token of the site", apptest.WithBearer(s.AgentToken("site-a", "M1")), "site-a", 401, nil},
		{"pending MFA session", apptest.WithCookie(adminMFA.CookieWith(session.MFAPending)), "site-a", 403, map[string]any{"mfaRequired": true}},
		{"member of another site", apptest.WithCookie(ten.Stranger.Cookie()), "site-a", 403, nil},
		{"member, unknown site", apptest.WithCookie(ten.Member.Cookie()), "site-zzz", 404, nil},
		{"member, site id that names no document", apptest.WithCookie(ten.Member.Cookie()), "__x__", 404, nil},
		{"assigned member", apptest.WithCookie(ten.Member.Cookie()), "site-a", 0, nil},
		{"owner, not assigned", apptest.WithCookie(ten.Owner.Cookie()), "site-a", 0, nil},
		{"admin", apptest.WithCookie(ten.Admin.Cookie()), "site-a", 0, nil},
	}
	for _, rt := range routes {
		var scs []apptest.Scenario
		for _, c := range creds {
			st := c.status
			if st == 0 {
				st = rt.allowed
			}
			scs = append(scs, apptest.Scenario{
				Name: rt.name + "/" + c.name, Method: "POST", Path: rt.path, Cred: c.cred, Body: rt.body(c.site),
				Status: st, Want: c.want,
				Check: func(t *testing.T, r *apptest.Response) {
					// Refused callers leave nothing queued on the machine.
					if st != rt.allowed && len(s.Pending("OFFLINE")) > 0 {
						t.Errorf("a refused call queued a command: %v", s.Pending("OFFLINE"))
					}
				},
			})
		}
		s.Run(t, scs)
	}
}

// The internal routes take the cortex secret (E53, E55) or the cron secret
// (E56), nothing else.
func TestInternalRoutesCredentials(t *testing.T) {
	s := newStack(t)
	cfg := s.D.Config
	adminCookie := apptest.WithCookie(s.Ten.Admin.Cookie())
	key := s.Ten.Admin.APIKey()
	body := map[string]any{"siteId": "site-a", "machineId": "M1", "processName": "TD", "eventType": "process_crash"}
	hdr := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	noEvents := func(t *testing.T, r *apptest.Response) {
		if n := s.Count("sites/site-a/cortex-events"); n != 0 {
			t.Errorf("%d events written", n)
		}
	}
	var scs []apptest.Scenario
	for _, method := range []string{"POST /api/cortex/autonomous", "POST /api/cortex/escalation"} {
		path := method[len("POST "):]
		ok := map[string]any{"accepted": false, "reason": "autonomous_disabled"}
		var b any = body
		if path == "/api/cortex/escalation" {
			ok, b = map[string]any{"success": true, "processed": 0, "errors": 0}, nil
		}
		scs = append(scs,
			apptest.Scenario{Name: method + "/none", Method: "POST", Path: path, Cred: apptest.NoCred, Body: b, Status: 401, Check: noEvents},
			apptest.Scenario{Name: method + "/wrong secret", Method: "POST", Path: path, Body: b, Header: hdr("X-Cortex-Secret", "nope"), Status: 401, Check: noEvents},
			apptest.Scenario{Name: method + "/admin session", Method: "POST", Path: path, Cred: adminCookie, Body: b, Status: 401, Check: noEvents},
			apptest.Scenario{Name: method + "/admin API key", Method: "POST", Path: path, Cred: apptest.WithAPIKey(key), Body: b, Status: 401, Check: noEvents},
			apptest.Scenario{Name: method + "/cron secret", Method: "POST", Path: path, Body: b, Header: hdr("X-Cron-Secret", cfg.CronSecret), Status: 401, Check: noEvents},
			apptest.Scenario{Name: method + "/cron bearer", Method: "POST", Path: path, Cred: apptest.WithBearer(cfg.CronSecret), Body: b, Status: 401, Check: noEvents},
			apptest.Scenario{Name: method + "/cortex secret in the x-internal-secret header", Method: "POST", Path: path, Body: b, Header: hdr("X-Internal-Secret", cfg.CortexSecret), Status: 401, Check: noEvents},
			apptest.Scenario{Name: method + "/cortex secret", Method: "POST", Path: path, Body: b, Header: hdr("x-cortex-secret", cfg.CortexSecret), Status: 200, Want: ok},
		)
	}
	e56 := "/api/cortex/escalation"
	ok := map[string]any{"success": true, "processed": 0, "errors": 0, "reclaimed": 0}
	scs = append(scs,
		apptest.Scenario{Name: "E56/none", Method: "GET", Path: e56, Cred: apptest.NoCred, Status: 401},
		apptest.Scenario{Name: "E56/cortex secret", Method: "GET", Path: e56, Header: hdr("X-Cortex-Secret", cfg.CortexSecret), Status: 401},
		apptest.Scenario{Name: "E56/admin session", Method: "GET", Path: e56, Cred: adminCookie, Status: 401},
		apptest.Scenario{Name: "E56/wrong bearer", Method: "GET", Path: e56, Cred: apptest.WithBearer("nope"), Status: 401},
		apptest.Scenario{Name: "E56/bearer cron secret", Method: "GET", Path: e56, Cred: apptest.WithBearer(cfg.CronSecret), Status: 200, Want: ok},
		apptest.Scenario{Name: "E56/bare cron secret", Method: "GET", Path: e56, Header: hdr("Authorization", cfg.CronSecret), Status: 200, Want: ok},
		apptest.Scenario{Name: "E56/X-Cron-Secret", Method: "GET", Path: e56, Header: hdr("X-Cron-Secret", cfg.CronSecret), Status: 200, Want: ok},
	)
	s.Run(t, scs)
}
