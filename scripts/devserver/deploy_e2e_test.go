package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/trigger/relay"
)

// TestDeploymentEndToEnd is issue 5's demonstration: the dev server (every
// function, plus its trigger delivery) and three simulated agents paired
// through the real device-code flow, writing to Firestore with their own
// tokens under the repository's rules. A site member creates a deployment
// for the three machines through POST /api/admin/deployments; one install
// completes, one fails (that machine's installer exits 1) and one is
// cancelled mid-install through POST …/cancel. After the cancel the
// deployment is still in_progress; the agents' command completions alone,
// delivered by the Firestore emulator to the deployment-status trigger, move
// every target and finally the deployment to "partial". No client writes a
// status.
func TestDeploymentEndToEnd(t *testing.T) {
	testenv.Require(t, "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", relay.EnvVar)
	if !relay.Healthy(context.Background(), os.Getenv(relay.EnvVar)) {
		t.Fatalf("no trigger relay on %s: run the tests with `make test`", os.Getenv(relay.EnvVar))
	}
	e := apptest.New(t)
	testenv.LoadRules(t, e.Project)
	site := testenv.UniqueID("site-")
	e.Site(site, "")
	member := e.Member(site)
	cookie := member.Cookie()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	srv.Config.Handler = withBackground(ctx, e.D, NewRouter(e.D), srv.URL)
	waitRegistered(t, e.Project, srv.URL)

	// Three agents, paired now, started later.
	ok, bad, cancelled := testenv.UniqueID("OK-"), testenv.UniqueID("FAIL-"), testenv.UniqueID("CANCEL-")
	cfgs := map[string]sim.Config{}
	for _, m := range []string{ok, bad, cancelled} {
		c := sim.Defaults(m)
		c.API = srv.URL + "/api"
		c.ProjectID = e.Project
		c.Scale = 10 // command poll 0.2–0.5 s, install step 0.1 s
		if os.Getenv("AGENTSIM_LOG") != "1" {
			c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		cfgs[m] = c
	}
	// The cancelled machine installs slowly (3 s a step), so the cancel
	// lands while it is downloading.
	c := cfgs[cancelled]
	c.StepDelay = 30 * time.Second
	cfgs[cancelled] = c
	creds := map[string]*sim.Credentials{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for m, c := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr, err := sim.CookiePairing(cookie.Value, site)(ctx, c)
			if err != nil {
				t.Errorf("pair %s: %v", m, err)
				return
			}
			mu.Lock()
			creds[m] = cr
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	runs := map[string]chan error{}
	start := func(m string) {
		ch := make(chan error, 1)
		runs[m] = ch
		a := sim.New(cfgs[m], creds[m])
		go func() { ch <- a.Run(ctx) }()
	}
	defer func() {
		cancel()
		for m, ch := range runs {
			select {
			case <-ch:
			case <-time.After(15 * time.Second):
				t.Errorf("agent %s did not stop", m)
			}
		}
	}()

	api := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, bytes.NewReader(b))
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	// 1. Create the deployment (E31).
	status, out := api("POST", "/api/admin/deployments", map[string]any{
		"siteId": site, "name": "TouchDesigner 2025", "installer_name": "td.exe",
		"installer_url": "https://download.example.com/TouchDesigner.2025.31550.exe", "silent_flags": "/VERYSILENT",
		"machineIds": []string{ok, bad, cancelled},
	})
	if status != http.StatusOK || out["success"] != true {
		t.Fatalf("create: %d %v", status, out)
	}
	depID := out["deploymentId"].(string)
	depPath := "sites/" + site + "/deployments/" + depID
	dep := func() map[string]any { return e.Doc(depPath) }
	target := func(d map[string]any, m string) map[string]any {
		for _, x := range d["targets"].([]any) {
			if tm, _ := x.(map[string]any); tm["machineId"] == m {
				return tm
			}
		}
		return nil
	}
	waitFor := func(what string, timeout time.Duration, cond func(d map[string]any) bool) map[string]any {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			d := dep()
			if cond(d) {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s; deployment: %v", timeout, what, d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// 2. The failing machine's installer exits with code 1: the simulator
	// fails installs whose URL contains "fail" (its fault knob), so point
	// that machine's queued command at such a URL before it runs.
	pending := e.FS.Doc("sites/" + site + "/machines/" + bad + "/commands/pending")
	snap, err := pending.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var installCmd string
	for k := range snap.Data() {
		if strings.HasPrefix(k, "install_") {
			installCmd = k
		}
	}
	if installCmd == "" {
		t.Fatalf("no install command queued for %s: %v", bad, snap.Data())
	}
	if _, err := pending.Update(ctx, []firestore.Update{{FieldPath: firestore.FieldPath{installCmd, "installer_url"}, Value: "https://download.example.com/fail/td.exe"}}); err != nil {
		t.Fatal(err)
	}

	// 3. The slow machine starts; the trigger reports its progress.
	t0 := time.Now()
	start(cancelled)
	waitFor("the cancelled machine to report downloading", 60*time.Second, func(d map[string]any) bool {
		return target(d, cancelled)["status"] == "downloading"
	})
	t.Logf("agent start → target downloading (via the trigger): %s", time.Since(t0).Round(time.Millisecond))

	// 4. Cancel it (E34): the API marks the target cancelled and queues a
	// cancel_installation; the deployment is not finished.
	status, out = api("POST", "/api/admin/deployments/"+depID+"/cancel", map[string]any{"siteId": site, "machineId": cancelled, "installer_name": "td.exe"})
	if status != http.StatusOK {
		t.Fatalf("cancel: %d %v", status, out)
	}
	if d := dep(); d["status"] != "in_progress" || d["completedAt"] != nil {
		t.Fatalf("after the cancel: %v", d)
	}

	// 5. The other two machines come online and run their installs.
	start(ok)
	start(bad)

	// 6. Only the trigger writes from here on.
	t1 := time.Now()
	d := waitFor("the deployment to settle as partial", 90*time.Second, func(d map[string]any) bool {
		return d["status"] == "partial" && target(d, ok)["status"] == "completed" && target(d, bad)["status"] == "failed" &&
			target(d, cancelled)["status"] == "cancelled" && cancelRecorded(e, site, cancelled)
	})
	t.Logf("agents started → deployment partial: %s", time.Since(t1).Round(time.Millisecond))
	if _, ok := d["completedAt"].(time.Time); !ok {
		t.Errorf("completedAt = %v", d["completedAt"])
	}
	if tg := target(d, ok); tg["completedAt"] == nil || tg["progress"] != nil || tg["error"] != nil {
		t.Errorf("completed target = %v", tg)
	}
	if tg := target(d, bad); !strings.Contains(fmt.Sprint(tg["error"]), "exited with code 1") || tg["completedAt"] == nil {
		t.Errorf("failed target = %v", tg)
	}
	if tg := target(d, cancelled); tg["cancelledAt"] == nil {
		t.Errorf("cancelled target = %v", tg)
	}
	// Stable: nothing moves it any more.
	time.Sleep(time.Second)
	if again := dep(); again["status"] != "partial" || target(again, cancelled)["status"] != "cancelled" {
		t.Errorf("deployment moved after settling: %v", again)
	}
}

// cancelRecorded reports whether the machine's agent has recorded its
// cancel_installation as cancelled (the last completion of that machine).
func cancelRecorded(e *apptest.Env, site, machine string) bool {
	doc := e.Doc("sites/" + site + "/machines/" + machine + "/commands/completed")
	for k, v := range doc {
		if m, _ := v.(map[string]any); strings.HasPrefix(k, "cancel_") && m["status"] == "cancelled" {
			return true
		}
	}
	return false
}
