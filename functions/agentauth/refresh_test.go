package agentauth

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	firebase "firebase.google.com/go/v4"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/testenv"
)

const refreshPath = "/api/agent/auth/refresh"

func TestRefresh(t *testing.T) {
	f := newFixture(t)
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	good := f.refreshToken(t, "HOST-A", map[string]any{"lastUsed": old})
	future := f.refreshToken(t, "HOST-B", map[string]any{"expiresAt": f.Clock.Now().Add(time.Hour)})
	expired := f.refreshToken(t, "HOST-C", map[string]any{"expiresAt": f.Clock.Now().Add(-time.Minute)})
	noSite := f.refreshToken(t, "HOST-D", map[string]any{"siteId": nil})
	noVersion := f.refreshToken(t, "HOST-D", map[string]any{"version": ""})
	noUID := f.refreshToken(t, "HOST-D", map[string]any{"agentUid": nil})
	placeholder := f.refreshToken(t, "pending_oak_ivy_zoo", nil)
	body := func(tok, machine string) map[string]any {
		return map[string]any{"refreshToken": tok, "machineId": machine}
	}
	doc := func(tok string) map[string]any { return f.Doc("agent_refresh_tokens/" + agenttoken.Hash(tok)) }

	refreshed := func(tok, machine string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			access := r.JSON["accessToken"].(string)
			f.wantClaims(t, access, f.site, machine, "2.0.0")
			if r.JSON["idToken"] != access || r.JSON["customToken"] == "" {
				t.Errorf("response %s", r.Raw)
			}
			d := doc(tok)
			if lu, _ := d["lastUsed"].(time.Time); !lu.After(old) {
				t.Errorf("lastUsed not written: %v", d["lastUsed"])
			}
			if d["machineId"] != machine || d["agentUid"] != agenttoken.UID(f.site, machine) {
				t.Errorf("doc %v", d)
			}
		}
	}
	unchanged := func(tok, machine string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			if d := doc(tok); d == nil || d["machineId"] != machine {
				t.Errorf("doc changed: %v", d)
			}
		}
	}
	f.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: refreshPath, Status: 400},
		{Name: "malformed", Method: "POST", Path: refreshPath, Body: apptest.Raw(`{"refreshToken"`), Status: 400},
		{Name: "token not a string", Method: "POST", Path: refreshPath, Body: map[string]any{"refreshToken": []int{1}, "machineId": "HOST-A"}, Status: 400},
		{Name: "missing token", Method: "POST", Path: refreshPath, Body: map[string]any{"machineId": "HOST-A"}, Status: 400},
		{Name: "missing machineId", Method: "POST", Path: refreshPath, Body: map[string]any{"refreshToken": good}, Status: 400},
		{Name: "empty machineId", Method: "POST", Path: refreshPath, Body: body(good, ""), Status: 400},
		{Name: "machineId too long", Method: "POST", Path: refreshPath, Body: body(good, strings.Repeat("x", 300)), Status: 400},
		{Name: "huge body", Method: "POST", Path: refreshPath, Body: apptest.Raw(`{"refreshToken":"` + strings.Repeat("a", 2<<20) + `"}`), Status: 413},
		{Name: "unknown token", Method: "POST", Path: refreshPath, Body: body("not-a-token", "HOST-A"), Status: 401},
		{Name: "expired token is deleted", Method: "POST", Path: refreshPath, Body: body(expired, "HOST-C"), Status: 401,
			Check: func(t *testing.T, _ *apptest.Response) {
				if doc(expired) != nil {
					t.Error("expired refresh token not deleted")
				}
			}},
		{Name: "other machine", Method: "POST", Path: refreshPath, Body: body(good, "HOST-Z"), Status: 403, Check: unchanged(good, "HOST-A")},
		// The machine check comes before the completeness check (spec order).
		{Name: "other machine, incomplete doc", Method: "POST", Path: refreshPath, Body: body(noSite, "HOST-Z"), Status: 403},
		{Name: "no siteId", Method: "POST", Path: refreshPath, Body: body(noSite, "HOST-D"), Status: 401},
		{Name: "no version", Method: "POST", Path: refreshPath, Body: body(noVersion, "HOST-D"), Status: 401},
		{Name: "no agentUid", Method: "POST", Path: refreshPath, Body: body(noUID, "HOST-D"), Status: 401},
		{Name: "refresh", Method: "POST", Path: refreshPath, Body: body(good, "HOST-A"), Status: 200,
			Want: map[string]any{"expiresIn": 3600}, Absent: []string{"refreshToken"}, Check: refreshed(good, "HOST-A")},
		{Name: "again: not rotated", Method: "POST", Path: refreshPath, Body: body(good, "HOST-A"), Status: 200},
		{Name: "credentials are irrelevant", Method: "POST", Path: refreshPath, Cred: apptest.WithCookie(f.stranger.Cookie()), Body: body(good, "HOST-A"), Status: 200},
		{Name: "unexpired expiresAt", Method: "POST", Path: refreshPath, Body: body(future, "HOST-B"), Status: 200},
		{Name: "placeholder is rebound", Method: "POST", Path: refreshPath, Body: body(placeholder, "REAL-HOST"), Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				f.wantClaims(t, r.JSON["accessToken"].(string), f.site, "REAL-HOST", "2.0.0")
				if d := doc(placeholder); d["machineId"] != "REAL-HOST" || d["reboundFrom"] != "pending_oak_ivy_zoo" || !isTime(d["reboundAt"]) {
					t.Errorf("doc %v", d)
				}
			}},
		{Name: "rebound token is bound", Method: "POST", Path: refreshPath, Body: body(placeholder, "ANOTHER"), Status: 403, Check: unchanged(placeholder, "REAL-HOST")},
	})
}

// Two machines racing to rebind one placeholder token: one wins, the other
// gets 403 (the token is then bound to the winner).
func TestRefreshRebindRace(t *testing.T) {
	f := newFixture(t)
	tok := f.refreshToken(t, "pending_a_b_c", nil)
	rs := make(chan int, 2)
	for _, m := range []string{"M1", "M2"} {
		go func() {
			rs <- f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": tok, "machineId": m}, nil).StatusCode
		}()
	}
	got := map[int]int{<-rs: 1}
	got[<-rs]++
	if got[200] != 1 || got[403] != 1 {
		t.Fatalf("statuses %v, want one 200 and one 403", got)
	}
}

// DECISIONS §3: an upstream failure during refresh is 503, never 401/403,
// and leaves the token alone.
func TestRefreshTransientFailures(t *testing.T) {
	f := newFixture(t)
	tok := f.refreshToken(t, "HOST", nil)
	body := map[string]any{"refreshToken": tok, "machineId": "HOST"}
	check := func(t *testing.T, r *apptest.Response) {
		t.Helper()
		if r.StatusCode != 503 || r.JSON["error"] == nil {
			t.Fatalf("%d %s, want 503", r.StatusCode, r.Raw)
		}
		if d := f.Doc("agent_refresh_tokens/" + agenttoken.Hash(tok)); d == nil || d["machineId"] != "HOST" {
			t.Fatalf("token touched: %v", d)
		}
	}

	t.Run("identity toolkit 500 and closed connections", func(t *testing.T) {
		m := agenttoken.New(f.D)
		m.Base = failingToolkit(t)
		f.withMinter(m)
		check(t, f.Do("POST", refreshPath, nil, body, nil)) // connection closed
		check(t, f.Do("POST", refreshPath, nil, body, nil)) // HTTP 500
	})

	t.Run("firebase auth unreachable", func(t *testing.T) {
		dead := closingListener(t)
		t.Setenv("FIREBASE_AUTH_EMULATOR_HOST", dead)
		fb, err := firebase.NewApp(context.Background(), &firebase.Config{ProjectID: testenv.ProjectID})
		if err != nil {
			t.Fatal(err)
		}
		ac, err := fb.Auth(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m := agenttoken.New(f.D)
		m.Auth, m.Timeout = ac, 2*time.Second // the Admin SDK retries network errors for ~15 s
		f.withMinter(m)
		check(t, f.Do("POST", refreshPath, nil, body, nil))
	})

	t.Run("firestore unreachable", func(t *testing.T) {
		t.Setenv("FIRESTORE_EMULATOR_HOST", closingListener(t))
		fs, err := firestore.NewClient(context.Background(), f.Project)
		if err != nil {
			t.Fatal(err)
		}
		defer fs.Close()
		d, err := app.New(f.D.Config, app.Clients{Firestore: fs, Auth: f.D.Auth}, logging.New(io.Discard, nil), f.Clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		h := app.Build(d, Register)
		req := httptest.NewRequest("POST", refreshPath, strings.NewReader(`{"refreshToken":"`+tok+`","machineId":"HOST"}`))
		ctx, cancel := context.WithTimeout(req.Context(), 3*time.Second)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Code != 503 {
			t.Fatalf("%d %s, want 503", rec.Code, rec.Body)
		}
	})
	f.withMinter(agenttoken.New(f.D))
	if r := f.Do("POST", refreshPath, nil, body, nil); r.StatusCode != 200 {
		t.Fatalf("after the outage: %d %s", r.StatusCode, r.Raw)
	}
}

// closingListener accepts connections and closes them at once.
func closingListener(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// TestRefreshLimitsFollowTheToken: refresh is limited per token (120/h),
// not per address, behind a ceiling of AddressCeiling×120 per address, so
// a fleet behind one NAT keeps refreshing (DECISIONS §3 "Limits follow what
// they protect"), while one token refreshing in a loop is stopped.
func TestRefreshLimitsFollowTheToken(t *testing.T) {
	f := newFixture(t)
	nat := map[string]string{"X-Forwarded-For": "198.51.100.200"}
	// 150 machines behind one address (more than the original's 120/h per
	// address) each refresh once.
	for i := range 150 {
		machine := fmt.Sprintf("NAT-%03d", i)
		tok := f.refreshToken(t, machine, nil)
		if i%10 != 0 {
			continue // minting through the Auth emulator is slow: sample
		}
		r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": tok, "machineId": machine}, nat)
		if r.StatusCode != 200 {
			t.Fatalf("machine %d behind the NAT: %d %s", i, r.StatusCode, r.Raw)
		}
	}
	// Unknown tokens from that address cost no shared budget and are
	// refused in memory once the address ceiling is spent.
	limit := 120 * AddressCeiling
	for i := range limit {
		if r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": fmt.Sprint("guess-", i), "machineId": "X"}, map[string]string{"X-Forwarded-For": "198.51.100.201"}); r.StatusCode != 401 {
			t.Fatalf("guess %d: %d %s", i, r.StatusCode, r.Raw)
		}
	}
	if r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": "guess-x", "machineId": "X"}, map[string]string{"X-Forwarded-For": "198.51.100.201"}); r.StatusCode != 429 {
		t.Fatalf("guess past the address ceiling: %d %s", r.StatusCode, r.Raw)
	}
	// One token refreshing in a loop: 120 an hour, then 429 (which the
	// agent answers by backing off, keeping its credentials).
	tok := f.refreshToken(t, "LOOPER", nil)
	// Spend the token's hour through the same limiter the route uses.
	gate := f.D.Limiter.Gate(ratelimit.TokenRefresh, AddressCeiling)
	for i := range 120 {
		if err := gate.ChargeKey(context.Background(), httptest.NewRecorder(), "token:"+agenttoken.Hash(tok)); err != nil {
			t.Fatalf("charge %d: %v", i, err)
		}
	}
	r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": tok, "machineId": "LOOPER"}, nat)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("121st refresh of one token in an hour: %d %s", r.StatusCode, r.Raw)
	}
}
