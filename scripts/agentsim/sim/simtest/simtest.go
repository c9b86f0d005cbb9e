// Package simtest runs simulated agents (package sim) inside tests: started
// against a test stack, ready before the test goes on, stopped when it ends.
package simtest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlette/server/scripts/agentsim/sim"
)

// Start runs an agent with cfg and creds until the test ends and returns
// once it is ready: when the event kind readyOn (sim.EventStarted or
// sim.EventHeartbeat) arrives after its start-up sequence. Logs are dropped
// unless AGENTSIM_LOG=1. cfg.OnEvent, when set, still sees every event.
func Start(t testing.TB, cfg sim.Config, creds *sim.Credentials, readyOn string) *sim.Agent {
	t.Helper()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("AGENTSIM_LOG") == "1" {
		cfg.Log = slog.Default()
	}
	ready := make(chan struct{}, 1)
	var started atomic.Bool // the agent's loops emit concurrently
	next := cfg.OnEvent
	cfg.OnEvent = func(ev sim.Event) {
		if next != nil {
			next(ev)
		}
		if ev.Kind == sim.EventStarted {
			started.Store(true)
		}
		if started.Load() && ev.Kind == readyOn {
			select {
			case ready <- struct{}{}:
			default:
			}
		}
	}
	a := sim.New(cfg, creds)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("agent %s stopped: %v", creds.MachineID, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("agent %s was not ready (%s) within 30 s", creds.MachineID, readyOn)
	}
	return a
}
