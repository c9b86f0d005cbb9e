package agentauth

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
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

// TestRefreshLimitsFollowTheToken: refresh is limited per token and per
// machine (120/h each), not per address (DECISIONS §3 "Limits follow what
// they protect"): one token or machine refreshing in a loop is stopped, its
// neighbours behind the same address are not.
func TestRefreshLimitsFollowTheToken(t *testing.T) {
	f := newFixture(t)
	nat := map[string]string{"X-Forwarded-For": "198.51.100.200"}
	refresh := func(tok, machine string) *apptest.Response {
		t.Helper()
		return f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": tok, "machineId": machine}, nat)
	}
	gate := f.D.Limiter.Gate(ratelimit.TokenRefresh, AddressCeiling)
	spend := func(id string) { // a budget's hour, through the route's limiter
		t.Helper()
		for i := range 120 {
			if err := gate.ChargeKey(context.Background(), httptest.NewRecorder(), id); err != nil {
				t.Fatalf("charge %s %d: %v", id, i, err)
			}
		}
	}
	// One token refreshing in a loop: 120 an hour, then 429 (which the
	// agent answers by backing off, keeping its credentials).
	looper := f.refreshToken(t, "LOOPER", nil)
	spend("token:" + agenttoken.Hash(looper))
	r := refresh(looper, "LOOPER")
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || r.JSON["error"] != "Rate limit exceeded" {
		t.Fatalf("121st refresh of one token in an hour: %d %s", r.StatusCode, r.Raw)
	}
	// A machine's other tokens share its budget.
	old, current := f.refreshToken(t, "REPAIRED", nil), f.refreshToken(t, "REPAIRED", nil)
	spend("machine:" + agenttoken.UID(f.site, "REPAIRED"))
	if r := refresh(current, "REPAIRED"); r.StatusCode != 429 {
		t.Fatalf("a fresh token of a machine past its budget: %d %s", r.StatusCode, r.Raw)
	}
	if r := refresh(old, "REPAIRED"); r.StatusCode != 429 {
		t.Fatalf("another token of that machine: %d %s", r.StatusCode, r.Raw)
	}
	// Their neighbours behind the same address refresh.
	for _, m := range []string{"NEIGHBOUR-1", "NEIGHBOUR-2"} {
		if r := refresh(f.refreshToken(t, m, nil), m); r.StatusCode != 200 {
			t.Fatalf("%s behind the same address: %d %s", m, r.StatusCode, r.Raw)
		}
	}
}

// TestFiveHundredAgentsBehindOneAddress: a venue's 500 machines behind one
// NAT refresh their tokens at once, far past the original's 120 an hour per
// address, and every one gets 200: a valid refresh spends its token's and
// machine's budgets, never the address's. A flood of invalid tokens from one
// address is still refused, in memory once the address has failed
// AddressCeiling × 120 times in the hour, and costs no Firestore write.
func TestFiveHundredAgentsBehindOneAddress(t *testing.T) {
	f := newFixture(t)
	const agents, workers = 500, 32
	nat := map[string]string{"X-Forwarded-For": "203.0.113.150"}
	type agent struct{ machine, token string }
	fleet := make([]agent, agents)
	bw := f.FS.BulkWriter(context.Background())
	for i := range fleet {
		machine := fmt.Sprintf("VENUE-%03d", i)
		tok, ref, err := agenttoken.NewRefreshToken(f.FS)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bw.Set(ref, agenttoken.RefreshData(agenttoken.NewIdentity(f.site, machine, "2.0.0"), f.member.UID)); err != nil {
			t.Fatal(err)
		}
		fleet[i] = agent{machine, tok}
	}
	bw.End()

	// run sends n requests from workers goroutines and counts the statuses.
	run := func(n int, req func(i int) *apptest.Response) map[int]int {
		var mu sync.Mutex
		got := map[int]int{}
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := range next {
					r := req(i)
					mu.Lock()
					got[r.StatusCode]++
					mu.Unlock()
					if r.StatusCode != 200 && r.StatusCode != 401 && r.StatusCode != 429 {
						t.Errorf("request %d: %d %s", i, r.StatusCode, r.Raw)
					}
				}
			})
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		return got
	}

	f.RPCs.Reset()
	start := time.Now()
	got := run(agents, func(i int) *apptest.Response {
		a := fleet[i]
		return f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": a.token, "machineId": a.machine}, nat)
	})
	took := time.Since(start)
	if got[200] != agents {
		t.Fatalf("%d agents behind one address: statuses %v, want %d × 200", agents, got, agents)
	}
	t.Logf("%d agents behind one address refreshed in %v: statuses %v; per refresh %.1f read and %.1f write RPCs (token, two budgets, lastUsed)",
		agents, took.Round(time.Millisecond), got, float64(f.RPCs.Reads())/agents, float64(f.RPCs.Writes())/agents)

	// A few revoked tokens from the same address (agents that will
	// re-pair) do not stop the others.
	for i := range 20 {
		if r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": fmt.Sprint("revoked-", i), "machineId": "GONE"}, nat); r.StatusCode != 401 {
			t.Fatalf("revoked %d: %d %s", i, r.StatusCode, r.Raw)
		}
	}
	if r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": fleet[0].token, "machineId": fleet[0].machine}, nat); r.StatusCode != 200 {
		t.Fatalf("an agent after its neighbours' failures: %d %s", r.StatusCode, r.Raw)
	}

	// A flood of guessed tokens from another address: each costs at most
	// the lookup of its token until the address's ceiling of failures is
	// spent, then nothing; never a write.
	flooder := map[string]string{"X-Forwarded-For": "203.0.113.151"}
	ceiling := 120 * AddressCeiling
	f.RPCs.Reset()
	start = time.Now()
	got = run(ceiling+500, func(i int) *apptest.Response {
		return f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": fmt.Sprint("guess-", i), "machineId": "X"}, flooder)
	})
	// Requests in flight when the ceiling is reached still get their 401.
	if got[401] < ceiling || got[401] > ceiling+workers || got[401]+got[429] != ceiling+500 {
		t.Fatalf("flood of %d guesses: statuses %v, want %d (+ up to %d in flight) × 401, then 429", ceiling+500, got, ceiling, workers)
	}
	if w := f.RPCs.Writes(); w != 0 {
		t.Fatalf("the flood made %d write RPCs: %v", w, f.RPCs.Snapshot())
	}
	if reads := f.RPCs.Reads(); reads > got[401] {
		t.Fatalf("the flood made %d read RPCs for %d lookups", reads, got[401])
	}
	t.Logf("flood of %d guessed tokens from one address in %v: statuses %v, %d read and %d write RPCs",
		ceiling+500, time.Since(start).Round(time.Millisecond), got, f.RPCs.Reads(), f.RPCs.Writes())
	// The fleet's address is another address.
	if r := f.Do("POST", refreshPath, nil, map[string]any{"refreshToken": fleet[1].token, "machineId": fleet[1].machine}, nat); r.StatusCode != 200 {
		t.Fatalf("the fleet during another address's flood: %d %s", r.StatusCode, r.Raw)
	}
}

// TestManyAgentsPollingFromOneAddress: agents installed at once behind one
// address poll their device codes every 5 s; each poll of a real device
// code spends that code's budget, not the address's, so more polls than the
// original's 300 an hour per address all get their 202.
func TestManyAgentsPollingFromOneAddress(t *testing.T) {
	f := newFixture(t)
	const agents, rounds = 100, 5
	codes := make([]string, agents)
	for i := range codes {
		r := f.Do("POST", devicePath, nil, map[string]any{"machineId": fmt.Sprintf("NEW-%03d", i), "version": "2.0.0"}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("device code %d: %d %s", i, r.StatusCode, r.Raw)
		}
		codes[i] = r.JSON["deviceCode"].(string)
	}
	nat := map[string]string{"X-Forwarded-For": "203.0.113.160"}
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for round := range rounds {
		for i, c := range codes {
			wg.Go(func() {
				r := f.Do("POST", pollPath, nil, map[string]any{"deviceCode": c}, nat)
				mu.Lock()
				got[r.StatusCode]++
				mu.Unlock()
				if r.StatusCode != 202 {
					t.Errorf("round %d, agent %d: %d %s", round, i, r.StatusCode, r.Raw)
				}
			})
		}
		wg.Wait()
	}
	t.Logf("%d agents × %d polls from one address: statuses %v", agents, rounds, got)
}
