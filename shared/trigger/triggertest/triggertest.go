// Package triggertest has Firestore change events delivered to a test for
// real: the emulator (started by scripts/stack with --functions_emulator
// pointing at the trigger relay) POSTs each change of the test's isolated
// project to the relay, which forwards it to this test's bridge server, which
// runs the trigger handler, as production's Eventarc does.
package triggertest

import (
	"context"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/trigger"
	"github.com/owlette/server/shared/trigger/relay"
)

// Server receives one project's events.
type Server struct {
	URL string

	mu   sync.Mutex
	seen []Delivery
	cond chan struct{} // closed and replaced on every delivery
}

// Delivery is one handled event, with when the handler finished.
type Delivery struct {
	trigger.Delivery
	At time.Time
}

// Serve delivers the project of d's events for the trigger of spec to
// handler (spec.Handle unless one is given) until the test ends. It fails the
// test when the relay is not there (run the tests under scripts/stack, as
// `make test` does).
func Serve(t testing.TB, d *app.Deps, spec fn.Spec, handler ...trigger.Handler) *Server {
	t.Helper()
	testenv.Require(t, "FIRESTORE_EMULATOR_HOST", relay.EnvVar)
	ctx := context.Background()
	addr := os.Getenv(relay.EnvVar)
	if !relay.Healthy(ctx, addr) {
		t.Fatalf("no trigger relay answers on %s=%s: run the tests with `make test` (scripts/stack starts it and the Firestore emulator with --functions_emulator pointing at it)", relay.EnvVar, addr)
	}
	if spec.Kind != fn.Firestore {
		t.Fatalf("%s is not a Firestore trigger", spec.Name)
	}
	h := spec.Handle
	if len(handler) > 0 {
		h = handler[0]
	}
	s := &Server{cond: make(chan struct{})}
	fns := map[string]trigger.CloudEventFunc{spec.Name: trigger.Bind(d, h)}
	specs := []trigger.Spec{{ID: spec.Name, EventType: spec.EventType, Document: spec.Document}}
	b := &trigger.Bridge{Project: d.Config.ProjectID, Functions: fns, Log: d.Log, Observe: s.observe}
	srv := httptest.NewServer(b)
	s.URL = srv.URL
	if err := trigger.RegisterLocal(ctx, os.Getenv("FIRESTORE_EMULATOR_HOST"), addr, d.Config.ProjectID, srv.URL, specs); err != nil {
		srv.Close()
		t.Fatalf("register triggers: %v", err)
	}
	t.Cleanup(func() {
		_ = relay.Unregister(context.Background(), addr, d.Config.ProjectID, srv.URL)
		srv.Close()
	})
	return s
}

func (s *Server) observe(d trigger.Delivery) {
	s.mu.Lock()
	s.seen = append(s.seen, Delivery{Delivery: d, At: time.Now()})
	close(s.cond)
	s.cond = make(chan struct{})
	s.mu.Unlock()
}

// Deliveries returns the deliveries handled so far.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.seen...)
}

// Wait blocks until cond holds (checked after every delivery and every
// 100 ms) or timeout passes; it fails the test with what when it times out.
func (s *Server) Wait(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		s.mu.Lock()
		ch := s.cond
		s.mu.Unlock()
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			if cond() {
				return
			}
			t.Fatalf("timed out after %s waiting for %s (%d deliveries handled; is the Firestore emulator started with --functions_emulator=%s?)",
				timeout, what, len(s.Deliveries()), os.Getenv(relay.EnvVar))
		}
	}
}
