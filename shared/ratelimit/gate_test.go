package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/web"
)

func statusOf(err error) int {
	if err == nil {
		return 200
	}
	var e *web.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 500
}

// TestGateEnterIsMemoryOnly: the per-address budget of callers who have not
// proved who they are is kept in memory: refusing them costs no Firestore
// document, and each address is counted apart.
func TestGateEnterIsMemoryOnly(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	clk := newClock(hour.Add(10*time.Minute + 500*time.Millisecond))
	l := newLimiter(fs, clk, false)
	g := l.Gate(ProcessAlert, 1) // 3 per hour
	reset := strconv.FormatInt(hour.Add(time.Hour).UnixMilli(), 10)
	for i, want := range []int{200, 200, 200, 429, 429} {
		w := httptest.NewRecorder()
		err := g.Enter(w, "203.0.113.7")
		if got := statusOf(err); got != want {
			t.Fatalf("request %d: %d, want %d", i, got, want)
		}
		h := w.Header()
		if h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Reset") != reset || h.Get("RateLimit-Policy") != "3;w=3600" {
			t.Errorf("request %d headers: %v", i, h)
		}
		if want == 429 {
			if h.Get("Retry-After") != "3000" {
				t.Errorf("Retry-After = %q, want 3000", h.Get("Retry-After"))
			}
			e := web.AsError(err)
			if e.Message != "Rate limit exceeded" || e.Fields["retryAfter"] != int64(3000) || e.Fields["message"] != "Too many requests. Please try again in 3000 seconds." {
				t.Errorf("429 body: %+v", e)
			}
		} else if h.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Errorf("remaining %q at %d", h.Get("X-RateLimit-Remaining"), i)
		}
	}
	if err := g.Enter(httptest.NewRecorder(), "203.0.113.8"); err != nil {
		t.Fatalf("another address shares the budget: %v", err)
	}
	if n := l.leases.Load(); n != 0 {
		t.Fatalf("Enter made %d Firestore leases", n)
	}
	if snaps, _ := fs.Collection(Collection).Documents(context.Background()).GetAll(); len(snaps) != 0 {
		t.Fatalf("Enter wrote %d documents", len(snaps))
	}
	// A factor above 1 declares a route limited per token or device: its
	// address ceiling (×10 here) counts failed requests only.
	wide := l.Gate(ProcessAlert, 10)
	for i := range 100 {
		if err := wide.Enter(httptest.NewRecorder(), "203.0.113.9"); err != nil {
			t.Fatalf("request %d on a per-key route was refused by its address: %v", i, err)
		}
	}
	for range 30 {
		wide.Failed(context.Background(), "203.0.113.9", false)
	}
	if err := wide.Enter(httptest.NewRecorder(), "203.0.113.9"); statusOf(err) != 429 {
		t.Fatalf("after 30 failures under a ×10 ceiling: %v", err)
	}
	if n := l.leases.Load(); n != 0 {
		t.Fatalf("the address ceiling made %d Firestore leases", n)
	}
}

// TestGateChargeIsShared: authenticated callers spend the Firestore budget,
// which two instances share.
func TestGateChargeIsShared(t *testing.T) {
	fs, project := testenv.Firestore(t)
	clk := newClock(hour.Add(time.Minute))
	a := newLimiter(fs, clk, false).Gate(ProcessAlert, 1)
	b := newLimiter(secondClient(t, project), clk, false).Gate(ProcessAlert, 1)
	ctx := context.Background()
	allowed := 0
	for i := range 6 {
		g := a
		if i%2 == 1 {
			g = b
		}
		w := httptest.NewRecorder()
		err := g.Charge(ctx, w, "198.51.100.4", "uid-4")
		if err == nil {
			allowed++
		} else if statusOf(err) != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
			t.Fatalf("charge %d: %v %v", i, err, w.Header())
		}
	}
	if allowed != 3 {
		t.Fatalf("%d of 6 charges across two instances allowed, want 3", allowed)
	}
}

// TestGateFailuresOnly: the auth class is spent by failed attempts, not by
// successes; once used up the address is refused at Enter.
func TestGateFailuresOnly(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	clk := newClock(hour.Add(time.Second))
	l := newLimiter(fs, clk, false)
	g := l.Gate(Auth, 1) // 10 per 60 s, sliding
	ctx := context.Background()
	ip := "192.0.2.50"
	for range 50 {
		if err := g.Enter(httptest.NewRecorder(), ip); err != nil {
			t.Fatalf("successful requests were limited: %v", err)
		}
		if err := g.Charge(ctx, httptest.NewRecorder(), ip, "uid-50"); err != nil {
			t.Fatalf("a success was charged: %v", err)
		}
	}
	for i := range 10 {
		if err := g.Enter(httptest.NewRecorder(), ip); err != nil {
			t.Fatalf("attempt %d refused before the budget was spent: %v", i, err)
		}
		g.Failed(ctx, ip, false)
	}
	if err := g.Enter(httptest.NewRecorder(), ip); statusOf(err) != 429 {
		t.Fatalf("after 10 failures: %v, want 429", err)
	}
	if n := l.leases.Load(); n != 0 {
		t.Fatalf("unauthenticated failures made %d leases", n)
	}
	// Authenticated failures also count in the shared budget.
	g2 := l.Gate(Auth, 1)
	g2.Failed(ctx, "192.0.2.51", true)
	if n := l.leases.Load(); n != 1 {
		t.Fatalf("an authenticated failure made %d leases, want 1", n)
	}
	// The next minute frees the address again (sliding: after the weight of
	// the previous window has decayed).
	clk.Set(hour.Add(2*time.Minute + time.Second))
	if err := g.Enter(httptest.NewRecorder(), ip); err != nil {
		t.Fatalf("still refused two windows later: %v", err)
	}
}

// TestGateChargeUser: on the auth class a verified caller spends a per-user
// budget, not the address's: the first UserLocal an hour on an instance
// cost no Firestore call; past them the shared UserLimit decides, across
// instances, and its 429 has the §1.6 shape.
func TestGateChargeUser(t *testing.T) {
	fs, project := testenv.Firestore(t)
	clk := newClock(hour.Add(5 * time.Minute))
	la := newLimiter(fs, clk, false)
	lb := newLimiter(secondClient(t, project), clk, false)
	a, b := la.Gate(Auth, 1), lb.Gate(Auth, 1)
	ctx := context.Background()
	for i := range UserLocal {
		if err := a.ChargeUser(ctx, httptest.NewRecorder(), "busy"); err != nil {
			t.Fatalf("verified request %d: %v", i, err)
		}
	}
	if n := la.leases.Load(); n != 0 {
		t.Fatalf("%d verified requests made %d Firestore leases, want 0", UserLocal, n)
	}
	// Both instances then spend the one shared budget (each until it is
	// refused: leased tokens one instance holds are not the other's).
	allowed := 0
	refused := map[*Gate]bool{}
	for i := 0; len(refused) < 2; i++ {
		g := a
		if i%2 == 1 {
			g = b
		}
		if refused[g] {
			continue
		}
		w := httptest.NewRecorder()
		err := g.ChargeUser(ctx, w, "busy")
		if err == nil {
			allowed++
			continue
		}
		refused[g] = true
		h := w.Header()
		if statusOf(err) != 429 || h.Get("Retry-After") != "3300" || h.Get("X-RateLimit-Limit") != "600" || h.Get("RateLimit-Policy") != "600;w=3600" {
			t.Fatalf("refusal %v, headers %v", err, h)
		}
		if e := web.AsError(err); e.Message != "Rate limit exceeded" || e.Fields["retryAfter"] != int64(3300) {
			t.Fatalf("429 body %+v", e)
		}
	}
	// b's own memory tier let its first UserLocal through too.
	if want := UserLimit + UserLocal; allowed != want {
		t.Fatalf("%d verified requests allowed past instance a's memory tier, want %d", allowed, want)
	}
	t.Logf("one user: %d on instance a's memory tier, then %d more across two instances; %d+%d leases",
		UserLocal, allowed, la.leases.Load(), lb.leases.Load())
	// Another user, and the address budget, are untouched.
	if err := a.ChargeUser(ctx, httptest.NewRecorder(), "quiet"); err != nil {
		t.Fatalf("another user: %v", err)
	}
	if err := a.Enter(httptest.NewRecorder(), "192.0.2.60"); err != nil {
		t.Fatalf("the address: %v", err)
	}
	// Other classes have no per-user budget.
	if err := la.Gate(API, 1).ChargeUser(ctx, httptest.NewRecorder(), "busy"); err != nil {
		t.Fatalf("api class: %v", err)
	}
}

// TestGateAnonymous: a request of the auth class that succeeds without
// proving anyone but costs a write (E09) spends the address in memory,
// AnonymousFactor times the class budget, apart from the failures.
func TestGateAnonymous(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	clk := newClock(hour.Add(30 * time.Second))
	l := newLimiter(fs, clk, false)
	g := l.Gate(Auth, 1)
	ip := "192.0.2.70"
	limit := 10 * AnonymousFactor
	for i := range limit {
		w := httptest.NewRecorder()
		if err := g.Anonymous(w, ip); err != nil {
			t.Fatalf("anonymous request %d: %v", i, err)
		}
		if w.Header().Get("X-RateLimit-Limit") != strconv.Itoa(limit) || w.Header().Get("X-RateLimit-Remaining") != strconv.Itoa(limit-i-1) {
			t.Fatalf("headers %v", w.Header())
		}
	}
	w := httptest.NewRecorder()
	if err := g.Anonymous(w, ip); statusOf(err) != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("anonymous request %d: %v %v", limit+1, err, w.Header())
	}
	// The failure budget is another counter.
	if err := g.Enter(httptest.NewRecorder(), ip); err != nil {
		t.Fatalf("Enter after anonymous requests: %v", err)
	}
	if n := l.leases.Load(); n != 0 {
		t.Fatalf("%d leases", n)
	}
	// Classes that spend the address at Enter do nothing more here.
	if err := l.Gate(API, 1).Anonymous(httptest.NewRecorder(), ip); err != nil {
		t.Fatal(err)
	}
}
