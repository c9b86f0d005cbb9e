package sim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI answers the agent endpoints from scripted status sequences, to
// test the agent's reaction to each status without a real server.
type fakeAPI struct {
	mu      sync.Mutex
	polls   []int // statuses to answer poll with, in order (last repeats)
	refresh []int
	calls   map[string]int
	bodies  map[string][]map[string]any
	headers map[string][]http.Header
}

func newFakeAPI(t *testing.T) (*fakeAPI, string) {
	f := &fakeAPI{calls: map[string]int{}, bodies: map[string][]map[string]any{}, headers: map[string][]http.Header{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv.URL + "/api"
}

func (f *fakeAPI) next(list *[]int) int {
	s := (*list)[0]
	if len(*list) > 1 {
		*list = (*list)[1:]
	}
	return s
}

func (f *fakeAPI) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func (f *fakeAPI) body(path string, i int) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[path][i]
}

func (f *fakeAPI) header(path string, i int) http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.headers[path][i]
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	p := strings.TrimPrefix(r.URL.Path, "/api")
	f.calls[p]++
	f.bodies[p] = append(f.bodies[p], body)
	f.headers[p] = append(f.headers[p], r.Header.Clone())
	w.Header().Set("Content-Type", "application/json")
	reply := func(status int, v any) { w.WriteHeader(status); _ = json.NewEncoder(w).Encode(v) }
	switch p {
	case "/agent/auth/device-code":
		reply(200, map[string]any{"pairPhrase": "alpha-bravo-charlie", "deviceCode": strings.Repeat("d", 86),
			"verificationUri": "http://x/add", "pairingUrl": "http://x/add?code=alpha-bravo-charlie", "expiresIn": 600, "interval": 5})
	case "/agent/auth/device-code/poll":
		switch s := f.next(&f.polls); s {
		case 200:
			reply(200, map[string]any{"accessToken": "at-1", "refreshToken": "rt-1", "expiresIn": 3600, "siteId": "site-a"})
		case 202:
			reply(202, map[string]any{"status": "pending"})
		case 410:
			reply(410, map[string]any{"error": "expired"})
		default:
			reply(s, map[string]any{"error": "Unknown or already used pair phrase or device code"})
		}
	case "/agent/auth/refresh":
		switch s := f.next(&f.refresh); s {
		case 200:
			reply(200, map[string]any{"accessToken": "at-refreshed", "expiresIn": 3600})
		default:
			reply(s, map[string]any{"error": http.StatusText(s)})
		}
	default:
		reply(404, map[string]any{"error": "Not found"})
	}
}

func fakeConfig(api string, ev *events) Config {
	c := Defaults("SIM-FAKE")
	c.API = api
	c.Scale = 1000 // poll 5 s → 5 ms; refresh backoff 120/240/300 s → 120/240/300 ms
	c.Log = discardLogger
	if ev != nil {
		c.OnEvent = ev.on
	}
	return c
}

// TestPairStatuses: 202 keeps polling, 200 gives tokens, 410 is expiry, any
// other status aborts with the body's error; a failing authorizer aborts.
func TestPairStatuses(t *testing.T) {
	ctx := bg()
	t.Run("202 then 200", func(t *testing.T) {
		f, api := newFakeAPI(t)
		f.polls = []int{202, 202, 200}
		var phrase string
		creds, err := Pair(ctx, fakeConfig(api, nil), func(_ context.Context, p string) error { phrase = p; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if creds.AccessToken != "at-1" || creds.RefreshToken != "rt-1" || creds.SiteID != "site-a" || creds.MachineID != "SIM-FAKE" {
			t.Errorf("creds = %+v", creds)
		}
		if phrase != "alpha-bravo-charlie" || f.count("/agent/auth/device-code/poll") != 3 {
			t.Errorf("phrase %q, polls %d", phrase, f.count("/agent/auth/device-code/poll"))
		}
		if b := f.body("/agent/auth/device-code", 0); b["machineId"] != "SIM-FAKE" || b["version"] != "2.6.0" {
			t.Errorf("device-code body = %v", b)
		}
		if b := f.body("/agent/auth/device-code/poll", 0); b["deviceCode"] != strings.Repeat("d", 86) {
			t.Errorf("poll body = %v", b)
		}
		// Expiry comes from expiresIn (scaled): 3600 s / 1000.
		if left := time.Until(creds.Expiry); left < 3*time.Second || left > 4*time.Second {
			t.Errorf("expiry in %s", left)
		}
	})
	t.Run("410 expired", func(t *testing.T) {
		f, api := newFakeAPI(t)
		f.polls = []int{202, 410}
		if _, err := Pair(ctx, fakeConfig(api, nil), nil); !errors.Is(err, ErrPairingExpired) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("404 aborts with the error", func(t *testing.T) {
		f, api := newFakeAPI(t)
		f.polls = []int{404}
		_, err := Pair(ctx, fakeConfig(api, nil), nil)
		if APIStatus(err) != 404 || !strings.Contains(err.Error(), "Unknown or already used") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("authorizer fails", func(t *testing.T) {
		f, api := newFakeAPI(t)
		f.polls = []int{202}
		boom := errors.New("boom")
		_, err := Pair(ctx, fakeConfig(api, nil), func(context.Context, string) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestRefreshReactions: 429/5xx keep the credentials and back off 120,
// 240, 300 s (scaled); 200 updates the token; 401 and 403 wipe everything
// and stop the agent.
func TestRefreshReactions(t *testing.T) {
	f, api := newFakeAPI(t)
	f.refresh = []int{503, 500, 429, 200}
	ev := newEvents()
	a := New(fakeConfig(api, ev), &Credentials{SiteID: "site-a", RefreshToken: "rt-1", AccessToken: "at-1", Expiry: time.Now().Add(-time.Second)})
	ctx := bg()
	refreshes := func() int { return f.count("/agent/auth/refresh") }

	for i, wantWait := range []time.Duration{120 * time.Millisecond, 240 * time.Millisecond, 300 * time.Millisecond} {
		start := time.Now()
		if _, err := a.Token(ctx); !errors.Is(err, ErrNoToken) {
			t.Fatalf("attempt %d: err = %v, want ErrNoToken", i, err)
		}
		ev.wait(t, EventRefreshFailed, "", time.Second)
		if refreshes() != i+1 || a.Wiped() {
			t.Fatalf("attempt %d: %d refreshes, wiped %t", i, refreshes(), a.Wiped())
		}
		// Within the backoff nothing is sent.
		if _, err := a.Token(ctx); !errors.Is(err, ErrNoToken) || refreshes() != i+1 {
			t.Fatalf("attempt %d: refreshed during backoff (%v)", i, err)
		}
		time.Sleep(wantWait - time.Since(start) + 10*time.Millisecond)
	}
	tok, err := a.Token(ctx)
	if err != nil || tok != "at-refreshed" {
		t.Fatalf("after backoff: %q %v", tok, err)
	}
	ev.wait(t, EventRefreshed, "", time.Second)
	h := f.header("/agent/auth/refresh", 0)
	if h.Get("User-Agent") != "Owlette-Agent/2.6.0 (Windows; SIM-FAKE)" || h.Get("X-Owlette-Agent-Version") != "2.6.0" {
		t.Errorf("headers = %v", h)
	}
	if b := f.body("/agent/auth/refresh", 0); b["refreshToken"] != "rt-1" || b["machineId"] != "SIM-FAKE" || len(b) != 2 {
		t.Errorf("body = %v", b)
	}
	// The new token is used without another refresh while it is fresh.
	n := refreshes()
	if tok, _ := a.Token(ctx); tok != "at-refreshed" || refreshes() != n {
		t.Errorf("refreshed again while valid")
	}

	for _, status := range []int{401, 403} {
		f.mu.Lock()
		f.refresh = []int{status}
		f.mu.Unlock()
		a := New(fakeConfig(api, ev), &Credentials{SiteID: "site-a", RefreshToken: "rt-1", AccessToken: "at-1", Expiry: time.Now().Add(time.Hour)})
		runCtx, cancel := context.WithCancel(ctx)
		a.stop = func(error) { cancel() }
		a.ExpireSoon()
		if _, err := a.Token(runCtx); !errors.Is(err, ErrUnpaired) {
			t.Fatalf("%d: err = %v", status, err)
		}
		ev.wait(t, EventCredsWiped, "", time.Second)
		if c := a.Credentials(); !a.Wiped() || c.RefreshToken != "" || c.AccessToken != "" || c.SiteID != "" {
			t.Errorf("%d: not wiped: %+v", status, c)
		}
		if runCtx.Err() == nil {
			t.Errorf("%d: agent not stopped", status)
		}
		if err := a.Run(ctx); !errors.Is(err, ErrUnpaired) {
			t.Errorf("%d: Run on wiped credentials = %v", status, err)
		}
	}
}
