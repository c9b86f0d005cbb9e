package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlette/server/shared/testenv"
)

func TestFailuresReserveAndRelease(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	clk := newClock(hour)
	f := NewFailures(fs, FailurePolicy{Name: "mfa-user", Limit: 3, Window: 15 * time.Minute}, clk.Now)
	ctx := context.Background()

	// Three attempts fit; the fourth is refused until 15 min after the first.
	for i := 1; i <= 3; i++ {
		clk.Set(hour.Add(time.Duration(i) * time.Minute))
		if _, err := Reserve(ctx, Attempt{f, "u1"}); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := Reserve(ctx, Attempt{f, "u1"})
	until, blocked := IsBlocked(err)
	if !blocked || !until.Equal(hour.Add(16*time.Minute)) {
		t.Fatalf("fourth attempt: %v (until %v), want blocked until first + 15 min", err, until)
	}
	// Keys and policies are independent.
	if _, err := Reserve(ctx, Attempt{f, "u2"}); err != nil {
		t.Fatalf("another key: %v", err)
	}
	ip := NewFailures(fs, FailurePolicy{Name: "mfa-ip", Limit: 3, Window: 15 * time.Minute}, clk.Now)
	if _, err := Reserve(ctx, Attempt{ip, "u1"}); err != nil {
		t.Fatalf("another policy: %v", err)
	}
	// Several counters at once: one used up ⇒ none is counted.
	if _, err := Reserve(ctx, Attempt{ip, "u1"}, Attempt{f, "u1"}); err == nil {
		t.Fatal("a used-up counter let the pair through")
	}
	snap, err := ip.ref("u1").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var d failureDoc
	_ = snap.DataTo(&d)
	if d.Count != 1 {
		t.Fatalf("the refused pair still counted on the other counter: %+v", d)
	}
	// A success gives its attempt back.
	res, err := Reserve(ctx, Attempt{f, "u3"})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Release(ctx); err != nil {
		t.Fatal(err)
	}
	snap, _ = f.ref("u3").Get(ctx)
	_ = snap.DataTo(&d)
	if d.Count != 0 {
		t.Fatalf("released attempt still counted: %+v", d)
	}
	// The window ends 15 minutes after the first attempt; then it starts over.
	clk.Set(hour.Add(16 * time.Minute))
	if _, err := Reserve(ctx, Attempt{f, "u1"}); err != nil {
		t.Fatalf("new window: %v", err)
	}
	snap, _ = f.ref("u1").Get(ctx)
	_ = snap.DataTo(&d)
	if d.Count != 1 || !d.Since.Equal(hour.Add(16*time.Minute)) || !d.ExpiresAt.Equal(hour.Add(31*time.Minute)) {
		t.Errorf("document after restart: %+v", d)
	}
}

// TestParallelGuessesReserveAtMostTheLimit is the check-then-act race of
// DECISIONS §3: 30 attempts at once, from two instances, get at most 5
// reservations.
func TestParallelGuessesReserveAtMostTheLimit(t *testing.T) {
	fs, project := testenv.Firestore(t)
	other := secondClient(t, project)
	clk := newClock(hour)
	p := FailurePolicy{Name: "mfa-user", Limit: 5, Window: 15 * time.Minute}
	fa, fb := NewFailures(fs, p, clk.Now), NewFailures(other, p, clk.Now)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		f := fa
		if i%2 == 1 {
			f = fb
		}
		wg.Go(func() {
			if _, err := Reserve(context.Background(), Attempt{f, "victim"}); err == nil {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := granted.Load(); n > 5 || n == 0 {
		t.Fatalf("%d of 30 parallel attempts reserved, want 1..5", n)
	}
}
