// Command stack manages the local emulator stack that tests and the dev
// server run against: the Firestore emulator (gcloud jar), the Firebase Auth
// emulator (firebase-tools), fake-gcs-server (in-process) and the trigger
// relay (in-process): the Firestore emulator delivers change events to the
// relay, which forwards each to the process that registered the event's
// project (the dev server for demo-owlette, each test for its own project;
// see shared/trigger/relay).
//
//	go run ./scripts/stack run [--dev-env] -- CMD ARGS...   start what is missing, run CMD with the stack env, stop what it started
//	go run ./scripts/stack dev                             start what is missing, then the dev server on 127.0.0.1:18080
//	go run ./scripts/stack up                              start what is missing and leave it running (pids in .stack/pids)
//	go run ./scripts/stack down                            stop what `up` started
//	go run ./scripts/stack status                          show which services answer
//	go run ./scripts/stack env [--dev-env]                 print the stack env as shell exports
//
// A service that already answers on its port is reused and never stopped.
// Started services log to .stack/logs/<name>.log.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/owlette/server/shared/trigger/relay"
	"github.com/owlette/server/shared/web"
)

// Fixed conventions of the local stack (loopback only).
const (
	projectID     = "demo-owlette" // "demo-" keeps every Firebase tool offline
	bucketName    = "demo-owlette.appspot.com"
	loopback      = "127.0.0.1"
	devPort       = 18080
	firestorePort = 18081
	gcsPort       = 18082
	resendPort    = 18083 // the dev server's fake Resend (caught e-mails)
	llmPort       = 18084 // the dev server's fake Anthropic / OpenAI
	relayPort     = 18090 // the Firestore emulator's --functions_emulator
	authPort      = 18099

	modulePath = "github.com/owlette/server"
	stateDir   = ".stack"
)

func addr(port int) string { return net.JoinHostPort(loopback, strconv.Itoa(port)) }

// ---------------------------------------------------------------------------
// Environment

// kv is one environment variable.
type kv struct{ Key, Value string }

// stackEnv returns the variables a process needs to talk to the stack. With
// dev set it adds the fixed, obviously local secrets the dev server requires.
func stackEnv(dev bool) []kv {
	env := []kv{
		{"FIRESTORE_EMULATOR_HOST", addr(firestorePort)},
		{"FIREBASE_AUTH_EMULATOR_HOST", addr(authPort)},
		{"STORAGE_EMULATOR_HOST", addr(gcsPort)},
		{"GOOGLE_CLOUD_PROJECT", projectID},
		{relay.EnvVar, addr(relayPort)},
	}
	if dev {
		env = append(env,
			kv{"SESSION_SECRET", "local-dev-session-secret-not-for-production-0001"},
			kv{"MFA_ENCRYPTION_KEY", "local-dev-mfa-key-not-for-production-0001"},
			kv{"LLM_ENCRYPTION_KEY", "local-dev-llm-key-not-for-production-0001"},
			kv{"CRON_SECRET", "local-dev-cron-secret-not-for-production"},
			kv{"CORTEX_INTERNAL_SECRET", "local-dev-cortex-secret-not-for-production"},
			kv{"FIREBASE_API_KEY", "fake-api-key"},
			kv{"STORAGE_BUCKET", bucketName},
			kv{"OWLETTE_ENV", "local"},
			kv{"WEBAUTHN_ORIGINS", "http://localhost:18080,http://localhost:3000"},
			// Local clients may name their address in X-Forwarded-For (the
			// simulated fleet's load test spreads agents over addresses).
			kv{"TRUSTED_PROXY_HOPS", "1"},
			// What leaves the machine is caught by loopback fakes the dev
			// server runs (-fakes): e-mails, LLM calls. Webhooks may target
			// a local receiver.
			kv{"RESEND_API_KEY", "re_local_dev_not_a_real_key"},
			kv{"RESEND_BASE_URL", "http://" + addr(resendPort)},
			kv{"RESEND_FROM_EMAIL", "owlette <alerts@owlette.local>"},
			kv{"ADMIN_EMAIL_DEV", "admin@owlette.local"},
			kv{"BASE_URL", "http://" + addr(devPort)},
			kv{"WEBHOOK_ALLOW_LOOPBACK", "true"},
			kv{"ANTHROPIC_BASE_URL", "http://" + addr(llmPort)},
			kv{"OPENAI_BASE_URL", "http://" + addr(llmPort) + "/v1"},
		)
	}
	return env
}

// mergeEnv returns base with every variable of add set, replacing earlier
// values of the same name; the order of base is kept and new names follow.
func mergeEnv(base []string, add []kv) []string {
	set := make(map[string]string, len(add))
	for _, v := range add {
		set[v.Key] = v.Value
	}
	out := make([]string, 0, len(base)+len(add))
	for _, e := range base {
		k, _, _ := strings.Cut(e, "=")
		if _, ok := set[k]; ok {
			continue
		}
		out = append(out, e)
	}
	for _, v := range add {
		out = append(out, v.Key+"="+v.Value)
	}
	return out
}

// withoutEnv drops the named variables from env. Services get an environment
// without the *_EMULATOR_HOST variables so they never try to talk to each
// other (firebase-tools reacts to some of them).
func withoutEnv(env []string, names ...string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		drop := false
		for _, n := range names {
			if k == n {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, e)
		}
	}
	return out
}

func serviceEnv() []string {
	return withoutEnv(os.Environ(), "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST",
		"STORAGE_EMULATOR_HOST", "FIREBASE_STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "GCLOUD_PROJECT")
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ---------------------------------------------------------------------------
// Readiness

// probeState says what answers on a service's port.
type probeState int

const (
	stateDown  probeState = iota // nothing accepts connections
	stateOther                   // something answers, but not (yet) a ready instance of the service
	stateReady                   // the service answers and is ready
)

func (s probeState) String() string {
	switch s {
	case stateReady:
		return "ready"
	case stateOther:
		return "answering, not ready"
	default:
		return "down"
	}
}

// firestoreReady reports whether a Firestore emulator's `GET /` answer says
// it is up: status 200 and the body "Ok".
func firestoreReady(status int, body []byte) bool {
	return status == http.StatusOK && strings.TrimSpace(string(body)) == "Ok"
}

// authReady reports whether an Auth emulator's `GET /` answer says it is
// ready: {"authEmulator":{"ready":true,...}}.
func authReady(status int, body []byte) bool {
	if status != http.StatusOK {
		return false
	}
	var v struct {
		AuthEmulator struct {
			Ready bool `json:"ready"`
		} `json:"authEmulator"`
	}
	return json.Unmarshal(body, &v) == nil && v.AuthEmulator.Ready
}

// gcsReady reports whether a `GET /storage/v1/b` answer comes from a GCS
// JSON API (fake-gcs-server answers {"kind":"storage#buckets",...}). Only
// the leading fields are read: on a long-lived stack the bucket list grows
// past what the probe reads, so the body may be cut short.
func gcsReady(status int, body []byte) bool {
	if status != http.StatusOK {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false
		}
		if key == "kind" {
			kind, err := dec.Token()
			return err == nil && kind == "storage#buckets"
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// probeHTTP GETs url and classifies the answer with ready.
func probeHTTP(ctx context.Context, url string, ready func(int, []byte) bool) probeState {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return stateDown
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return stateDown
		}
		return stateOther // accepted the connection, then failed or timed out
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if ready(resp.StatusCode, body) {
		return stateReady
	}
	return stateOther
}

// ---------------------------------------------------------------------------
// Services

type service struct {
	name    string // log and pid-file name
	title   string
	port    int
	timeout time.Duration                            // how long a start may take before it counts as failed
	marker  string                                   // substring of the command line of a process that `up` started
	probe   func(context.Context) probeState         // what answers on the port
	command func(*stack) (*exec.Cmd, error)          // how to start it as a process
	after   func(context.Context) error              // run once it is ready (started or reused)
	inProc  func(*stack, io.Writer) (stopper, error) // how to start it inside this process, if it can be
}

type stopper interface{ Stop() }

func services() []*service {
	return []*service{
		{
			name: "firestore", title: "Firestore emulator", port: firestorePort, timeout: 120 * time.Second,
			marker: "CloudFirestore",
			probe: func(ctx context.Context) probeState {
				return probeHTTP(ctx, "http://"+addr(firestorePort)+"/", firestoreReady)
			},
			command: firestoreCommand,
		},
		{
			name: "auth", title: "Auth emulator", port: authPort, timeout: 240 * time.Second,
			marker: "firebase",
			probe: func(ctx context.Context) probeState {
				return probeHTTP(ctx, "http://"+addr(authPort)+"/", authReady)
			},
			command: authCommand,
		},
		{
			name: "gcs", title: "fake-gcs-server", port: gcsPort, timeout: 30 * time.Second,
			marker: "serve-gcs",
			probe: func(ctx context.Context) probeState {
				return probeHTTP(ctx, "http://"+addr(gcsPort)+"/storage/v1/b", gcsReady)
			},
			command: gcsCommand,
			inProc:  func(_ *stack, log io.Writer) (stopper, error) { return startGCS(log) },
			after:   ensureBucket,
		},
		{
			name: "relay", title: "trigger relay", port: relayPort, timeout: 10 * time.Second,
			marker: "serve-relay",
			probe: func(ctx context.Context) probeState {
				return probeHTTP(ctx, "http://"+addr(relayPort)+"/relay/v1/health", relayReady)
			},
			command: relayCommand,
			inProc:  func(_ *stack, log io.Writer) (stopper, error) { return startRelay(log) },
		},
	}
}

// relayReady reports whether a `GET /relay/v1/health` answer comes from a
// trigger relay.
func relayReady(status int, body []byte) bool {
	if status != http.StatusOK {
		return false
	}
	var v struct {
		Relay string `json:"relay"`
	}
	return json.Unmarshal(body, &v) == nil && v.Relay == relay.Name
}

// relayCommand runs this program's serve-relay in a separate process (`up`).
func relayCommand(st *stack) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "serve-relay")
	cmd.Dir = st.root
	cmd.Env = serviceEnv()
	return cmd, nil
}

// relayServer is the relay running in this process.
type relayServer struct{ srv *http.Server }

func (r relayServer) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

// startRelay serves the trigger relay on its port in this process.
func startRelay(log io.Writer) (relayServer, error) {
	ln, err := net.Listen("tcp", addr(relayPort))
	if err != nil {
		return relayServer{}, err
	}
	srv := web.NewServer(relay.New(log))
	go func() { _ = srv.Serve(ln) }()
	return relayServer{srv}, nil
}

const (
	sdkFallback   = "/usr/lib/google-cloud-sdk"
	jarRelPath    = "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
	firestoreMain = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
	firebaseJS    = "tools/node_modules/firebase-tools/lib/bin/firebase.js"
)

// firestoreJar finds the emulator jar in the Cloud SDK: first next to the
// gcloud on PATH (instant), then where `gcloud info` says the SDK is (slow:
// gcloud is Python), then in the Debian package location. It returns the
// path it expects when none has the jar.
func firestoreJar() string {
	if gcloud, err := exec.LookPath("gcloud"); err == nil {
		if real, err := filepath.EvalSymlinks(gcloud); err == nil {
			// <root>/bin/gcloud
			if jar := filepath.Join(filepath.Dir(filepath.Dir(real)), jarRelPath); fileExists(jar) {
				return jar
			}
		}
	}
	if root := sdkRootFromGcloud(); root != "" {
		if jar := filepath.Join(root, jarRelPath); fileExists(jar) {
			return jar
		}
	}
	return filepath.Join(sdkFallback, jarRelPath)
}

// sdkRootFromGcloud asks gcloud for its installation root ("" if it can't).
func sdkRootFromGcloud() string {
	out, err := exec.Command("gcloud", "info", "--format=value(installation.sdk_root)").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// firestoreArgs is the java command line for the emulator jar. rules may be
// empty (no rules: everything is allowed).
func firestoreArgs(jar, rules string) []string {
	args := []string{
		"-Duser.language=en", "-cp", jar, firestoreMain, "start",
		"--host=" + loopback, "--port=" + strconv.Itoa(firestorePort), "--project_id=" + projectID,
	}
	if rules != "" {
		args = append(args, "--rules="+rules)
	}
	return append(args, "--functions_emulator="+addr(relayPort))
}

func firestoreCommand(st *stack) (*exec.Cmd, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("java not found on PATH: the Firestore emulator needs a JRE (17 works)")
	}
	jar := firestoreJar()
	if !fileExists(jar) {
		return nil, fmt.Errorf("Firestore emulator jar not found at %s: run `gcloud components install cloud-firestore-emulator` "+
			"or `apt-get install google-cloud-cli-firestore-emulator`", jar)
	}
	rules := ""
	if p := filepath.Join(st.root, "firestore.rules"); fileExists(p) {
		rules = p
	}
	cmd := exec.Command(java, firestoreArgs(jar, rules)...)
	cmd.Dir = st.root
	cmd.Env = serviceEnv()
	return cmd, nil
}

func authArgs() []string {
	return []string{firebaseJS, "emulators:start", "--only", "auth", "--project", projectID}
}

func authCommand(st *stack) (*exec.Cmd, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node not found on PATH: the Auth emulator needs Node.js")
	}
	if !fileExists(filepath.Join(st.root, firebaseJS)) {
		return nil, fmt.Errorf("%s not found: run `make deps` (or `cd tools && npm ci`)", firebaseJS)
	}
	cmd := exec.Command(node, authArgs()...)
	cmd.Dir = st.root // firebase.json (auth port, UI disabled) lives here
	cmd.Env = mergeEnv(serviceEnv(), []kv{{"CI", "true"}})
	return cmd, nil
}

// gcsCommand runs this program's serve-gcs in a separate process; only `up`
// needs that, since it has to outlive this process.
func gcsCommand(st *stack) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "serve-gcs")
	cmd.Dir = st.root
	cmd.Env = serviceEnv()
	return cmd, nil
}

// startGCS runs fake-gcs-server in this process with an in-memory backend
// and the stack's bucket.
func startGCS(log io.Writer) (*fakestorage.Server, error) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:      "http",
		Host:        loopback,
		Port:        gcsPort,
		ExternalURL: "http://" + addr(gcsPort),
		PublicHost:  addr(gcsPort),
		Writer:      log,
	})
	if err != nil {
		return nil, err
	}
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucketName})
	return srv, nil
}

// ensureBucket creates the stack's bucket on a fake-gcs-server that lacks it
// (one that this program did not start, say).
func ensureBucket(ctx context.Context) error {
	base := "http://" + addr(gcsPort) + "/storage/v1/b"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+bucketName, nil)
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	body, _ := json.Marshal(map[string]string{"name": bucketName})
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"?project="+projectID, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err = probeClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusConflict {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("creating bucket %s: %s: %s", bucketName, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// ---------------------------------------------------------------------------
// Processes

// proc is a service this program started.
type proc struct {
	svc     *service
	cmd     *exec.Cmd // nil when in-process
	inProc  stopper
	logPath string
	logFile *os.File
	done    chan struct{} // closed when cmd has exited
	err     error         // cmd's exit error, valid after done
}

func (p *proc) exited() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the service: SIGTERM to its process group, SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p.inProc != nil {
		p.inProc.Stop()
	}
	if p.cmd != nil && p.cmd.Process != nil {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			fmt.Fprintf(os.Stderr, "stack: %s did not stop within %s, killing it\n", p.svc.name, grace)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		// Anything the leader left behind in its group goes too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	if p.logFile != nil {
		p.logFile.Close()
	}
}

// setParentDeathSignal asks Linux to send sig to the child when this process
// dies (even by SIGKILL), so a killed `stack run` leaves no emulator behind.
// Set by name because the field exists on Linux only.
func setParentDeathSignal(attr *syscall.SysProcAttr, sig syscall.Signal) {
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(sig))
	}
}

// ---------------------------------------------------------------------------
// The stack

type stack struct {
	root    string
	detach  bool // `up`: started services outlive this process
	started []*proc
	mu      sync.Mutex
}

func (st *stack) logDir() string { return filepath.Join(st.root, stateDir, "logs") }

// ensureAll makes every service ready, starting those that do not answer, in
// parallel. On failure it stops what it started and returns the errors.
func (st *stack) ensureAll(ctx context.Context, svcs []*service) error {
	if err := os.MkdirAll(st.logDir(), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(svcs))
	var wg sync.WaitGroup
	for i, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = st.ensure(ctx, s); errs[i] != nil {
				cancel() // no point waiting for the others
			}
		}()
	}
	wg.Wait()
	if err := joinErrors(errs); err != nil {
		st.stopAll()
		return err
	}
	return nil
}

// errInterrupted marks a wait cut short by a signal or by a sibling's failure.
var errInterrupted = errors.New("interrupted")

// joinErrors joins errs, leaving out interruptions caused by a real failure
// among them.
func joinErrors(errs []error) error {
	var real, all []error
	for _, e := range errs {
		if e == nil {
			continue
		}
		all = append(all, e)
		if !errors.Is(e, errInterrupted) {
			real = append(real, e)
		}
	}
	if len(real) > 0 {
		return errors.Join(real...)
	}
	return errors.Join(all...)
}

func (st *stack) ensure(ctx context.Context, s *service) error {
	t0 := time.Now()
	switch s.probe(ctx) {
	case stateReady:
		logf("%-9s reusing the one on %s", s.name, addr(s.port))
		return st.afterReady(ctx, s)
	case stateOther:
		// Maybe another `stack` is starting it right now: give it time.
		logf("%-9s something answers on %s but is not ready; waiting for it", s.name, addr(s.port))
		if err := waitReady(ctx, s, nil, s.timeout); err != nil {
			return fmt.Errorf("%s: port %s is taken by something that is not a ready %s (%v)", s.name, addr(s.port), s.title, err)
		}
		logf("%-9s reusing the one on %s (became ready after %s)", s.name, addr(s.port), since(t0))
		return st.afterReady(ctx, s)
	}

	p, err := st.start(s)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	if err := waitReady(ctx, s, p, s.timeout); err != nil {
		if errors.Is(err, errInterrupted) {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		return fmt.Errorf("%s: %w%s", s.name, err, tailNote(p.logPath))
	}
	logf("%-9s started on %s, ready in %s (log %s)", s.name, addr(s.port), since(t0), st.rel(p.logPath))
	return st.afterReady(ctx, s)
}

func (st *stack) afterReady(ctx context.Context, s *service) error {
	if s.after == nil {
		return nil
	}
	if err := s.after(ctx); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

func (st *stack) start(s *service) (*proc, error) {
	logPath := filepath.Join(st.logDir(), s.name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{svc: s, logPath: logPath, logFile: lf, done: make(chan struct{})}

	if s.inProc != nil && !st.detach {
		stop, err := s.inProc(st, lf)
		if err != nil {
			lf.Close()
			return nil, err
		}
		p.inProc = stop
		st.track(p)
		return p, nil
	}

	cmd, err := s.command(st)
	if err != nil {
		lf.Close()
		return nil, err
	}
	fmt.Fprintf(lf, "# %s\n# started %s\n", strings.Join(cmd.Args, " "), time.Now().Format(time.RFC3339))
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if st.detach {
		cmd.SysProcAttr.Setsid = true // own session and group; survives this process and its terminal
	} else {
		cmd.SysProcAttr.Setpgid = true // own group: terminal Ctrl-C does not reach it, we stop it ourselves
		setParentDeathSignal(cmd.SysProcAttr, syscall.SIGTERM)
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p.cmd = cmd
	go func() { p.err = cmd.Wait(); close(p.done) }()
	st.track(p)
	return p, nil
}

func (st *stack) track(p *proc) {
	st.mu.Lock()
	st.started = append(st.started, p)
	st.mu.Unlock()
}

// stopAll stops, in parallel, every service this process started.
func (st *stack) stopAll() {
	st.mu.Lock()
	started := st.started
	st.started = nil
	st.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			p.stop(15 * time.Second)
			logf("%-9s stopped (%s)", p.svc.name, since(t0))
		}()
	}
	wg.Wait()
}

func (st *stack) rel(p string) string {
	if r, err := filepath.Rel(st.root, p); err == nil {
		return r
	}
	return p
}

// waitReady polls s until it is ready, p (if any) exits, ctx ends or the
// timeout passes.
func waitReady(ctx context.Context, s *service, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.probe(ctx) == stateReady {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v)", s.title, p.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready on %s after %s", s.title, addr(s.port), timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w while waiting for %s", errInterrupted, s.title)
		case <-tick.C:
		}
	}
}

// tailNote is the last lines of a service log, for an error message.
func tailNote(path string) string {
	lines := tailLines(path, 30)
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("\n--- last %d lines of %s ---\n%s\n---", len(lines), path, strings.Join(lines, "\n"))
}

// tailLines returns the last n lines of the file (at most its last 64 KiB).
func tailLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const maxTail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		_, _ = f.Seek(-maxTail, io.SeekEnd)
	}
	data, _ := io.ReadAll(f)
	return lastLines(string(data), n)
}

func lastLines(s string, n int) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// ---------------------------------------------------------------------------
// Running a command

// exitCode maps a finished command to the code this program exits with.
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		if err != nil {
			return 127
		}
		return 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// runForeground runs args with env, forwarding SIGINT/SIGTERM/SIGHUP from
// sigc (a second signal kills it), and returns its exit code. With no terminal
// on stdin the command gets its own process group, which is signalled as a
// whole and cleaned up after it exits (go test's test binaries included).
// With a terminal it stays in ours so that Ctrl-C reaches it directly and it
// can read the terminal.
func runForeground(args, env []string, dir string, sigc <-chan os.Signal) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	interactive := isTerminal(os.Stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !interactive}
	setParentDeathSignal(cmd.SysProcAttr, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "stack: %v\n", err)
		return 127
	}
	pid := cmd.Process.Pid
	signalIt := func(sig syscall.Signal) {
		if interactive {
			_ = syscall.Kill(pid, sig)
		} else {
			_ = syscall.Kill(-pid, sig)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	signals := 0
	for {
		select {
		case err := <-done:
			if !interactive {
				_ = syscall.Kill(-pid, syscall.SIGKILL) // leftovers in its group
			}
			return exitCode(cmd.ProcessState, err)
		case s := <-sigc:
			sig, _ := s.(syscall.Signal)
			signals++
			switch {
			case signals > 1:
				logf("second signal: killing %s", args[0])
				signalIt(syscall.SIGKILL)
			case interactive && sig == syscall.SIGINT:
				// The terminal already delivered it to the command.
			case !interactive && sig == syscall.SIGINT:
				// Commands started from a non-interactive shell's background
				// job inherit SIGINT ignored; SIGTERM always gets through.
				signalIt(syscall.SIGTERM)
			default:
				signalIt(sig)
			}
		}
	}
}

// isTerminal reports whether f looks like a terminal: a character device
// other than /dev/null (which is what a background job's stdin usually is).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// ---------------------------------------------------------------------------
// Commands

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	sub, args := os.Args[1], os.Args[2:]
	if sub == "serve-gcs" {
		os.Exit(serveGCS())
	}
	if sub == "serve-relay" {
		os.Exit(serveRelay())
	}
	if sub == "-h" || sub == "--help" || sub == "help" {
		usage()
		return
	}
	root, err := findRoot()
	if err != nil {
		fatal(err)
	}
	switch sub {
	case "run":
		os.Exit(cmdRun(root, args))
	case "dev":
		os.Exit(cmdDev(root))
	case "up":
		os.Exit(cmdUp(root))
	case "down":
		os.Exit(cmdDown(root))
	case "status":
		os.Exit(cmdStatus())
	case "env":
		dev := len(args) > 0 && args[0] == "--dev-env"
		for _, v := range stackEnv(dev) {
			fmt.Printf("export %s=%s\n", v.Key, shellQuote(v.Value))
		}
	default:
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: go run ./scripts/stack COMMAND
  run [--dev-env] -- CMD ARGS...  start missing services, run CMD with the stack env, stop what was started
  dev                             start missing services, then the dev server on `+addr(devPort)+`
  up                              start missing services and leave them running (pids in .stack/pids)
  down                            stop the services that up started
  status                          show which services answer
  env [--dev-env]                 print the stack env as shell exports
`)
}

// parseRunArgs splits `[--dev-env] [--] CMD ARGS...`.
func parseRunArgs(args []string) (dev bool, cmd []string, err error) {
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "--":
			args = args[1:]
			if len(args) == 0 {
				return false, nil, errors.New("run: no command after --")
			}
			return dev, args, nil
		case a == "--dev-env":
			dev = true
			args = args[1:]
		case strings.HasPrefix(a, "-"):
			return false, nil, fmt.Errorf("run: unknown flag %s", a)
		default:
			return dev, args, nil
		}
	}
	return false, nil, errors.New("run: no command given (usage: run [--dev-env] -- CMD ARGS...)")
}

// startStack ensures the services with signal handling in place: a signal
// while starting aborts and stops what was started. The returned channel
// carries later signals for the foreground command.
func startStack(st *stack) (<-chan os.Signal, error) {
	sigc := make(chan os.Signal, 4)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startDone := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case s := <-sigc:
			logf("got %v while starting; stopping", s)
			cancel()
		case <-startDone:
		}
	}()
	t0 := time.Now()
	err := withStartLock(ctx, func() error { return st.ensureAll(ctx, services()) })
	close(startDone)
	<-watchDone
	if err == nil {
		logf("stack ready in %s", since(t0))
	}
	return sigc, err
}

// withStartLock runs fn holding a machine-wide exclusive lock, so that two
// stack commands started together do not both launch the same service.
func withStartLock(ctx context.Context, fn func() error) error {
	path := filepath.Join(os.TempDir(), "owlette-stack.start.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return err
	}
	defer f.Close()
	for said := false; syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil; {
		if !said {
			logf("another stack command is starting services; waiting for it")
			said = true
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fn()
}

func cmdRun(root string, args []string) int {
	dev, command, err := parseRunArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 2
	}
	return withStack(root, func(sigc <-chan os.Signal) int {
		return runForeground(command, mergeEnv(os.Environ(), stackEnv(dev)), "", sigc)
	})
}

// withStack joins the stack's users, starts (or reuses) the services, runs
// fn and leaves, stopping what this run started once no one else uses it.
func withStack(root string, fn func(sigc <-chan os.Signal) int) int {
	users, err := joinUsers()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 1
	}
	st := &stack{root: root}
	sigc, err := startStack(st)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 1
	}
	code := fn(sigc)
	st.leave(users, sigc)
	return code
}

func cmdDev(root string) int {
	if !fileExists(filepath.Join(root, "scripts", "devserver")) {
		fmt.Fprintln(os.Stderr, "stack: scripts/devserver does not exist yet")
		return 1
	}
	if c, err := net.DialTimeout("tcp", addr(devPort), time.Second); err == nil {
		c.Close()
		fmt.Fprintf(os.Stderr, "stack: %s is already in use (another dev server?)\n", addr(devPort))
		return 1
	}
	return withStack(root, func(sigc <-chan os.Signal) int {
		fmt.Fprint(os.Stderr, banner())
		return runForeground([]string{"go", "run", "./scripts/devserver", "-addr", addr(devPort), "-seed", "-agents", "3", "-fakes"},
			mergeEnv(os.Environ(), stackEnv(true)), root, sigc)
	})
}

// usersLockPath is machine-wide, like the ports: every `run` and `dev` holds
// a shared lock on it while it uses the stack.
var usersLockPath = filepath.Join(os.TempDir(), "owlette-stack.lock")

// joinUsers takes the shared lock (waiting while another process is
// stopping services, so that it never reuses one that is going away).
func joinUsers() (*os.File, error) {
	f, err := os.OpenFile(usersLockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", usersLockPath, err)
	}
	return f, nil
}

// leave stops what this process started, but only once no other `run` or
// `dev` on this machine still uses the stack (it may have reused our
// services); a signal while waiting stops them at once.
func (st *stack) leave(users *os.File, sigc <-chan os.Signal) {
	defer users.Close()
	if len(st.started) == 0 {
		return
	}
	fd := int(users.Fd())
	_ = syscall.Flock(fd, syscall.LOCK_UN) // an upgrade in place could deadlock with another owner
	if syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		logf("other stack users on this machine still use the services this one started; waiting for them to finish (Ctrl-C stops now)")
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
	wait:
		for syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			select {
			case <-sigc:
				break wait
			case <-tick.C:
			}
		}
	}
	st.stopAll()
}

func banner() string {
	return fmt.Sprintf(`
owlette local stack (project %s)
  API (dev server)     http://%s
  Firestore emulator   http://%s
  Auth emulator        http://%s
  Storage (fake-gcs)   http://%s   bucket %s
  trigger relay        http://%s   (Firestore change events → the processes that registered their project)
  logs                 %s/logs/
Ctrl-C stops the dev server and every service this command started.

`, projectID, addr(devPort), addr(firestorePort), addr(authPort), addr(gcsPort), bucketName, addr(relayPort), stateDir)
}

func pidsPath(root string) string { return filepath.Join(root, stateDir, "pids") }

func cmdUp(root string) int {
	st := &stack{root: root, detach: true}
	signal.Ignore(syscall.SIGHUP)
	_, err := startStack(st)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 1
	}
	if len(st.started) > 0 {
		f, err := os.OpenFile(pidsPath(root), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stack:", err)
			st.stopAll()
			return 1
		}
		for _, p := range st.started {
			fmt.Fprintf(f, "%s %d\n", p.svc.name, p.cmd.Process.Pid)
		}
		f.Close()
		for _, p := range st.started {
			p.logFile.Close() // the child keeps its own descriptor
		}
	}
	fmt.Fprintln(os.Stderr, "stack: up; stop with `go run ./scripts/stack down`. Env for a shell: eval \"$(go run ./scripts/stack env)\"")
	return 0
}

// pidEntry is one line of .stack/pids.
type pidEntry struct {
	name string
	pid  int
}

func parsePids(data string) []pidEntry {
	var out []pidEntry
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil || pid <= 1 {
			continue
		}
		out = append(out, pidEntry{f[0], pid})
	}
	return out
}

// alive reports whether pid runs a process whose command line contains
// marker (so a recycled pid is never signalled). Zombies count as gone.
func alive(pid int, marker string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc: best effort
	}
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(cmdline), marker)
}

func cmdDown(root string) int {
	data, err := os.ReadFile(pidsPath(root))
	if errors.Is(err, os.ErrNotExist) {
		logf("nothing to stop (no %s/pids)", stateDir)
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		return 1
	}
	markers := map[string]string{}
	for _, s := range services() {
		markers[s.name] = s.marker
	}
	var wg sync.WaitGroup
	for _, e := range parsePids(string(data)) {
		marker, ok := markers[e.name]
		if !ok || !alive(e.pid, marker) {
			logf("%-9s pid %d already gone", e.name, e.pid)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			_ = syscall.Kill(-e.pid, syscall.SIGTERM) // `up` made it a session (and group) leader
			for deadline := time.Now().Add(15 * time.Second); alive(e.pid, marker) && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
			}
			_ = syscall.Kill(-e.pid, syscall.SIGKILL)
			logf("%-9s stopped pid %d (%s)", e.name, e.pid, since(t0))
		}()
	}
	wg.Wait()
	_ = os.Remove(pidsPath(root))
	return 0
}

func cmdStatus() int {
	ctx := context.Background()
	code := 0
	for _, s := range services() {
		state := s.probe(ctx)
		if state != stateReady {
			code = 1
		}
		fmt.Printf("%-9s %-21s %s\n", s.name, addr(s.port), state)
	}
	return code
}

// serveGCS runs fake-gcs-server in the foreground until SIGINT/SIGTERM (what
// `up` starts in the background).
func serveGCS() int {
	srv, err := startGCS(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-gcs:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "serve-gcs: fake-gcs-server on http://%s, bucket %s\n", addr(gcsPort), bucketName)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	<-sigc
	srv.Stop()
	return 0
}

// serveRelay runs the trigger relay in the foreground until SIGINT/SIGTERM
// (what `up` starts in the background).
func serveRelay() int {
	srv, err := startRelay(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-relay:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "serve-relay: trigger relay on http://%s\n", addr(relayPort))
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	<-sigc
	srv.Stop()
	return 0
}

// ---------------------------------------------------------------------------
// Helpers

// findRoot walks up from the working directory to this module's go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isOurModule(data) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run this inside the %s checkout (no go.mod for it above the working directory)", modulePath)
		}
		dir = parent
	}
}

func isOurModule(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" && strings.Trim(f[1], `"`) == modulePath {
			return true
		}
	}
	return false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "stack: "+format+"\n", args...)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "stack:", err)
	os.Exit(1)
}
