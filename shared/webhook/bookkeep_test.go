package webhook

import (
	"testing"
	"time"
)

func TestBookkeep(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := State{Enabled: true, FailCount: 4, LastStatus: 500}

	s = Bookkeep(s, Result{Status: 204}, t0)
	if s != (State{Enabled: true, FailCount: 0, LastStatus: 204, LastTriggered: t0}) {
		t.Errorf("after 2xx: %+v", s)
	}
	// Non-2xx and network errors both count.
	for i, res := range []Result{{Status: 500}, {Status: 302}, {Status: 0}} {
		now := t0.Add(time.Duration(i+1) * time.Minute)
		s = Bookkeep(s, res, now)
		if s.FailCount != i+1 || s.LastStatus != res.Status || !s.LastTriggered.Equal(now) || !s.Enabled {
			t.Errorf("failure %d: %+v", i+1, s)
		}
	}
	for s.FailCount < AutoDisableAfter-1 {
		s = Bookkeep(s, Result{Status: 503}, t0)
	}
	if !s.Enabled {
		t.Fatalf("disabled at %d failures", s.FailCount)
	}
	s = Bookkeep(s, Result{Status: 503}, t0)
	if s.Enabled || s.FailCount != 10 {
		t.Errorf("10th failure: %+v", s)
	}
	// Beyond: keeps counting, stays disabled; a success (e.g. a later manual
	// re-enable then delivery) resets the count but does not re-enable.
	s = Bookkeep(s, Result{Status: 0}, t0)
	if s.Enabled || s.FailCount != 11 {
		t.Errorf("11th failure: %+v", s)
	}
	s = Bookkeep(s, Result{Status: 200}, t0)
	if s.Enabled || s.FailCount != 0 {
		t.Errorf("success after disable: %+v", s)
	}
	// A disabled target already past the limit stays disabled.
	if got := Bookkeep(State{Enabled: false, FailCount: 3}, Result{Status: 500}, t0); got.Enabled {
		t.Errorf("re-enabled: %+v", got)
	}
}

func TestRecordAttempt(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	prev := State{Enabled: false, FailCount: 9, LastStatus: 200}
	got := RecordAttempt(prev, Result{Status: 0}, t0)
	if got != (State{Enabled: false, FailCount: 9, LastStatus: 0, LastTriggered: t0}) {
		t.Errorf("%+v", got)
	}
}

func TestNextRetry(t *testing.T) {
	nominal := []time.Duration{
		30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
		8 * time.Minute, 16 * time.Minute, 30 * time.Minute,
	}
	if len(nominal) != MaxAttempts-1 {
		t.Fatalf("schedule has %d waits for %d attempts", len(nominal), MaxAttempts)
	}
	for i, want := range nominal {
		attempt := i + 1
		if got := nextRetry(attempt, 0.5); got != want {
			t.Errorf("attempt %d: nominal %v, want %v", attempt, got, want)
		}
		lo, hi := nextRetry(attempt, 0), nextRetry(attempt, 0.999999)
		if lo != want*8/10 || hi < want*119/100 || hi >= want*12/10 {
			t.Errorf("attempt %d: jitter range [%v, %v]", attempt, lo, hi)
		}
		// The real draw stays in the range and varies.
		seen := map[time.Duration]bool{}
		for range 50 {
			d := NextRetry(attempt)
			if d < lo || d > hi {
				t.Errorf("attempt %d: NextRetry %v outside [%v, %v]", attempt, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("attempt %d: no jitter", attempt)
		}
	}
	for _, attempt := range []int{MaxAttempts, MaxAttempts + 1, 1000} {
		if got := NextRetry(attempt); got != 0 {
			t.Errorf("attempt %d: %v, want 0 (give up)", attempt, got)
		}
	}
	if got := nextRetry(0, 0.5); got != 30*time.Second {
		t.Errorf("attempt 0: %v", got)
	}
}
