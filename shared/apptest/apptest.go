// Package apptest runs route groups in-process against the real emulators
// (Firestore, Auth) and gives tests the callers they need — admins, members,
// strangers, API keys, ID tokens, session cookies — plus a scenario-table
// runner that asserts status, body fields and Firestore side effects.
package apptest

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/testenv"
)

// SessionSecret is the test-only cookie password.
const SessionSecret = "apptest-session-secret-0123456789abcdef"

// Clock is an injectable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the current time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Env is one isolated instance of the server under test.
type Env struct {
	T       testing.TB
	D       *app.Deps
	H       http.Handler
	FS      *firestore.Client
	Project string
	Clock   *Clock
	// RPCs counts the Firestore RPCs the server made (test setup included;
	// call RPCs.Reset before the request to measure).
	RPCs *RPCs
	// NoContract turns off the OpenAPI check of Do (contract.go), for the
	// few tests whose routes are not /api operations.
	NoContract bool
}

var (
	authOnce   sync.Once
	authClient *auth.Client
	authErr    error
)

// AuthClient returns the Admin SDK client for the Auth emulator.
func AuthClient(t testing.TB) *auth.Client {
	t.Helper()
	testenv.Require(t, "FIREBASE_AUTH_EMULATOR_HOST")
	authOnce.Do(func() {
		ctx := context.Background()
		fb, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: testenv.ProjectID})
		if err != nil {
			authErr = err
			return
		}
		authClient, authErr = fb.Auth(ctx)
	})
	if authErr != nil {
		t.Fatalf("auth client: %v", authErr)
	}
	return authClient
}

// Config is the configuration tests run with: fixed test values, loaded
// like a function's own configuration (config.LoadFor). In the tests of a
// function package only the groups its functions declare are loaded
// (testedGroups), so a function that reads configuration it did not declare
// fails its own tests; elsewhere every group is. Secrets and settings never
// come from the developer's environment; the emulator addresses do.
func Config(project string) *config.Config {
	env := map[string]string{
		"GOOGLE_CLOUD_PROJECT": project, "OWLETTE_ENV": "local",
		config.SecretSession: SessionSecret, config.SecretMFA: "apptest-mfa-key", config.SecretLLM: "apptest-llm-key",
		config.SecretCron: "apptest-cron-secret", config.SecretCortex: "apptest-cortex-secret",
		config.SecretFirebaseAPIKey: "fake-api-key", config.EnvStorageBucket: project + ".appspot.com",
		// The test acts as the trusted front end: the last X-Forwarded-For
		// entry is the client (Do gives each request its own).
		"TRUSTED_PROXY_HOPS": "1",
	}
	maps.Copy(env, emulators())
	c, err := config.LoadFor(context.Background(), func(k string) string { return env[k] }, nil, testedGroups())
	if err != nil {
		panic("apptest: the test configuration does not load: " + err.Error())
	}
	return c
}

// testedGroups are, when this test binary tests a function package
// (functions/<name>), the configuration groups declared by the functions it
// links (that one, and any other whose routes or trigger its tests serve
// beside it); elsewhere (shared code, tools) every group.
func testedGroups() config.Groups {
	if bi, ok := debug.ReadBuildInfo(); ok && strings.HasPrefix(bi.Path, "github.com/owlette/server/functions/") {
		return config.Declared()
	}
	return config.All
}

// New builds an isolated Env (fresh Firestore project) serving groups.
func New(t testing.TB, groups ...app.Register) *Env {
	t.Helper()
	rpcs := &RPCs{n: map[string]int{}}
	fs, project := testenv.Firestore(t, rpcs.options()...)
	clock := NewClock(time.Now().Truncate(time.Millisecond))
	log := logging.New(logWriter(), nil)
	d, err := app.New(Config(project), app.Clients{Firestore: fs, Auth: AuthClient(t)}, log, clock.Now)
	if err != nil {
		t.Fatalf("deps: %v", err)
	}
	return &Env{T: t, D: d, H: app.Build(d, groups...), FS: fs, Project: project, Clock: clock, RPCs: rpcs}
}

// logWriter silences request logs unless APPTEST_LOG=1.
func logWriter() *os.File {
	if os.Getenv("APPTEST_LOG") == "1" {
		return os.Stderr
	}
	f, _ := os.Open(os.DevNull)
	return f
}

// Site creates sites/{id} owned by owner (may be "").
func (e *Env) Site(id, owner string) string {
	e.T.Helper()
	data := map[string]any{"name": "Site " + id, "createdAt": e.Clock.Now()}
	if owner != "" {
		data["owner"] = owner
	}
	if _, err := e.FS.Collection("sites").Doc(id).Set(context.Background(), data); err != nil {
		e.T.Fatalf("site: %v", err)
	}
	return id
}

// Doc reads a document's data; nil when it does not exist.
func (e *Env) Doc(path string) map[string]any {
	e.T.Helper()
	snap, err := e.FS.Doc(path).Get(context.Background())
	if err != nil {
		if snap != nil && !snap.Exists() {
			return nil
		}
		e.T.Fatalf("get %s: %v", path, err)
	}
	return snap.Data()
}

// Count counts the documents of a collection path.
func (e *Env) Count(path string) int {
	e.T.Helper()
	snaps, err := e.FS.Collection(path).Documents(context.Background()).GetAll()
	if err != nil {
		e.T.Fatalf("list %s: %v", path, err)
	}
	return len(snaps)
}

// Docs reads every document of a collection path, by id.
func (e *Env) Docs(path string) map[string]map[string]any {
	e.T.Helper()
	snaps, err := e.FS.Collection(path).Documents(context.Background()).GetAll()
	if err != nil {
		e.T.Fatalf("list %s: %v", path, err)
	}
	out := make(map[string]map[string]any, len(snaps))
	for _, s := range snaps {
		out[s.Ref.ID] = s.Data()
	}
	return out
}

// NewDoc returns the one document of a collection path that is not in
// before (an earlier Docs); the test fails unless exactly one is new.
func (e *Env) NewDoc(path string, before map[string]map[string]any) (string, map[string]any) {
	e.T.Helper()
	var id string
	var doc map[string]any
	n := 0
	for k, v := range e.Docs(path) {
		if _, ok := before[k]; !ok {
			id, doc, n = k, v, n+1
		}
	}
	if n != 1 {
		e.T.Fatalf("%d new documents in %s, want 1", n, path)
	}
	return id, doc
}

func (e *Env) fatalf(format string, args ...any) {
	e.T.Helper()
	e.T.Fatalf("%s", fmt.Sprintf(format, args...))
}

// emulators lists the emulator variables set for this test run, as
// config.Load would.
func emulators() map[string]string {
	m := map[string]string{}
	for _, v := range []string{"FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "STORAGE_EMULATOR_HOST"} {
		if h := os.Getenv(v); h != "" {
			m[v] = h
		}
	}
	return m
}
