package sim

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
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlette/server/functions/agentauth"
	"github.com/owlette/server/functions/screenshots"
	"github.com/owlette/server/functions/tokens"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

// stack is the server side an agent talks to, in-process: agentauth,
// tokens and screenshots over one apptest Env (its own Firestore project,
// with the repository's firestore.rules loaded), behind an httptest server
// that records every request and its server-side latency.
type stack struct {
	*apptest.Env
	srv    *httptest.Server
	API    string // .../api
	Site   string
	Member *apptest.User // assigned to Site
	Admin  *apptest.User
	Server *Stats // server-side latency by route

	mu   sync.Mutex
	reqs []seenRequest
}

type seenRequest struct {
	Path    string
	Status  int
	Header  http.Header
	Elapsed time.Duration
}

func newStack(t testing.TB) *stack {
	t.Helper()
	testenv.Require(t, "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")
	e := apptest.New(t, agentauth.Register, tokens.Register, screenshots.Register)
	testenv.LoadRules(t, e.Project)
	createBucket(t, e.D.Config.StorageBucket)
	// Agent users live in the shared Auth emulator: unique site ids.
	site := testenv.UniqueID("site-")
	s := &stack{Env: e, Site: site, Server: NewStats()}
	s.Member, s.Admin = e.Member(site), e.Admin()
	e.Site(site, "")
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.API = s.srv.URL + "/api"
	return s
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(c int) { w.status = c; w.ResponseWriter.WriteHeader(c) }

func (s *stack) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.H.ServeHTTP(sw, r)
	d := time.Since(start)
	op := strings.TrimPrefix(r.URL.Path, "/api/")
	var err error
	if sw.status >= 500 || sw.status == http.StatusTooManyRequests {
		err = fmt.Errorf("status %d", sw.status)
	}
	s.Server.Observe(op, d, sw.status, err)
	s.mu.Lock()
	s.reqs = append(s.reqs, seenRequest{Path: r.URL.Path, Status: sw.status, Header: r.Header.Clone(), Elapsed: d})
	s.mu.Unlock()
}

// requests returns the recorded requests to path.
func (s *stack) requests(path string) []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []seenRequest
	for _, r := range s.reqs {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// config is an agent configuration for this stack, time compressed by
// scale.
func (s *stack) config(machine string, scale float64) Config {
	c := Defaults(machine)
	c.API = s.API
	c.ProjectID = s.Project
	c.Scale = scale
	if os.Getenv("AGENTSIM_LOG") != "1" {
		c.Log = discardLogger
	}
	return c
}

// authorizer approves phrases as the stack's site member, from ip.
func (s *stack) authorizer(ip string) Authorizer {
	api := &API{Base: s.API, HTTP: defaultHTTP, ClientIP: ip}
	c := s.Member.Cookie()
	return SessionAuthorizer(api, c.Name+"="+c.Value, s.Site)
}

// post calls the API with an API key (or none) and decodes the JSON answer.
func (s *stack) post(t testing.TB, path, apiKey string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, s.API+path, bytes.NewReader(b))
	if apiKey != "" {
		req.Header.Set("x-api-key", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// rulesText is the repository's firestore.rules.
func rulesText(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "firestore.rules"))
	if err != nil {
		t.Fatalf("firestore.rules: %v", err)
	}
	return string(b)
}

// createBucket makes the screenshot bucket on fake-gcs-server.
func createBucket(t testing.TB, bucket string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": bucket})
	u := fmt.Sprintf("http://%s/storage/v1/b?project=%s", os.Getenv("STORAGE_EMULATOR_HOST"), testenv.ProjectID)
	resp, err := http.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
		t.Fatalf("create bucket %s: %d", bucket, resp.StatusCode)
	}
}

// events collects an agent's events for waiting on.
type events struct {
	ch chan Event
}

func newEvents() *events { return &events{ch: make(chan Event, 4096)} }

func (e *events) on(ev Event) {
	select {
	case e.ch <- ev:
	default:
	}
}

// wait returns the first event of kind (and detail, when given) within
// timeout, skipping others.
func (e *events) wait(t testing.TB, kind, detail string, timeout time.Duration) Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-e.ch:
			if ev.Kind == kind && (detail == "" || ev.Detail == detail) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s %s event within %s", kind, detail, timeout)
			return Event{}
		}
	}
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func bg() context.Context { return context.Background() }

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
