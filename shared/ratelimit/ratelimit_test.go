package ratelimit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/owlette/server/shared/testenv"
)

// clock is an injectable, settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// hour is a full UTC hour: 1 h windows start on it, 60 s windows too.
var hour = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newLimiter uses a long lease timeout: the emulator on a loaded machine can
// be slow, and fail-open is tested on its own.
func newLimiter(fs *firestore.Client, clk *clock, dev bool) *Limiter {
	return New(fs, Options{Dev: dev, Now: clk.Now, Logger: quiet(), LeaseTimeout: 20 * time.Second})
}

// secondClient opens another client on the same emulator project, standing in
// for a second Cloud Function instance.
func secondClient(t testing.TB, project string) *firestore.Client {
	t.Helper()
	c, err := firestore.NewClient(context.Background(), project)
	if err != nil {
		t.Fatalf("firestore client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestFixedWindowAcrossInstances(t *testing.T) {
	fsA, project := testenv.Firestore(t)
	fsB := secondClient(t, project)
	ctx := context.Background()

	tests := []struct {
		class      Class
		dev        bool
		limit      int
		concurrent bool
	}{
		{AgentAlert, false, 5, false},
		{ProcessAlert, false, 3, false},
		{Upload, false, 5, false},
		{Upload, true, 30, false},
		{User, false, 60, false},
		{API, false, 300, false},
		{API, false, 300, true},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%s/dev=%v/concurrent=%v", tc.class, tc.dev, tc.concurrent)
		t.Run(name, func(t *testing.T) {
			start := hour.Add(17*time.Minute + 123*time.Millisecond)
			windowEnd := hour.Add(time.Hour)
			clk := newClock(start)
			a, b := newLimiter(fsA, clk, tc.dev), newLimiter(fsB, clk, tc.dev)
			id := testenv.UniqueID("198.51.100.")

			// run sends n requests alternating between the two instances
			// and returns how many were allowed.
			run := func(n int) int {
				var allowed atomic.Int64
				check := func(d Decision) {
					if d.Limit != tc.limit {
						t.Errorf("Limit = %d, want %d", d.Limit, tc.limit)
					}
					if !d.Reset.Equal(clk.Now().Truncate(time.Hour).Add(time.Hour)) {
						t.Errorf("Reset = %v, want end of the aligned hour", d.Reset)
					}
					if d.Allowed {
						allowed.Add(1)
					}
				}
				if !tc.concurrent {
					for i := range n {
						l := a
						if i%2 == 1 {
							l = b
						}
						check(l.Allow(ctx, tc.class, id))
					}
					return int(allowed.Load())
				}
				var wg sync.WaitGroup
				for g := range 8 {
					l := a
					if g%2 == 1 {
						l = b
					}
					wg.Go(func() {
						for range n / 8 {
							check(l.Allow(ctx, tc.class, id))
						}
					})
				}
				wg.Wait()
				return int(allowed.Load())
			}

			if got := run(3 * tc.limit); got != tc.limit {
				t.Fatalf("allowed %d of %d requests across two instances, want exactly %d", got, 3*tc.limit, tc.limit)
			}
			for _, l := range []*Limiter{a, b} {
				if d := l.Allow(ctx, tc.class, id); d.Allowed || d.Remaining != 0 || !d.Reset.Equal(windowEnd) {
					t.Fatalf("after the limit: %+v, want rejected, remaining 0, reset %v", d, windowEnd)
				}
			}
			clk.Set(windowEnd.Add(-time.Millisecond))
			if d := b.Allow(ctx, tc.class, id); d.Allowed {
				t.Fatalf("1 ms before the aligned boundary: allowed, want rejected")
			}
			// Rollover at the aligned boundary restores the full budget.
			clk.Set(windowEnd)
			if got := run(3 * tc.limit); got != tc.limit {
				t.Fatalf("next window: allowed %d, want %d", got, tc.limit)
			}
			t.Logf("2 windows of 3×limit requests: %d leases, %d writes, %d conflicts retried",
				a.leases.Load()+b.leases.Load(), a.leaseWrites.Load()+b.leaseWrites.Load(), a.conflicts.Load()+b.conflicts.Load())
			if fails := a.failures.Load() + b.failures.Load(); fails != 0 {
				t.Fatalf("%d lease failures", fails)
			}
		})
	}
}

// TestLeaseConflict makes another instance write between a lease's read and
// its conditional write: the write must fail and be retried on fresh data, for
// a missing document (Create) and an existing one (Update).
func TestLeaseConflict(t *testing.T) {
	fs, project := testenv.Firestore(t)
	ctx := context.Background()
	for _, class := range []Class{API, TokenRefresh, AgentAlert} {
		t.Run(string(class), func(t *testing.T) {
			cfg := classes(false)[class]
			clk := newClock(hour.Add(time.Second))
			a := newLimiter(fs, clk, false)
			b := newLimiter(secondClient(t, project), clk, false)
			id := testenv.UniqueID("198.51.100.")
			interfere, allowed := 0, 0
			a.beforeWrite = func() {
				if interfere > 0 {
					interfere--
					if b.Allow(ctx, class, id).Allowed {
						allowed++
					}
				}
			}
			for i := range 2 * cfg.limit {
				interfere = min(i%3, 2) // 0, 1 or 2 competing writes
				if a.Allow(ctx, class, id).Allowed {
					allowed++
				}
			}
			for b.Allow(ctx, class, id).Allowed { // spend what b still holds
				allowed++
			}
			if allowed != cfg.limit {
				t.Fatalf("allowed %d in total, want %d", allowed, cfg.limit)
			}
			if a.conflicts.Load() == 0 {
				t.Fatalf("no conflict happened")
			}
			// Ask Firestore what was granted: exactly the limit.
			snap, err := fs.Collection(Collection).Doc(DocID(cfg.prefix, id)).Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var d doc
			if err := snap.DataTo(&d); err != nil {
				t.Fatal(err)
			}
			if d.Count != int64(cfg.limit) {
				t.Fatalf("stored count %d, want %d", d.Count, cfg.limit)
			}
			t.Logf("a: %d leases, %d conflicts retried; b: %d leases", a.leases.Load(), a.conflicts.Load(), b.leases.Load())
		})
	}
}

func TestSlidingWindowWeighting(t *testing.T) {
	fs, project := testenv.Firestore(t)
	fsB := secondClient(t, project)
	ctx := context.Background()

	tests := []struct {
		name  string
		class Class
		used  int     // requests sent early in window n
		at    float64 // then this fraction into window n+skip
		skip  int64
		want  int // allowed there
	}{
		{"auth 50% into next window: half of prev counts", Auth, 10, 0.5, 1, 5},
		{"auth at the boundary prev counts fully", Auth, 10, 0, 1, 0},
		{"auth 75%: a quarter of prev counts", Auth, 10, 0.75, 1, 8},
		{"auth 90%: floor(10*0.1)=1", Auth, 10, 0.9, 1, 9},
		{"auth rejected requests are not counted", Auth, 25, 0.5, 1, 5},
		{"auth partial use", Auth, 4, 0.5, 1, 8},
		{"auth two windows later prev is empty", Auth, 10, 0.1, 2, 10},
		// 40 requests lease 1+2+4+8+15+15 = 45 tokens; the 5 unspent ones are
		// given back with the next lease, so prev = 40 and 20 still count.
		{"tokenRefresh unspent lease refunded", TokenRefresh, 40, 0.5, 1, 100},
		{"tokenRefresh full", TokenRefresh, 120, 0.25, 1, 30},
		{"tokenExchange 60/h", TokenExchange, 60, 0.5, 1, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := classes(false)[tc.class]
			window := time.Duration(cfg.windowMs) * time.Millisecond
			clk := newClock(hour.Add(window / 10))
			l := newLimiter(fs, clk, false)
			id := testenv.UniqueID("2001:db8::")

			allowed := 0
			for range tc.used {
				if l.Allow(ctx, tc.class, id).Allowed {
					allowed++
				}
			}
			if want := min(tc.used, cfg.limit); allowed != want {
				t.Fatalf("window n: allowed %d, want %d", allowed, want)
			}

			winStart := hour.Add(time.Duration(tc.skip) * window)
			clk.Set(winStart.Add(time.Duration(tc.at * float64(window))))
			allowed = 0
			for i := range cfg.limit + 5 {
				d := l.Allow(ctx, tc.class, id)
				if d.Allowed {
					if allowed != i {
						t.Fatalf("request %d allowed after a rejection", i)
					}
					allowed++
				} else if !d.Reset.Equal(winStart.Add(window)) {
					t.Fatalf("Reset = %v, want %v", d.Reset, winStart.Add(window))
				}
			}
			if allowed != tc.want {
				t.Fatalf("allowed %d at %.0f%% of window n+%d, want %d", allowed, tc.at*100, tc.skip, tc.want)
			}
			// Another instance sees the same weighted state.
			if d := newLimiter(fsB, clk, false).Allow(ctx, tc.class, id); d.Allowed {
				t.Fatalf("second instance allowed after the budget was used")
			}
		})
	}
}

func TestLeaseWritesAmortised(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	ctx := context.Background()

	tests := []struct {
		name      string
		class     Class
		windows   int // consecutive windows
		perWindow int // requests per window, all within budget
		maxWrites int64
	}{
		{"api 300 in one window", API, 1, 300, 14},
		{"api 300 per window, 3 windows", API, 3, 300, 3 * 14},
		{"user 60 in one window", User, 1, 60, 12},
		{"tokenRefresh 120 in one window", TokenRefresh, 1, 120, 12},
		{"casual api caller: 1 per window", API, 5, 1, 5},
		{"api 3 per window", API, 4, 3, 8},
		{"auth 10: one token per lease", Auth, 1, 10, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := classes(false)[tc.class]
			window := time.Duration(cfg.windowMs) * time.Millisecond
			clk := newClock(hour)
			l := newLimiter(fs, clk, false)
			id := testenv.UniqueID("192.0.2.")
			for w := range tc.windows {
				ws := hour.Add(time.Duration(w) * window)
				for i := range tc.perWindow {
					clk.Set(ws.Add(time.Duration(i) * window / time.Duration(tc.perWindow+1)))
					d := l.Allow(ctx, tc.class, id)
					if !d.Allowed {
						t.Fatalf("window %d request %d rejected", w, i)
					}
					// Single instance: the remaining count is exact.
					if want := cfg.limit - i - 1; d.Remaining != want {
						t.Fatalf("window %d request %d: Remaining = %d, want %d", w, i, d.Remaining, want)
					}
				}
			}
			writes, leases := l.leaseWrites.Load(), l.leases.Load()
			t.Logf("%d requests: %d leases, %d writes", tc.windows*tc.perWindow, leases, writes)
			if writes > tc.maxWrites {
				t.Fatalf("%d writes for %d requests, want ≤ %d", writes, tc.windows*tc.perWindow, tc.maxWrites)
			}
			if tc.perWindow == cfg.limit {
				if l.Allow(ctx, tc.class, id).Allowed {
					t.Fatalf("request over the limit allowed")
				}
				if l.leaseWrites.Load() != writes {
					t.Fatalf("a rejected lease wrote to Firestore")
				}
			}
		})
	}
}

func TestBlockedRejectedLocally(t *testing.T) {
	fs, project := testenv.Firestore(t)
	ctx := context.Background()
	tests := []struct {
		class Class
		limit int
	}{
		{AgentAlert, 5},
		{Auth, 10},
		{API, 300},
	}
	for _, tc := range tests {
		t.Run(string(tc.class), func(t *testing.T) {
			cfg := classes(false)[tc.class]
			window := time.Duration(cfg.windowMs) * time.Millisecond
			clk := newClock(hour.Add(window / 3))
			reset := hour.Add(window)
			l := newLimiter(fs, clk, false)
			id := testenv.UniqueID("203.0.113.")
			for i := range tc.limit {
				if !l.Allow(ctx, tc.class, id).Allowed {
					t.Fatalf("request %d rejected", i)
				}
			}
			if d := l.Allow(ctx, tc.class, id); d.Allowed || d.Remaining != 0 || d.Limit != tc.limit || !d.Reset.Equal(reset) {
				t.Fatalf("over the limit: %+v", d)
			}
			leases := l.leases.Load()
			for _, at := range []time.Duration{window / 3, window / 2, window - time.Millisecond} {
				clk.Set(hour.Add(at))
				for range 50 {
					if d := l.Allow(ctx, tc.class, id); d.Allowed || !d.Reset.Equal(reset) {
						t.Fatalf("blocked identifier: %+v", d)
					}
				}
			}
			if got := l.leases.Load(); got != leases {
				t.Fatalf("blocked identifier cost %d Firestore transactions, want 0", got-leases)
			}
			// The block is per instance: another instance asks Firestore
			// once (a read-only transaction), then blocks too.
			other := newLimiter(secondClient(t, project), clk, false)
			for range 3 {
				if other.Allow(ctx, tc.class, id).Allowed {
					t.Fatalf("second instance allowed")
				}
			}
			if other.leases.Load() != 1 || other.leaseWrites.Load() != 0 {
				t.Fatalf("second instance: %d transactions, %d writes; want 1, 0", other.leases.Load(), other.leaseWrites.Load())
			}
			// At reset the local block ends: Firestore decides again. A fixed
			// window starts empty; a sliding one still weighs the full
			// previous window at its first instant.
			clk.Set(reset)
			if got, want := l.Allow(ctx, tc.class, id).Allowed, cfg.algo == fixed; got != want {
				t.Fatalf("at reset: allowed = %v, want %v", got, want)
			}
			if got := l.leases.Load(); got != leases+1 {
				t.Fatalf("at reset: %d transactions, want 1", got-leases)
			}
		})
	}
}

func TestDocID(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct{ prefix, id, want string }{
		{"api-ops", "203.0.113.9", "api-ops:203.0.113.9"},
		{"auth", "2001:db8::1", "auth:2001:db8::1"},
		{"upload", "a/b", "upload:a%2Fb"},
		{"upload", "..", "upload:.."},
		{"process-alert", "process_alert:m1:chrome.exe", "process-alert:process_alert:m1:chrome.exe"},
		{"process-alert", "process_alert:m1:My App", "process-alert:process_alert:m1:My%20App"},
		{"api-ops", "#x", "api-ops:%23x"},
	}
	for _, tc := range tests {
		if got := DocID(tc.prefix, tc.id); got != tc.want {
			t.Errorf("DocID(%q, %q) = %q, want %q", tc.prefix, tc.id, got, tc.want)
		}
	}
	if got := DocID("api-ops", long); !strings.HasPrefix(got, "api-ops:#") || len(got) != len("api-ops:#")+64 {
		t.Errorf("long id: %q", got)
	}

	// Awkward identifiers work against Firestore.
	fs, _ := testenv.Firestore(t)
	l := newLimiter(fs, newClock(hour), false)
	for _, id := range []string{"a/b/c", "__x__", "..", long, "ünïcödé", ""} {
		if d := l.Allow(context.Background(), API, id); !d.Allowed || d.Limit != 300 {
			t.Errorf("id %q: %+v", id, d)
		}
	}
	if n := l.failures.Load(); n != 0 {
		t.Fatalf("%d lease failures", n)
	}
}

func TestFailOpen(t *testing.T) {
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("FIRESTORE_EMULATOR_HOST", addr)
	fs, err := firestore.NewClient(context.Background(), "demo-unreachable")
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()

	var logs bytes.Buffer
	clk := newClock(hour.Add(time.Minute))
	l := New(fs, Options{Now: clk.Now, LeaseTimeout: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()

	began := time.Now()
	d := l.Allow(ctx, API, "198.51.100.1")
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("fail-open took %v", took)
	}
	if !d.Allowed || d.Limit != 0 {
		t.Fatalf("unreachable Firestore: %+v, want allowed with Limit 0", d)
	}
	if l.failures.Load() != 1 || !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "fail open") {
		t.Fatalf("failures=%d, log %q", l.failures.Load(), logs.String())
	}

	// For the next 5 s, no further Firestore attempts: every class allowed.
	for _, c := range []Class{API, Auth, AgentAlert, Upload} {
		for range 20 {
			if !l.Allow(ctx, c, "198.51.100.2").Allowed {
				t.Fatalf("%s rejected while degraded", c)
			}
		}
	}
	if n := l.leases.Load(); n != 1 {
		t.Fatalf("%d lease attempts while degraded, want 1", n)
	}

	// After the 5 s back-off Firestore is tried again (and fails open again).
	clk.Set(hour.Add(time.Minute + 5*time.Second))
	if !l.Allow(ctx, API, "198.51.100.3").Allowed || l.leases.Load() != 2 || l.failures.Load() != 2 {
		t.Fatalf("after back-off: leases %d failures %d", l.leases.Load(), l.failures.Load())
	}
}

func TestClassTable(t *testing.T) {
	want := map[bool]map[Class]string{
		false: {Auth: "sliding 10/60000 auth", TokenExchange: "sliding 60/3600000 token-exchange", TokenRefresh: "sliding 120/3600000 token-refresh",
			User: "fixed 60/3600000 user-ops", AgentAlert: "fixed 5/3600000 agent-alert", Upload: "fixed 5/3600000 upload",
			API: "fixed 300/3600000 api-ops", ProcessAlert: "fixed 3/3600000 process-alert",
			authUser: "sliding 600/3600000 auth-user"},
	}
	want[true] = map[Class]string{}
	for c, s := range want[false] {
		want[true][c] = s
	}
	want[true][TokenExchange] = "sliding 200/3600000 token-exchange"
	want[true][Upload] = "fixed 30/3600000 upload"
	for _, dev := range []bool{false, true} {
		got := classes(dev)
		if len(got) != len(want[dev]) {
			t.Fatalf("dev=%v: %d classes", dev, len(got))
		}
		for c, w := range want[dev] {
			cfg := got[c]
			algo := map[algorithm]string{fixed: "fixed", sliding: "sliding"}[cfg.algo]
			if s := fmt.Sprintf("%s %d/%d %s", algo, cfg.limit, cfg.windowMs, cfg.prefix); s != w {
				t.Errorf("dev=%v %s: %s, want %s", dev, c, s, w)
			}
		}
	}
	if d := New(nil, Options{}).Allow(context.Background(), None, "x"); !d.Allowed || d.Limit != 0 {
		t.Errorf("None: %+v", d)
	}
}

// BenchmarkAllowHot measures the steady-state path: the identifier holds
// leased tokens, so Allow touches only memory.
func BenchmarkAllowHot(b *testing.B) {
	fs, _ := testenv.Firestore(b)
	l := New(fs, Options{Logger: quiet()})
	ctx := context.Background()
	const id = "198.51.100.77"
	if !l.Allow(ctx, API, id).Allowed { // a real lease
		b.Fatal("first request rejected")
	}
	l.mu.Lock()
	l.entries[key{API, id}].tokens = 1 << 40 // as if leased a huge batch
	l.mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if !l.Allow(ctx, API, id).Allowed {
			b.Fatal("rejected")
		}
	}
	b.StopTimer()
	if n := l.leases.Load(); n != 1 {
		b.Fatalf("%d leases", n)
	}
}

// BenchmarkAllowHotParallel: the same, from all cores on many identifiers.
func BenchmarkAllowHotParallel(b *testing.B) {
	fs, _ := testenv.Firestore(b)
	l := New(fs, Options{Logger: quiet()})
	ctx := context.Background()
	ids := make([]string, 64)
	for i := range ids {
		ids[i] = "198.51.100." + strconv.Itoa(i)
		l.Allow(ctx, API, ids[i])
		l.mu.Lock()
		l.entries[key{API, ids[i]}].tokens = 1 << 40
		l.mu.Unlock()
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids[next.Add(1)%int64(len(ids))]
		for pb.Next() {
			if !l.Allow(ctx, API, id).Allowed {
				b.Error("rejected")
				return
			}
		}
	})
}
