package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/owlette/server/shared/testenv"
)

func TestFailures(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	clk := newClock(hour)
	f := NewFailures(fs, FailurePolicy{Name: "mfa-user", Limit: 3, Window: 15 * time.Minute}, clk.Now)
	ctx := context.Background()

	blocked := func(key string) bool {
		t.Helper()
		b, _, err := f.Blocked(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if blocked("u1") {
		t.Fatal("blocked before any failure")
	}
	for i := 1; i <= 3; i++ {
		clk.Set(hour.Add(time.Duration(i) * time.Minute))
		b, until, err := f.Failure(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 3; b != want {
			t.Fatalf("failure %d: blocked %v", i, b)
		}
		if b && !until.Equal(hour.Add(16*time.Minute)) {
			t.Errorf("blocked until %v, want first failure + 15 min", until)
		}
	}
	if !blocked("u1") {
		t.Error("not blocked after 3 failures")
	}
	if blocked("u2") {
		t.Error("keys are not independent")
	}
	// A second instance (another Failures on the same store) sees the block.
	other := NewFailures(fs, FailurePolicy{Name: "mfa-user", Limit: 3, Window: 15 * time.Minute}, clk.Now)
	if b, _, _ := other.Blocked(ctx, "u1"); !b {
		t.Error("block not shared across instances")
	}
	// Another policy name is another counter.
	ip := NewFailures(fs, FailurePolicy{Name: "mfa-ip", Limit: 3, Window: 15 * time.Minute}, clk.Now)
	if b, _, _ := ip.Blocked(ctx, "u1"); b {
		t.Error("policies share counters")
	}
	// The window ends 15 minutes after the first failure; then it starts over.
	clk.Set(hour.Add(16 * time.Minute))
	if blocked("u1") {
		t.Error("still blocked after the window")
	}
	if b, _, _ := f.Failure(ctx, "u1"); b {
		t.Error("first failure of a new window blocks")
	}
	snap, err := f.ref("u1").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var d failureDoc
	_ = snap.DataTo(&d)
	if d.Count != 1 || !d.Since.Equal(hour.Add(16*time.Minute)) || !d.ExpiresAt.Equal(hour.Add(31*time.Minute)) {
		t.Errorf("document after restart: %+v", d)
	}
}
