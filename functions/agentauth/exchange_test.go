package agentauth

import (
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/apptest"
)

const exchangePath = "/api/agent/auth/exchange"

func TestExchange(t *testing.T) {
	f := newFixture(t)
	good := f.code(t, nil)
	used := f.code(t, map[string]any{"used": true})
	usedTruthy := f.code(t, map[string]any{"used": "yes"})
	expired := f.code(t, map[string]any{"expiresAt": f.Clock.Now().Add(-time.Second)})
	noExpiry := f.code(t, map[string]any{"expiresAt": nil})
	noSite := f.code(t, map[string]any{"siteId": nil})
	noCreator := f.code(t, map[string]any{"createdBy": ""})
	msExpiry := f.code(t, map[string]any{"expiresAt": f.Clock.Now().Add(time.Hour).UnixMilli()})
	body := func(code string) map[string]any {
		return map[string]any{"registrationCode": code, "machineId": "DESKTOP-42", "version": "2.1.0"}
	}
	untouched := func(code string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, _ *apptest.Response) {
			if d := f.Doc("agent_tokens/" + code); d["usedAt"] != nil || d["machineId"] != nil {
				t.Errorf("refused code was modified: %v", d)
			}
		}
	}
	redeemed := func(code, machine string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			access, _ := r.JSON["accessToken"].(string)
			refresh, _ := r.JSON["refreshToken"].(string)
			if len(refresh) != 86 || r.JSON["idToken"] != access || r.JSON["customToken"] == "" {
				t.Errorf("response %s", r.Raw)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Error("token response must not be cached")
			}
			f.wantClaims(t, access, f.site, machine, "2.1.0")
			uid := agenttoken.UID(f.site, machine)
			d := f.Doc("agent_tokens/" + code)
			if d["used"] != true || !isTime(d["usedAt"]) || d["machineId"] != machine || d["agentUid"] != uid || d["status"] != "pending" {
				t.Errorf("code doc %v", d)
			}
			rt := f.Doc("agent_refresh_tokens/" + agenttoken.Hash(refresh))
			if rt == nil || rt["siteId"] != f.site || rt["machineId"] != machine || rt["version"] != "2.1.0" ||
				rt["createdBy"] != f.member.UID || rt["agentUid"] != uid || !isTime(rt["createdAt"]) || !isTime(rt["lastUsed"]) {
				t.Errorf("refresh doc %v", rt)
			}
			if _, ok := rt["expiresAt"]; ok {
				t.Error("refresh tokens never expire")
			}
		}
	}
	e := f.Env
	e.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: exchangePath, Status: 400},
		{Name: "malformed", Method: "POST", Path: exchangePath, Body: apptest.Raw(`{"registrationCode":`), Status: 400},
		{Name: "array", Method: "POST", Path: exchangePath, Body: apptest.Raw(`[]`), Status: 400},
		{Name: "code not a string", Method: "POST", Path: exchangePath, Body: map[string]any{"registrationCode": 7, "machineId": "m", "version": "1"}, Status: 400},
		{Name: "missing code", Method: "POST", Path: exchangePath, Body: map[string]any{"machineId": "m", "version": "1"}, Status: 400},
		{Name: "missing machineId", Method: "POST", Path: exchangePath, Body: map[string]any{"registrationCode": good, "version": "1"}, Status: 400},
		{Name: "missing version", Method: "POST", Path: exchangePath, Body: map[string]any{"registrationCode": good, "machineId": "m"}, Status: 400, Check: untouched(good)},
		{Name: "machineId too long", Method: "POST", Path: exchangePath, Body: map[string]any{"registrationCode": good, "machineId": strings.Repeat("m", 256), "version": "1"}, Status: 400},
		{Name: "huge body", Method: "POST", Path: exchangePath, Body: apptest.Raw(`{"registrationCode":"` + strings.Repeat("a", 2<<20) + `"}`), Status: 413},
		{Name: "unknown code", Method: "POST", Path: exchangePath, Body: body("nope"), Status: 401},
		{Name: "code with a slash", Method: "POST", Path: exchangePath, Body: body("a/b"), Status: 401},
		{Name: "used code", Method: "POST", Path: exchangePath, Body: body(used), Status: 401},
		{Name: "truthy used", Method: "POST", Path: exchangePath, Body: body(usedTruthy), Status: 401},
		{Name: "expired code", Method: "POST", Path: exchangePath, Body: body(expired), Status: 401, Check: untouched(expired)},
		{Name: "code without expiry", Method: "POST", Path: exchangePath, Body: body(noExpiry), Status: 401},
		{Name: "code without site", Method: "POST", Path: exchangePath, Body: body(noSite), Status: 401},
		{Name: "code without creator", Method: "POST", Path: exchangePath, Body: body(noCreator), Status: 401, Check: untouched(noCreator)},
		// Public route: whatever credential comes along is irrelevant.
		{Name: "redeem (agent token of another site sent along)", Method: "POST", Path: exchangePath, Cred: apptest.WithBearer(f.agentToken("elsewhere")), Body: body(good), Status: 200,
			Want: map[string]any{"expiresIn": 3600, "siteId": f.site, "accessToken": apptest.Present}, Check: redeemed(good, "DESKTOP-42")},
		{Name: "second redemption", Method: "POST", Path: exchangePath, Cred: apptest.WithCookie(f.admn.Cookie()), Body: body(good), Status: 401},
		{Name: "expiry stored as ms", Method: "POST", Path: exchangePath, Body: map[string]any{"registrationCode": msExpiry, "machineId": "host.lan", "version": "2.1.0"}, Status: 200,
			Check: redeemed(msExpiry, "host.lan")},
	})
	if n := e.Count("agent_refresh_tokens"); n != 2 {
		t.Errorf("%d refresh tokens stored, want 2", n)
	}
}

// DECISIONS 5.8: concurrent redemptions of one code — exactly one wins.
func TestExchangeConcurrent(t *testing.T) {
	f := newFixture(t)
	code := f.code(t, nil)
	rs := f.parallel(8, "POST", exchangePath, nil, map[string]any{"registrationCode": code, "machineId": "RACE", "version": "1"})
	if s := statuses(rs); s[200] != 1 || s[401] != 7 {
		for _, r := range rs {
			t.Logf("%d %s", r.StatusCode, r.Raw)
		}
		t.Fatalf("statuses %v, want one 200 and seven 401", s)
	}
	if ids := f.docs(t, "agent_refresh_tokens"); len(ids) != 1 {
		t.Errorf("%d refresh tokens written, want exactly 1", len(ids))
	}
}

// If minting fails after the code was consumed, the code is released so the
// agent can retry with it; nothing is stored.
func TestExchangeMintFailureReleasesCode(t *testing.T) {
	f := newFixture(t)
	code := f.code(t, nil)
	body := map[string]any{"registrationCode": code, "machineId": "FLAKY", "version": "1"}
	broken := agenttoken.New(f.D)
	broken.Base = failingToolkit(t)
	f.withMinter(broken)
	for i := 0; i < 2; i++ { // connection closed, then HTTP 500
		r := f.Do("POST", exchangePath, nil, body, nil)
		if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || r.JSON["error"] == nil {
			t.Fatalf("attempt %d: %d %s (Retry-After %q)", i, r.StatusCode, r.Raw, r.Header.Get("Retry-After"))
		}
		d := f.Doc("agent_tokens/" + code)
		if d["used"] != false || d["usedAt"] != nil || d["machineId"] != nil || d["agentUid"] != nil {
			t.Fatalf("code not released: %v", d)
		}
	}
	if n := f.Count("agent_refresh_tokens"); n != 0 {
		t.Errorf("%d refresh tokens stored by failed exchanges", n)
	}
	f.withMinter(agenttoken.New(f.D))
	if r := f.Do("POST", exchangePath, nil, body, nil); r.StatusCode != 200 {
		t.Fatalf("retry after the outage: %d %s", r.StatusCode, r.Raw)
	}
}
