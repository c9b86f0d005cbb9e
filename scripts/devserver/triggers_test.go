package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/deploymentsweeper"
	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/trigger/relay"
)

func TestScheduleEvery(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := fn.Spec{Kind: fn.Scheduled, Cron: "*/5 * * * *"}
	for v, want := range map[string]time.Duration{"": 5 * time.Minute, "20s": 20 * time.Second, "bogus": 5 * time.Minute, "-1s": 5 * time.Minute} {
		t.Setenv(ScheduleEveryEnv, v)
		if got := scheduleEvery(s, log); got != want {
			t.Errorf("%s=%q: %v, want %v", ScheduleEveryEnv, v, got, want)
		}
	}
	for cron, want := range map[string]time.Duration{"*/5 * * * *": 5 * time.Minute, "7 * * * *": time.Hour} {
		if got, err := fn.CronPeriod(cron); err != nil || got != want {
			t.Errorf("CronPeriod(%q) = %v, %v", cron, got, err)
		}
	}
	for _, bad := range []string{"0 3 * * *", "*/0 * * * *", "every 5 minutes", "*/5 * * *"} {
		if _, err := fn.CronPeriod(bad); err == nil {
			t.Errorf("CronPeriod(%q) accepted", bad)
		}
	}
}

// The local scheduler calls the sweeper on its period, authenticated with
// CRON_SECRET, and the sweep happens (injected clock past 15 minutes).
func TestLocalScheduler(t *testing.T) {
	e := apptest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := "sites/s1/deployments/deploy-1"
	if _, err := e.FS.Doc(path).Set(ctx, map[string]any{"status": "in_progress", "createdAt": e.Clock.Now(),
		"targets": []any{map[string]any{"machineId": "M1", "status": "pending"}}}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(16 * time.Minute)
	s := deploymentsweeper.Spec
	go runSchedule(ctx, e.D, s, apptestBuild(e, s.Name), 50*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for e.Doc(path)["status"] != "failed" {
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled sweep did not run: %v", e.Doc(path))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A wrong secret is refused: the schedule really authenticates.
	e.D.Config.CronSecret = "changed"
	defer func() { e.D.Config.CronSecret = apptest.Config(e.Project).CronSecret }()
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set(cronSecretHeader, "apptest-cron-secret")
	rec := httptest.NewRecorder()
	apptestBuild(e, s.Name).ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("stale secret: %d", rec.Code)
	}
	if got := runOnce(ctx, e.D, s, apptestBuild(e, s.Name)); got.Code != http.StatusOK {
		t.Errorf("runOnce with the configured secret: %d %s", got.Code, got.Body)
	}
}

func apptestBuild(e *apptest.Env, name string) http.Handler {
	s, _ := registry.ByName(name)
	return app.Build(e.D, s.Register)
}

// TestDevServerDeliversTriggers runs the dev server's background wiring for
// a project of its own against the real emulator and relay: it registers
// itself, and a completed-entry write reaches the deployment-status trigger
// through the emulator, the relay and the bridge.
func TestDevServerDeliversTriggers(t *testing.T) {
	testenv.Require(t, relay.EnvVar)
	if !relay.Healthy(context.Background(), os.Getenv(relay.EnvVar)) {
		t.Fatalf("no trigger relay on %s: run the tests with `make test`", os.Getenv(relay.EnvVar))
	}
	e := apptest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	srv.Config.Handler = withBackground(ctx, e.D, NewRouter(e.D), srv.URL)
	waitRegistered(t, e.Project, srv.URL)

	// The API still answers next to the bridge.
	resp, err := http.Get(srv.URL + "/api/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("API through the background handler: %d", resp.StatusCode)
	}

	dep := "sites/s1/deployments/deploy-1"
	if _, err := e.FS.Doc(dep).Set(ctx, map[string]any{"status": "in_progress", "createdAt": e.Clock.Now(),
		"targets": []any{map[string]any{"machineId": "M1", "status": "pending"}}}); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	if _, err := e.FS.Doc("sites/s1/machines/M1/commands/completed").Set(ctx, map[string]any{"install_1": map[string]any{
		"status": "completed", "type": "install_software", "deployment_id": "deploy-1", "completedAt": firestore.ServerTimestamp,
	}}, firestore.MergeAll); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.Doc(dep)["status"] != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("no delivery: deployment %v", e.Doc(dep))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("write → deployment completed through the dev server: %s", time.Since(written).Round(time.Millisecond))

	// On shutdown the dev server takes its route off the relay.
	cancel()
	deadline = time.Now().Add(5 * time.Second)
	for {
		m, err := relay.Projects(context.Background(), os.Getenv(relay.EnvVar))
		if err == nil && m[e.Project] == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still registered after shutdown: %v %v", m, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRegistered waits until the relay routes project to base.
func waitRegistered(t *testing.T, project, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := relay.Projects(context.Background(), os.Getenv(relay.EnvVar))
		if err == nil && m[project] == base {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev server did not register %s → %s on the relay: %v %v", project, base, m, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
