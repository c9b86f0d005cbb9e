package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Fault kinds.
const (
	faultFirestore = "firestore" // the Firestore proxy resets and refuses connections
	faultAuth      = "auth"      // the Auth proxy resets and refuses connections
	faultWebhook   = "webhook"   // the webhook receiver stops listening
	faultServer    = "server"    // the dev server is killed (SIGKILL) and started again
)

var allFaults = []string{faultWebhook, faultFirestore, faultAuth, faultServer}

// parseFaults reads -faults: none/off, all/on, or a comma list of kinds.
func parseFaults(s string) ([]string, error) {
	switch strings.TrimSpace(strings.ToLower(s)) {
	case "", "none", "off", "false", "0":
		return nil, nil
	case "all", "on", "true", "1":
		return allFaults, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ToLower(f))
		ok := false
		for _, k := range allFaults {
			if f == k {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("-faults: unknown fault %q (want %s, all or none)", f, strings.Join(allFaults, ","))
		}
		out = append(out, f)
	}
	return out, nil
}

// window is one fault's time span; End is zero while it lasts.
type window struct {
	Kind  string    `json:"kind"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Note  string    `json:"note,omitempty"`
	// Failures counts the client-visible failures attributed to the fault
	// (all of them retryable, or they would not be attributed); LastFailure
	// is the end of the last one.
	Failures    int       `json:"failures"`
	LastFailure time.Time `json:"lastFailure"`
	// Recovery is the time from End to the first success through the
	// component again (-1: none seen).
	Recovery time.Duration `json:"recoveryNs"`
}

// Faults is the run's fault timeline. A failed request is expected when it
// overlaps a window of a fault that can cause it, widened by grace after the
// window ends (clients reconnect with backoff).
type Faults struct {
	grace time.Duration
	mu    sync.Mutex
	wins  []*window
}

// Begin opens a window of kind now.
func (f *Faults) Begin(kind, note string) *window {
	w := &window{Kind: kind, Start: time.Now(), Note: note, Recovery: -1}
	f.mu.Lock()
	f.wins = append(f.wins, w)
	f.mu.Unlock()
	return w
}

// End closes w now.
func (f *Faults) End(w *window) {
	f.mu.Lock()
	w.End = time.Now()
	f.mu.Unlock()
}

// Attribute finds a window of kind that [s, e] meets (widened by grace) and
// counts a failure against it; false when there is none.
func (f *Faults) Attribute(kind string, s, e time.Time) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.wins {
		if w.Kind != kind {
			continue
		}
		end := w.End
		if end.IsZero() {
			end = e.Add(time.Hour) // still going
		} else {
			end = end.Add(f.grace)
		}
		if !e.Before(w.Start) && !s.After(end) {
			w.Failures++
			if e.After(w.LastFailure) {
				w.LastFailure = e
			}
			return true
		}
	}
	return false
}

// Recovered records, for each ended window of kind without a recovery yet,
// the time from its end to the success of a request started at s.
func (f *Faults) Recovered(kind string, s, at time.Time) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.wins {
		if w.Kind == kind && !w.End.IsZero() && w.Recovery < 0 && s.After(w.End) {
			w.Recovery = at.Sub(w.End)
		}
	}
}

// Windows returns a copy of the timeline.
func (f *Faults) Windows() []window {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]window, len(f.wins))
	for i, w := range f.wins {
		out[i] = *w
	}
	return out
}

// plannedFault is one fault of the schedule, relative to the start of the
// steady phase.
type plannedFault struct {
	Kind   string
	At     time.Duration
	Length time.Duration // how long the component stays down
}

// schedule places the chosen faults in a steady phase of length d, apart
// from each other (the webhook outage overlaps the others: it is invisible to
// clients), at the same fractions of d whatever its length: webhook target
// at 10 % (for webhookDown), Firestore at 25 %, Auth at 45 %, server kill at
// 70 %. Lengths are capped so that a short run keeps its faults apart.
func schedule(kinds []string, d, firestoreDown, authDown, webhookDown, serverDown time.Duration) []plannedFault {
	var out []plannedFault
	for _, k := range kinds {
		switch k {
		case faultWebhook:
			out = append(out, plannedFault{k, d / 10, min(webhookDown, d/2)})
		case faultFirestore:
			out = append(out, plannedFault{k, d / 4, min(firestoreDown, d/6)})
		case faultAuth:
			out = append(out, plannedFault{k, d * 45 / 100, min(authDown, d/6)})
		case faultServer:
			out = append(out, plannedFault{k, d * 70 / 100, min(serverDown, d/6)})
		}
	}
	return out
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
