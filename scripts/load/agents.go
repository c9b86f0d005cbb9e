package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/owlette/server/scripts/agentsim/sim"
)

// Agents is the simulated fleet: real-time agents (heartbeat every 30 s,
// command poll 2–5 s, config poll 2–10 s) over the real protocol, paired
// through the device code and approved by a dashboard session, each from its
// own client address. Their HTTP goes through the recorder; their Firestore
// REST calls go through the run's Firestore proxy.
type Agents struct {
	fleet   *sim.Fleet
	tracker *Tracker

	heartbeats, heartbeatFailed, noToken atomic.Int64
	refreshed, refreshFailed, wiped      atomic.Int64
	paired, pairFailed, stoppedWithError atomic.Int64

	mu        sync.Mutex
	pairErrs  []string
	stopErrs  []string
	alertsPer map[string]int
}

// NewAgents prepares the fleet (nothing runs until Ramp).
func NewAgents(base sim.Config, cookie string, t *Tracker) *Agents {
	a := &Agents{tracker: t, alertsPer: map[string]int{}}
	base.OnEvent = a.onEvent
	a.fleet = &sim.Fleet{Base: base, Pair: sim.CookiePairing(cookie, siteID), PairConcurrency: 32, DistinctIPs: true}
	return a
}

func (a *Agents) onEvent(e sim.Event) {
	switch e.Kind {
	case sim.EventPaired:
		a.paired.Add(1)
	case sim.EventHeartbeat:
		a.heartbeats.Add(1)
	case sim.EventHeartbeatFailed:
		a.heartbeatFailed.Add(1)
		if errors.Is(e.Err, sim.ErrNoToken) {
			a.noToken.Add(1)
		}
	case sim.EventRefreshed:
		a.refreshed.Add(1)
	case sim.EventRefreshFailed:
		a.refreshFailed.Add(1)
	case sim.EventCredsWiped:
		a.wiped.Add(1)
	case sim.EventCommand:
		a.tracker.Completed(e.Detail, e.Status)
	case sim.EventStopped:
		if e.Err != nil {
			a.stoppedWithError.Add(1)
			a.mu.Lock()
			a.stopErrs = append(a.stopErrs, e.Machine+": "+e.Err.Error())
			a.mu.Unlock()
		}
	}
}

// Ramp pairs and starts n agents, spread evenly over d.
func (a *Agents) Ramp(ctx context.Context, n int, d time.Duration, progress func(string)) {
	names := make([]string, n)
	for i := range names {
		names[i] = machineName(i)
	}
	steps := max(1, min(n, int(d/(2*time.Second))))
	var wg sync.WaitGroup
	t0 := time.Now()
	for s := range steps {
		from, to := s*n/steps, (s+1)*n/steps
		if err := sleepCtx(ctx, time.Until(t0.Add(d*time.Duration(s)/time.Duration(steps)))); err != nil {
			break
		}
		wg.Add(1)
		go func(names []string) {
			defer wg.Done()
			if err := a.fleet.Add(ctx, names); err != nil {
				a.pairFailed.Add(1)
				a.mu.Lock()
				a.pairErrs = append(a.pairErrs, err.Error())
				a.mu.Unlock()
			}
		}(names[from:to])
	}
	wg.Wait()
	progress(fmt.Sprintf("paired and started %d of %d agents in %s", a.fleet.Len(), n, time.Since(t0).Round(time.Second)))
}

// machineName is the i-th agent's hostname (0-based).
func machineName(i int) string { return fmt.Sprintf("LOAD-%04d", i+1) }

// List returns the running agents.
func (a *Agents) List() []*sim.Agent { return a.fleet.Agents() }

// Stop stops every agent cleanly (online:false).
func (a *Agents) Stop() { a.fleet.Stop() }

// raiseAlert makes agent ag report a process crash with a unique message,
// retrying (every 10 s, up to 8 times) while the answer is retryable, as an
// agent whose alert did not go through would; it records the alert once the
// server accepted it. false: the agent has used its share of the process
// alert budget (3 per machine and process per hour) for this run.
func (a *Agents) raiseAlert(ctx context.Context, ag *sim.Agent, msg string) bool {
	a.mu.Lock()
	if a.alertsPer[ag.MachineID()] >= 3 {
		a.mu.Unlock()
		return false
	}
	a.alertsPer[ag.MachineID()]++
	a.mu.Unlock()
	go func() {
		for range 8 {
			res, err := ag.RaiseAlert(ctx, sim.Alert{EventType: "process_crash", ProcessName: "TouchDesigner", ErrorMessage: msg})
			if err == nil {
				if res.Success && !strings.Contains(res.Reason, "rate limited") {
					a.tracker.Alert(msg, ag.MachineID())
				}
				return
			}
			if st := sim.APIStatus(err); st != 0 && st != http.StatusServiceUnavailable && st != http.StatusGatewayTimeout {
				return // recorded as an error by the transport
			}
			if sleepCtx(ctx, 10*time.Second) != nil {
				return
			}
		}
	}()
	return true
}

// probeRefresh forces a token refresh on up to n agents at once and counts
// the answers by status (0: transport error). The agents keep their
// credentials on anything but 401/403.
func (a *Agents) probeRefresh(ctx context.Context, n int) map[int]int {
	ags := a.List()
	if len(ags) > n {
		ags = ags[:n]
	}
	out := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ag := range ags {
		wg.Go(func() {
			err := ag.RefreshNow(ctx)
			st := http.StatusOK
			if err != nil {
				st = sim.APIStatus(err)
			}
			mu.Lock()
			out[st]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// AgentFigures is what the fleet did.
type AgentFigures struct {
	Running, Paired, PairFailures                          int
	Heartbeats, HeartbeatFailed, HeartbeatNoToken          int64
	Refreshed, RefreshFailed, CredentialsWiped, StoppedErr int64
	PairErrors, StopErrors                                 []string
}

// Figures returns the fleet's counters.
func (a *Agents) Figures() AgentFigures {
	a.mu.Lock()
	defer a.mu.Unlock()
	return AgentFigures{
		Running: a.fleet.Len(), Paired: int(a.paired.Load()), PairFailures: int(a.pairFailed.Load()),
		Heartbeats: a.heartbeats.Load(), HeartbeatFailed: a.heartbeatFailed.Load(), HeartbeatNoToken: a.noToken.Load(),
		Refreshed: a.refreshed.Load(), RefreshFailed: a.refreshFailed.Load(), CredentialsWiped: a.wiped.Load(),
		StoppedErr: a.stoppedWithError.Load(),
		PairErrors: append([]string(nil), a.pairErrs...), StopErrors: append([]string(nil), a.stopErrs...),
	}
}

// agentLog writes the agents' warnings and errors to w and tells the tracker
// about terminal writes that failed ("write completed <id> failed").
type agentLog struct {
	h       slog.Handler
	tracker *Tracker
}

func newAgentLog(w io.Writer, t *Tracker) *slog.Logger {
	return slog.New(&agentLog{h: slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}), tracker: t})
}

func (l *agentLog) Enabled(ctx context.Context, lvl slog.Level) bool { return l.h.Enabled(ctx, lvl) }

func (l *agentLog) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := strings.CutPrefix(r.Message, "write completed "); ok {
		if id, ok = strings.CutSuffix(id, " failed"); ok {
			msg := ""
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "error" {
					msg = a.Value.String()
				}
				return true
			})
			l.tracker.WriteFailed(id, msg)
		}
	}
	return l.h.Handle(ctx, r)
}

func (l *agentLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &agentLog{h: l.h.WithAttrs(as), tracker: l.tracker}
}

func (l *agentLog) WithGroup(g string) slog.Handler {
	return &agentLog{h: l.h.WithGroup(g), tracker: l.tracker}
}
