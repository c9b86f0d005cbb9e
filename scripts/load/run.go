package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/trigger/relay"
)

// Options are the run's settings (flags of the command).
type Options struct {
	Agents     int
	Duration   time.Duration // the steady phase
	Ramp       time.Duration // pairing and starting the agents, before it
	Faults     []string
	Operators  int           // 0: 2 + agents/25
	Think      time.Duration // an operator's pause between actions
	AlertEvery time.Duration
	TokenScale float64       // agent token lifetime compression
	Drain      time.Duration // how long to wait for stragglers after the steady phase
	Grace      time.Duration // failures this long after a fault are still the fault's

	FirestoreDown, AuthDown, WebhookDown, ServerDown time.Duration

	Bin            string // dev server binary (built when empty)
	Out            string // where logs and the JSON report go
	Project        string // Firestore/Auth project (default demo-load-<random>)
	Keep           bool   // keep the project's data in the emulators
	ServerLogLevel string
	Progress       io.Writer // progress lines (nil: none)
}

// run holds one run's parts.
type run struct {
	o        Options
	start    time.Time
	faults   *Faults
	rec      *Recorder
	tracker  *Tracker
	fsCount  *Counter
	auCount  *Counter
	fsProxy  *Proxy
	auProxy  *AuthProxy
	eventarc *Eventarc
	receiver *Receiver
	server   *Server
	sampler  *Sampler
	agents   *Agents
	admin    *firestore.Client
	ops      *Operators
	base     string // dev server base URL
	key      string // an API key (setup calls)

	seed        *Seed
	authProject string // the Auth emulator's default project, where agent users live
	pairCookie  string // the dashboard session that approves pairings
	serverLog   *os.File
	stopPolls   context.CancelFunc

	mu          sync.Mutex
	steadyStart time.Time
	steadyEnd   time.Time
	drainEnd    time.Time
	restarts    []time.Duration // kill → ready
	authProbe   map[string]map[int]int
	hbSteady    int64 // heartbeats written during the steady phase
	setupErrors []string
}

func (r *run) progress(format string, args ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, "[load %6s] %s\n", fmtDur(time.Since(r.start)), fmt.Sprintf(format, args...))
	}
}

// Run performs one load run and returns its report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Operators <= 0 {
		o.Operators = 2 + o.Agents/25
	}
	for _, v := range []string{"FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", relay.EnvVar} {
		if os.Getenv(v) == "" {
			return nil, fmt.Errorf("%s is not set: run the load through `make load` (it starts the emulators)", v)
		}
	}
	for _, kv := range localDefaults {
		if os.Getenv(kv[0]) == "" {
			os.Setenv(kv[0], kv[1])
		}
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	if o.Project == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		o.Project = "demo-load-" + hex.EncodeToString(b)
	}
	siteID = "site-" + o.Project
	if o.Out == "" {
		o.Out = filepath.Join(root, ".stack", "load")
	}
	dir := filepath.Join(o.Out, o.Project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &run{o: o, start: time.Now(), faults: &Faults{grace: o.Grace}, tracker: NewTracker(), authProbe: map[string]map[int]int{}}
	r.rec = NewRecorder(r.start, r.faults)
	r.fsCount, r.auCount = NewCounter(r.start), NewCounter(r.start)
	r.progress("project %s, %d agents, %d operators, steady %s after a %s ramp, faults: %v; logs in %s", o.Project, o.Agents, o.Operators, o.Duration, o.Ramp, o.Faults, dir)

	if r.o.Bin == "" {
		r.progress("building the dev server")
		t0 := time.Now()
		if r.o.Bin, err = buildServer(root, dir); err != nil {
			return nil, err
		}
		r.progress("built in %s", time.Since(t0).Round(100*time.Millisecond))
	}
	defer r.teardown()
	if err := r.setup(ctx, root, dir); err != nil {
		return nil, err
	}

	// Ramp: pair and start the fleet.
	agentLogFile, err := os.Create(filepath.Join(dir, "agents.log"))
	if err != nil {
		return nil, err
	}
	defer agentLogFile.Close()
	r.agents = NewAgents(r.agentConfig(agentLogFile), r.pairCookie, r.tracker)
	sctx, stopSampler := context.WithCancel(context.Background())
	defer stopSampler()
	r.sampler = &Sampler{start: r.start, server: r.server}
	go r.sampler.Run(sctx, time.Second)
	r.progress("ramp: pairing %d agents over %s", o.Agents, o.Ramp)
	r.agents.Ramp(ctx, o.Agents, o.Ramp, func(s string) { r.progress("%s", s) })
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	r.steady(ctx)
	r.drain(ctx)

	r.progress("stopping the agents")
	r.agents.Stop()
	stopSampler()
	vctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outcome := r.tracker.Verify(vctx, r.admin)
	rep := r.report(outcome)
	if b, err := json.MarshalIndent(rep, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644)
	}
	return rep, nil
}

// setup starts the proxies, the trigger relay, the webhook receiver and the
// dev server, seeds the project and creates the webhook.
func (r *run) setup(ctx context.Context, root, dir string) error {
	var err error
	fsEmu, authEmu := os.Getenv("FIRESTORE_EMULATOR_HOST"), os.Getenv("FIREBASE_AUTH_EMULATOR_HOST")
	if r.fsProxy, err = StartProxy("firestore", fsEmu, r.fsCount); err != nil {
		return err
	}
	emuProject := os.Getenv("GOOGLE_CLOUD_PROJECT") // the stack's: the Auth emulator's default project
	if emuProject == "" || emuProject == r.o.Project {
		emuProject = "demo-owlette"
	}
	r.authProject = emuProject
	if r.auProxy, err = StartAuthProxy(authEmu, r.o.Project, emuProject, r.auCount); err != nil {
		return err
	}
	if r.eventarc, err = StartEventarc(); err != nil {
		return err
	}
	if err := relay.Register(ctx, os.Getenv(relay.EnvVar), r.o.Project, r.eventarc.URL()); err != nil {
		return fmt.Errorf("register the run's project on the stack's trigger relay: %w", err)
	}
	go r.keepRelay(ctx)
	if r.admin, err = firestore.NewClient(ctx, r.o.Project); err != nil {
		return err
	}
	if err := loadRules(ctx, fsEmu, root, r.o.Project); err != nil {
		return fmt.Errorf("load firestore.rules: %w", err)
	}
	nKeys, nSessions := (r.o.Operators+1)/2, r.o.Operators/2+1
	seedInfo, err := seed(ctx, r.admin, nKeys, nSessions)
	if err != nil {
		return err
	}
	r.seed = seedInfo
	r.key, r.pairCookie = seedInfo.Keys[0], seedInfo.Cookies[len(seedInfo.Cookies)-1]
	if r.receiver, err = StartReceiver(func(msg, id string) {
		r.faults.Recovered(faultWebhook, time.Now(), time.Now())
		r.tracker.AlertDelivered(msg, id)
	}); err != nil {
		return err
	}

	addr, err := freeLowAddr()
	if err != nil {
		return err
	}
	resend, _ := freeLowAddr()
	llm, _ := freeLowAddr()
	r.base = "http://" + addr
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return err
	}
	r.serverLog = logf
	r.server = &Server{bin: r.o.Bin, addr: addr, log: logf, env: serverEnv(map[string]string{
		"GOOGLE_CLOUD_PROJECT":        r.o.Project,
		"FIRESTORE_EMULATOR_HOST":     r.fsProxy.Addr(),
		"FIREBASE_AUTH_EMULATOR_HOST": r.auProxy.Addr(),
		relay.EnvVar:                  r.eventarc.Addr(),
		"RESEND_BASE_URL":             "http://" + resend,
		"ANTHROPIC_BASE_URL":          "http://" + llm,
		"OPENAI_BASE_URL":             "http://" + llm + "/v1",
		"BASE_URL":                    r.base,
		"WEBHOOK_ALLOW_LOOPBACK":      "true",
		"TRUSTED_PROXY_HOPS":          "1",
		"LOG_LEVEL":                   r.o.ServerLogLevel,
		"OWLETTE_SCHEDULE_EVERY":      "",
	})}
	r.progress("starting the dev server on %s (Firestore via proxy %s, Auth via proxy %s)", r.base, r.fsProxy.Addr(), r.auProxy.Addr())
	took, err := r.server.Start(ctx, readyWithKey(r.base, r.key))
	if err != nil {
		return err
	}
	r.progress("dev server ready in %s", took.Round(time.Millisecond))
	return r.createWebhook(ctx)
}

// keepRelay registers the run's project on the stack's relay again every
// 30 s (the relay may have restarted) until the run ends.
func (r *run) keepRelay(ctx context.Context) {
	for sleepCtx(ctx, 30*time.Second) == nil {
		_ = relay.Register(ctx, os.Getenv(relay.EnvVar), r.o.Project, r.eventarc.URL())
	}
}

// createWebhook subscribes the receiver to process.crashed (E45, API key).
func (r *run) createWebhook(ctx context.Context) error {
	body, _ := json.Marshal(map[string]any{"siteId": siteID, "name": "load receiver", "url": r.receiver.URL(), "events": []string{"process.crashed"}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/api/admin/webhooks", bytes.NewReader(body))
	req.Header.Set("x-api-key", r.key)
	req.Header.Set("X-Forwarded-For", "198.18.255.253")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Secret string `json:"secret"`
		Error  string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK || out.Secret == "" {
		return fmt.Errorf("create the webhook: %d %s", resp.StatusCode, out.Error)
	}
	r.receiver.SetSecret(out.Secret)
	return nil
}

// agentConfig is the fleet's template: real-time cadence, the token
// lifetime compressed by TokenScale so that refreshes happen within the run.
func (r *run) agentConfig(logw io.Writer) sim.Config {
	c := sim.Defaults("")
	c.API = r.base + "/api"
	c.FirestoreURL = "http://" + r.fsProxy.Addr()
	c.ProjectID = r.o.Project
	c.TokenScale = r.o.TokenScale
	c.Log = newAgentLog(logw, r.tracker)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * (r.o.Agents + 64)
	t.MaxIdleConnsPerHost = r.o.Agents + 64
	t.IdleConnTimeout = 90 * time.Second
	c.HTTP = &http.Client{Transport: &recordingTransport{base: t, rec: r.rec, fsHost: r.fsProxy.Addr(), apiRoot: "/api"}}
	return c
}

// steady runs the operators, the alerts and the faults for the duration.
func (r *run) steady(ctx context.Context) {
	r.mu.Lock()
	r.steadyStart = time.Now()
	r.mu.Unlock()
	hb0 := r.agents.heartbeats.Load()
	sctx, cancel := context.WithTimeout(ctx, r.o.Duration)
	defer cancel()
	r.progress("steady phase: %s", r.o.Duration)
	pollCtx, stopPolls := context.WithCancel(context.Background())
	r.stopPolls = stopPolls
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	r.ops = &Operators{base: r.base, rec: r.rec, tracker: r.tracker, agents: r.agents.List, think: r.o.Think, pollCtx: pollCtx,
		client: &http.Client{Transport: t, Timeout: 65 * time.Second}}
	var wg sync.WaitGroup
	wg.Go(func() { r.ops.Run(sctx, r.seed, r.o.Operators) })
	wg.Go(func() { r.raiseAlerts(sctx) })
	wg.Go(func() { r.injectFaults(sctx) })
	wg.Go(func() { r.report30s(sctx) })
	wg.Wait()
	r.mu.Lock()
	r.steadyEnd = time.Now()
	r.hbSteady = r.agents.heartbeats.Load() - hb0
	r.mu.Unlock()
}

// raiseAlerts makes one agent after another report a process crash.
func (r *run) raiseAlerts(ctx context.Context) {
	if r.o.AlertEvery <= 0 {
		return
	}
	n := 0
	for sleepCtx(ctx, r.o.AlertEvery) == nil {
		ags := r.agents.List()
		for range len(ags) {
			n++
			ag := ags[n%len(ags)]
			if r.agents.raiseAlert(context.WithoutCancel(ctx), ag, fmt.Sprintf("%s alert %d", r.o.Project, n)) {
				break
			}
		}
	}
}

// injectFaults runs the fault schedule; every fault ends (the component
// comes back) when its time is up or the steady phase ends.
func (r *run) injectFaults(ctx context.Context) {
	plan := schedule(r.o.Faults, r.o.Duration, r.o.FirestoreDown, r.o.AuthDown, r.o.WebhookDown, r.o.ServerDown)
	var wg sync.WaitGroup
	for _, f := range plan {
		wg.Go(func() {
			if sleepCtx(ctx, f.At) != nil {
				return
			}
			r.fault(ctx, f)
		})
	}
	wg.Wait()
}

func (r *run) fault(ctx context.Context, f plannedFault) {
	// The component always comes back, even when the phase ends early.
	hold := func() { _ = sleepCtx(ctx, f.Length) }
	switch f.Kind {
	case faultFirestore:
		w := r.faults.Begin(f.Kind, fmt.Sprintf("Firestore unreachable for %s: the run's proxy reset every connection and refused new ones (the shared emulator itself keeps running)", f.Length))
		r.progress("FAULT firestore: down for %s", f.Length)
		r.fsProxy.Down()
		hold()
		if err := r.fsProxy.Up(); err != nil {
			r.setupError(err)
		}
		r.faults.End(w)
		r.progress("FAULT firestore: back")
	case faultAuth:
		w := r.faults.Begin(f.Kind, fmt.Sprintf("Auth emulator unreachable for %s (proxy down)", f.Length))
		r.progress("FAULT auth: down for %s", f.Length)
		r.auProxy.Down()
		// Force refreshes while it is down: the agents must get 503 and
		// keep their credentials.
		var during map[int]int
		probed := make(chan struct{})
		go func() {
			defer close(probed)
			_ = sleepCtx(ctx, min(5*time.Second, f.Length/2))
			during = r.agents.probeRefresh(context.WithoutCancel(ctx), 20)
		}()
		hold()
		if err := r.auProxy.Up(); err != nil {
			r.setupError(err)
		}
		r.faults.End(w)
		<-probed
		r.progress("FAULT auth: back; forced refreshes during the outage: %v", during)
		_ = sleepCtx(context.WithoutCancel(ctx), 3*time.Second)
		after := r.agents.probeRefresh(context.WithoutCancel(ctx), 20)
		r.progress("forced refreshes after the outage: %v", after)
		r.mu.Lock()
		r.authProbe["during"], r.authProbe["after"] = during, after
		r.mu.Unlock()
	case faultWebhook:
		w := r.faults.Begin(f.Kind, fmt.Sprintf("webhook target down for %s (connection refused)", f.Length))
		r.progress("FAULT webhook target: down for %s", f.Length)
		r.receiver.Down()
		hold()
		if err := r.receiver.Up(); err != nil {
			r.setupError(err)
		}
		r.faults.End(w)
		r.progress("FAULT webhook target: back")
	case faultServer:
		w := r.faults.Begin(f.Kind, fmt.Sprintf("dev server killed (SIGKILL), started again after %s", f.Length))
		r.progress("FAULT server: kill -9, restart in %s", f.Length)
		t0 := time.Now()
		r.server.Kill()
		_ = sleepCtx(context.WithoutCancel(ctx), f.Length)
		if _, err := r.server.Start(context.WithoutCancel(ctx), readyWithKey(r.base, r.key)); err != nil {
			r.setupError(fmt.Errorf("restart the dev server: %w", err))
		}
		r.faults.End(w)
		down := time.Since(t0)
		r.mu.Lock()
		r.restarts = append(r.restarts, down)
		r.mu.Unlock()
		r.progress("FAULT server: serving again %s after the kill", down.Round(time.Millisecond))
	}
}

func (r *run) setupError(err error) {
	r.mu.Lock()
	r.setupErrors = append(r.setupErrors, err.Error())
	r.mu.Unlock()
	r.progress("ERROR %v", err)
}

// report30s prints a progress line every 30 s.
func (r *run) report30s(ctx context.Context) {
	for sleepCtx(ctx, 30*time.Second) == nil {
		now := time.Since(r.start)
		st := r.rec.Between(now-30*time.Second, now)
		ss := r.sampler.Samples()
		var cpu, rss, fsem float64
		if n := min(len(ss), 30); n > 0 {
			for _, s := range ss[len(ss)-n:] {
				cpu += s.ServerCPU / float64(n)
				fsem += s.FirestoreEm / float64(n)
				rss = s.ServerRSS
			}
		}
		c, d, a := r.tracker.Outstanding()
		r.progress("%d agents, %.0f req/s (%.1f API), errors %d, server CPU %.0f%% RSS %.0f MiB, Firestore emulator CPU %.0f%%, open: %d commands %d deployments %d alerts",
			len(r.agents.List()), float64(st.Requests)/30, float64(st.API)/30, r.rec.Errors(), cpu, rss, fsem, c, d, a)
	}
}

// drain stops new work and waits until everything started has finished
// (or the drain time is up); agents keep running.
func (r *run) drain(ctx context.Context) {
	deadline := time.Now().Add(r.o.Drain)
	last := time.Time{}
	for {
		c, d, a := r.tracker.Outstanding()
		pend := r.eventarc.Pending()
		if c+d+a == 0 && pend == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.progress("drain time up with %d commands, %d deployments, %d alerts and %d trigger events open", c, d, a, pend)
			break
		}
		if time.Since(last) >= 15*time.Second {
			r.progress("draining: %d commands, %d deployments, %d alerts, %d trigger events open", c, d, a, pend)
			last = time.Now()
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.stopPolls()
	r.ops.WaitPolls()
	r.mu.Lock()
	r.drainEnd = time.Now()
	r.mu.Unlock()
}

// teardown stops what setup started and removes the run's data.
func (r *run) teardown() {
	if r.server != nil {
		r.server.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.eventarc != nil {
		_ = relay.Unregister(ctx, os.Getenv(relay.EnvVar), r.o.Project, r.eventarc.URL())
		r.eventarc.Close()
	}
	if r.receiver != nil {
		r.receiver.Down()
	}
	if r.fsProxy != nil {
		r.fsProxy.Close()
	}
	if r.auProxy != nil {
		r.auProxy.Close()
	}
	if r.admin != nil {
		r.admin.Close()
	}
	if r.serverLog != nil {
		r.serverLog.Close()
	}
	if !r.o.Keep {
		if err := cleanup(ctx, os.Getenv("FIRESTORE_EMULATOR_HOST"), r.o.Project); err != nil {
			r.progress("could not delete the run's data from the Firestore emulator: %v", err)
		}
		var uids []string
		for i := range r.o.Agents {
			uids = append(uids, agenttoken.UID(siteID, machineName(i)))
		}
		if err := deleteUsers(ctx, os.Getenv("FIREBASE_AUTH_EMULATOR_HOST"), r.authProject, uids); err != nil {
			r.progress("could not delete the agents' users from the Auth emulator: %v", err)
		}
	}
}

// freeLowAddr is a free loopback address below the ephemeral range (the dev
// server is started again on it after the kill).
func freeLowAddr() (string, error) {
	ln, err := listenLow()
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// repoRoot finds the module root (go.mod of github.com/owlette/server) from
// the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/owlette/server")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository (go.mod of github.com/owlette/server not found)")
		}
		dir = parent
	}
}
