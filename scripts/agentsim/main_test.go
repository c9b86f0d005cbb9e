package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/owlette/server/functions/agentauth"
	"github.com/owlette/server/functions/session"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

// TestCommandLine runs the program as `make dev` users would: two agents
// pair by device code, approved with the session of a user signed in by
// e-mail and password (-login), heartbeat, and stop cleanly at -duration;
// a second run with the same -state reuses the credentials instead of
// pairing again.
func TestCommandLine(t *testing.T) {
	testenv.Require(t, "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST")
	e := apptest.New(t, session.Register, agentauth.Register)
	testenv.LoadRules(t, e.Project)
	site := testenv.UniqueID("site-")
	member := e.Member(site)
	e.Site(site, "")
	var deviceCodes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/agent/auth/device-code" {
			deviceCodes.Add(1)
		}
		e.H.ServeHTTP(w, r)
	}))
	defer srv.Close()

	state := t.TempDir()
	prefix := testenv.UniqueID("CLI") + "-"
	args := []string{
		"-api", srv.URL + "/api", "-project", e.Project, "-site", site, "-n", "2", "-prefix", prefix,
		"-login", member.Email + ":password-123", "-scale", "20", "-duration", "3s", "-state", state,
	}
	var out, logs bytes.Buffer
	if err := run(context.Background(), args, &out, &logs); err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	for _, m := range []string{prefix + "1", prefix + "2"} {
		doc := e.Doc("sites/" + site + "/machines/" + m)
		if doc["online"] != false || doc["metrics"] == nil || doc["agent_version"] != "2.6.0" {
			t.Errorf("%s after the run: %v", m, doc)
		}
		if _, err := os.Stat(filepath.Join(state, m+".json")); err != nil {
			t.Errorf("no state for %s: %v", m, err)
		}
	}
	if deviceCodes.Load() != 2 || !strings.Contains(logs.String(), "paired") {
		t.Fatalf("device codes = %d\n%s", deviceCodes.Load(), logs.String())
	}

	logs.Reset()
	args[len(args)-3] = "1s" // -duration
	if err := run(context.Background(), args, &out, &logs); err != nil {
		t.Fatalf("second run: %v\n%s", err, logs.String())
	}
	if deviceCodes.Load() != 2 {
		t.Errorf("second run paired again (%d device codes)", deviceCodes.Load())
	}
	if !strings.Contains(logs.String(), "agent started") {
		t.Errorf("second run did not start:\n%s", logs.String())
	}

	// Load-test mode prints a table per step.
	out.Reset()
	ramp := []string{
		"-api", srv.URL + "/api", "-project", e.Project, "-site", site, "-prefix", prefix + "R",
		"-login", member.Email + ":password-123", "-scale", "20", "-distinct-ips", "-ramp", "2", "-step", "1s",
	}
	if err := run(context.Background(), ramp, &out, &logs); err != nil {
		t.Fatalf("ramp: %v\n%s", err, logs.String())
	}
	if !strings.Contains(out.String(), "== 2 agents, 1s") || !strings.Contains(out.String(), "heartbeat") {
		t.Errorf("ramp output:\n%s", out.String())
	}

	if err := run(context.Background(), []string{"-bogus"}, &out, &logs); err == nil {
		t.Error("unknown flag accepted")
	}
}
