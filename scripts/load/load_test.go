package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlette/server/shared/testenv"
)

// syncBuffer is a bytes.Buffer safe for the run's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoadSmoke proves the load tool works end to end in well under a
// minute: 4 agents and 2 operators for 15 s against a dev server that is
// killed (SIGKILL) and restarted in the middle. Every command, deployment
// and alert must finish, and clients may only have seen connection errors
// while the server was down.
func TestLoadSmoke(t *testing.T) {
	testenv.Require(t, "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "OWLETTE_TRIGGER_RELAY")
	progress := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{
		Agents: 4, Operators: 2, Duration: 15 * time.Second, Ramp: 2 * time.Second, Think: time.Second,
		AlertEvery: 4 * time.Second, TokenScale: 12, Drain: 40 * time.Second, Grace: 20 * time.Second,
		Faults: []string{faultServer}, ServerDown: time.Second, ServerLogLevel: "warn",
		Out: t.TempDir(), Progress: progress,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress)
	}
	var out strings.Builder
	rep.Fprint(&out)
	t.Log("\n" + progress.String() + out.String())
	if !rep.Pass() {
		t.Fatalf("the smoke run did not pass")
	}
	if rep.Fleet.Running != 4 || rep.HBSteady == 0 {
		t.Errorf("agents running %d, heartbeats %d", rep.Fleet.Running, rep.HBSteady)
	}
	if rep.Outcome.Commands == 0 || rep.Outcome.Alerts == 0 || rep.Outcome.AlertsDelivered != rep.Outcome.Alerts {
		t.Errorf("commands %d, alerts %d delivered %d: the run did too little to prove anything",
			rep.Outcome.Commands, rep.Outcome.Alerts, rep.Outcome.AlertsDelivered)
	}
	if len(rep.Restarts) != 1 {
		t.Errorf("server restarts %v, want one", rep.Restarts)
	}
	if rep.FSServer == 0 || rep.FSAgents == 0 || rep.Server.RSSPeak == 0 {
		t.Errorf("Firestore ops/min server %.0f agents %.0f, server RSS %.0f MiB: the probes measured nothing", rep.FSServer, rep.FSAgents, rep.Server.RSSPeak)
	}
}

// TestExpectedFailures: only retryable failures that overlap a fault able to
// cause them are expected; a 401, a 429 or a 500 never is.
func TestExpectedFailures(t *testing.T) {
	f := &Faults{grace: 10 * time.Second}
	now := time.Now()
	rec := NewRecorder(now.Add(-time.Minute), f)
	w := f.Begin(faultFirestore, "")
	f.End(w)
	in, after, later := w.Start, w.End.Add(5*time.Second), w.End.Add(time.Minute)
	refused := &testErr{"connect: connection refused"}
	for _, c := range []struct {
		ep, via string
		at      time.Time
		status  int
		err     error
		want    bool
	}{
		{"E19 GET /admin/machines", viaAPI, in, http.StatusServiceUnavailable, nil, true},
		{"E19 GET /admin/machines", viaAPI, after, http.StatusGatewayTimeout, nil, true},
		{"E19 GET /admin/machines", viaAPI, later, http.StatusServiceUnavailable, nil, false},
		{"E19 GET /admin/machines", viaAPI, in, http.StatusInternalServerError, nil, false},
		{"E19 GET /admin/machines", viaAPI, in, http.StatusUnauthorized, nil, false},
		{"E19 GET /admin/machines", viaAPI, in, 0, refused, false}, // the server was up
		{"fs GET sites/*", viaFirestore, in, 0, refused, true},
		{"POST /agent/auth/refresh", viaAPI, in, http.StatusServiceUnavailable, nil, true},
		{"POST /agent/auth/refresh", viaAPI, in, http.StatusForbidden, nil, false},
	} {
		if got := rec.expected(c.ep, c.via, c.at, c.at, c.status, c.err); got != c.want {
			t.Errorf("%s %s at %s: %d %v expected=%t, want %t", c.via, c.ep, c.at.Sub(w.Start), c.status, c.err, got, c.want)
		}
	}
	// An Auth outage explains a 503 of the agent routes (token checks call
	// Auth), not of an operator's API-key route, and never a 401.
	fa := &Faults{grace: 10 * time.Second}
	ra := NewRecorder(now.Add(-time.Minute), fa)
	wa := fa.Begin(faultAuth, "")
	fa.End(wa)
	for _, c := range []struct {
		ep     string
		status int
		want   bool
	}{
		{"POST /agent/alert", http.StatusServiceUnavailable, true},
		{"POST /agent/auth/refresh", http.StatusServiceUnavailable, true},
		{"POST /agent/alert", http.StatusUnauthorized, false},
		{"E19 GET /admin/machines", http.StatusServiceUnavailable, false},
	} {
		if got := ra.expected(c.ep, viaAPI, wa.Start, wa.Start, c.status, nil); got != c.want {
			t.Errorf("Auth outage: %s %d expected=%t, want %t", c.ep, c.status, got, c.want)
		}
	}
	if !knownFirestoreAnswer("fs POST :batchWrite", http.StatusForbidden) || knownFirestoreAnswer("fs POST :commit", http.StatusForbidden) {
		t.Error("only the emulator's batchWrite refusal is a known answer")
	}
}

type testErr struct{ s string }

func (e *testErr) Error() string { return e.s }

// TestOpNames: the proxies name what passes.
func TestOpNames(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"GET", "/v1/projects/p/databases/(default)/documents/sites/s1/machines/m1/commands/pending"}: "GET sites/*/machines/*/commands/pending",
		{"POST", "/v1/projects/p/databases/(default)/documents:commit"}:                               "POST :commit",
		{"POST", "/emulator/v1/projects/p/eventarcTrigger?eventarcTriggerId=x"}:                       "POST emulator eventarcTrigger",
		{"POST", "/identitytoolkit.googleapis.com/v1/projects/p/accounts:update"}:                     "POST accounts:update",
	} {
		if got := restOp(in[0], in[1]); got != want {
			t.Errorf("restOp(%s %s) = %q, want %q", in[0], in[1], got, want)
		}
	}
	if got := grpcOp("/google.firestore.v1.Firestore/BatchGetDocuments"); got != "rpc BatchGetDocuments" {
		t.Errorf("grpcOp = %q", got)
	}
}
