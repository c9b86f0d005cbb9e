package webhook

import (
	"math/rand/v2"
	"time"
)

// AutoDisableAfter is the number of consecutive failures that disables a
// target (api.md §1.13).
const AutoDisableAfter = 10

// State is the bookkeeping part of sites/{siteId}/webhooks/{id}.
type State struct {
	Enabled       bool
	FailCount     int
	LastStatus    int // HTTP status, 0 = network error / timeout
	LastTriggered time.Time
}

// RecordAttempt notes an attempt without judging it: lastTriggered = now,
// lastStatus = res.Status; failCount and enabled unchanged. It is what E47
// (the test send) stores, and what a failed attempt that will be retried
// stores.
func RecordAttempt(prev State, res Result, now time.Time) State {
	prev.LastStatus = res.Status
	prev.LastTriggered = now
	return prev
}

// Bookkeep is the original's rule for a delivery outcome: RecordAttempt,
// then failCount = 0 on 2xx, else failCount+1, and enabled = false once
// failCount reaches AutoDisableAfter. It never re-enables a target.
//
// Call it once per event and target: on the first 2xx, or with the last
// attempt's result when NextRetry gives up. Counting every retried attempt
// instead would disable a target after one outage of half an hour, where
// the original (which never retried) needed ten failed events.
func Bookkeep(prev State, res Result, now time.Time) State {
	s := RecordAttempt(prev, res, now)
	if res.OK() {
		s.FailCount = 0
		return s
	}
	s.FailCount++
	if s.FailCount >= AutoDisableAfter {
		s.Enabled = false
	}
	return s
}

// Retry schedule: attempt n (1-based) failed ⇒ wait about
// RetryBase·2^(n-1), at most RetryCap, ±20 % jitter, then try again; after
// MaxAttempts attempts, give up. Nominal waits: 30 s, 1 min, 2 min, 4 min,
// 8 min, 16 min, 30 min, so the last attempt is made about an hour (61.5
// min) after the first.
const (
	RetryBase   = 30 * time.Second
	RetryCap    = 30 * time.Minute
	MaxAttempts = 8
)

// NextRetry is the wait after failed attempt number attempt (1 = the first
// delivery; smaller counts as 1), or 0 when attempt ≥ MaxAttempts: give up
// and Bookkeep the failure. The jitter spreads the retries of one outage's many deliveries.
func NextRetry(attempt int) time.Duration {
	return nextRetry(attempt, rand.Float64())
}

// nextRetry is NextRetry with the random draw u ∈ [0, 1) given.
func nextRetry(attempt int, u float64) time.Duration {
	if attempt >= MaxAttempts {
		return 0
	}
	attempt = max(attempt, 1)
	d := RetryCap
	if attempt <= 16 { // beyond this the shift overflows; the cap applies anyway
		d = min(RetryBase<<(attempt-1), RetryCap)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*u))
}
