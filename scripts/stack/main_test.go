package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestFirestoreReady(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   bool
	}{
		{200, "Ok\n", true},
		{200, "Ok", true},
		{200, "", false},
		{200, "OK", false},
		{503, "Ok", false},
		{200, `{"authEmulator":{"ready":true}}`, false},
	} {
		if got := firestoreReady(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("firestoreReady(%d, %q) = %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}

func TestAuthReady(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   bool
	}{
		{200, `{"authEmulator":{"ready":true,"docs":"https://firebase.google.com/docs/emulator-suite","apiSpec":"/emulator/openapi.json"}}`, true},
		{200, `{"authEmulator": {"ready": true}}`, true},
		{200, `{"authEmulator":{"ready":false}}`, false},
		{200, `{"authEmulator":{}}`, false},
		{200, `{}`, false},
		{200, `Ok`, false},
		{500, `{"authEmulator":{"ready":true}}`, false},
	} {
		if got := authReady(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("authReady(%d, %q) = %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}

func TestGCSReady(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   bool
	}{
		{200, `{"kind":"storage#buckets","items":[{"kind":"storage#bucket","name":"b"}]}`, true},
		{200, `{"kind":"storage#buckets"}`, true},
		{200, `{"kind":"storage#bucket"}`, false},
		{404, `{"kind":"storage#buckets"}`, false},
		{200, `not json`, false},
		{200, `{"items":[],"kind":"storage#buckets"}`, true},
		// A long-lived stack's bucket list is cut short by the probe's read.
		{200, `{"kind":"storage#buckets","items":[{"kind":"storage#bucket","name":"b"},{"kind":"stor`, true},
		{200, `{"items":[{"kind":"storage#buckets"`, false},
	} {
		if got := gcsReady(tc.status, []byte(tc.body)); got != tc.want {
			t.Errorf("gcsReady(%d, %q) = %v, want %v", tc.status, tc.body, got, tc.want)
		}
	}
}

func TestProbeHTTP(t *testing.T) {
	ctx := context.Background()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Ok") }))
	defer ok.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }))
	defer other.Close()

	if got := probeHTTP(ctx, ok.URL+"/", firestoreReady); got != stateReady {
		t.Errorf("ready server: got %v", got)
	}
	if got := probeHTTP(ctx, other.URL+"/", firestoreReady); got != stateOther {
		t.Errorf("other server: got %v", got)
	}
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := l.Addr().String()
	l.Close()
	if got := probeHTTP(ctx, "http://"+free+"/", firestoreReady); got != stateDown {
		t.Errorf("closed port: got %v", got)
	}
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

func TestStackEnv(t *testing.T) {
	base := envMap(mergeEnv(nil, stackEnv(false)))
	want := map[string]string{
		"FIRESTORE_EMULATOR_HOST":     "127.0.0.1:18081",
		"FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:18099",
		"STORAGE_EMULATOR_HOST":       "127.0.0.1:18082",
		"GOOGLE_CLOUD_PROJECT":        "demo-owlette",
		"OWLETTE_TRIGGER_RELAY":       "127.0.0.1:18090",
	}
	for k, v := range want {
		if base[k] != v {
			t.Errorf("%s = %q, want %q", k, base[k], v)
		}
	}
	if _, ok := base["SESSION_SECRET"]; ok {
		t.Error("test env carries dev secrets")
	}

	dev := envMap(mergeEnv(nil, stackEnv(true)))
	for k, v := range want {
		if dev[k] != v {
			t.Errorf("dev: %s = %q, want %q", k, dev[k], v)
		}
	}
	if len(dev["SESSION_SECRET"]) < 32 {
		t.Errorf("SESSION_SECRET %q shorter than 32 chars", dev["SESSION_SECRET"])
	}
	for _, k := range []string{"MFA_ENCRYPTION_KEY", "LLM_ENCRYPTION_KEY", "CRON_SECRET", "CORTEX_INTERNAL_SECRET"} {
		if dev[k] == "" || !strings.Contains(dev[k], "local") {
			t.Errorf("%s = %q, want an obviously local value", k, dev[k])
		}
	}
	for k, v := range map[string]string{"FIREBASE_API_KEY": "fake-api-key", "STORAGE_BUCKET": "demo-owlette.appspot.com", "OWLETTE_ENV": "local"} {
		if dev[k] != v {
			t.Errorf("%s = %q, want %q", k, dev[k], v)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	base := []string{"PATH=/bin", "FIRESTORE_EMULATOR_HOST=elsewhere:1", "HOME=/root", "WEIRD", "A=b=c"}
	got := mergeEnv(base, []kv{{"FIRESTORE_EMULATOR_HOST", "127.0.0.1:18081"}, {"NEW", "1"}})
	want := []string{"PATH=/bin", "HOME=/root", "WEIRD", "A=b=c", "FIRESTORE_EMULATOR_HOST=127.0.0.1:18081", "NEW=1"}
	if !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
	if !slices.Equal(base, []string{"PATH=/bin", "FIRESTORE_EMULATOR_HOST=elsewhere:1", "HOME=/root", "WEIRD", "A=b=c"}) {
		t.Error("mergeEnv changed its input")
	}
}

func TestWithoutEnv(t *testing.T) {
	got := withoutEnv([]string{"A=1", "FIRESTORE_EMULATOR_HOST=x", "B=2", "FIRESTORE_EMULATOR_HOST_X=y"}, "FIRESTORE_EMULATOR_HOST")
	want := []string{"A=1", "B=2", "FIRESTORE_EMULATOR_HOST_X=y"}
	if !slices.Equal(got, want) {
		t.Errorf("withoutEnv = %q, want %q", got, want)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:18081": "127.0.0.1:18081",
		"demo-owlette":    "demo-owlette",
		"a b":             "'a b'",
		"it's":            `'it'\''s'`,
		"":                "''",
		"$HOME":           "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseRunArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		dev     bool
		cmd     []string
		wantErr bool
	}{
		{[]string{"--", "go", "test", "./..."}, false, []string{"go", "test", "./..."}, false},
		{[]string{"env"}, false, []string{"env"}, false},
		{[]string{"--dev-env", "--", "env", "-0"}, true, []string{"env", "-0"}, false},
		{[]string{"--", "sh", "-c", "--"}, false, []string{"sh", "-c", "--"}, false},
		{[]string{"--"}, false, nil, true},
		{nil, false, nil, true},
		{[]string{"--bogus", "--", "env"}, false, nil, true},
	} {
		dev, cmd, err := parseRunArgs(tc.args)
		if (err != nil) != tc.wantErr || dev != tc.dev || !slices.Equal(cmd, tc.cmd) {
			t.Errorf("parseRunArgs(%q) = %v, %q, %v", tc.args, dev, cmd, err)
		}
	}
}

func TestFirestoreArgs(t *testing.T) {
	args := firestoreArgs("/sdk/x.jar", "/repo/firestore.rules")
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"-cp /sdk/x.jar com.google.cloud.datastore.emulator.firestore.CloudFirestore start",
		"--host=127.0.0.1", "--port=18081", "--project_id=demo-owlette",
		"--rules=/repo/firestore.rules", "--functions_emulator=127.0.0.1:18090",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("firestore args %q lack %q", joined, want)
		}
	}
	if noRules := strings.Join(firestoreArgs("/sdk/x.jar", ""), " "); strings.Contains(noRules, "--rules") {
		t.Errorf("args without rules file still pass --rules: %q", noRules)
	}
}

func TestAuthArgs(t *testing.T) {
	if got, want := strings.Join(authArgs(), " "), "tools/node_modules/firebase-tools/lib/bin/firebase.js emulators:start --only auth --project demo-owlette"; got != want {
		t.Errorf("authArgs = %q, want %q", got, want)
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines("a\nb\nc\n", 2); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("got %q", got)
	}
	if got := lastLines("a\nb", 5); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("got %q", got)
	}
	if got := lastLines("\n", 3); got != nil {
		t.Errorf("got %q", got)
	}
}

func TestTailNote(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	note := tailNote(p)
	if !strings.Contains(note, "line 99") || !strings.Contains(note, "line 70") || strings.Contains(note, "line 69\n") {
		t.Errorf("tailNote = %q", note)
	}
	if tailNote(filepath.Join(t.TempDir(), "missing.log")) != "" {
		t.Error("tailNote of a missing file is not empty")
	}
}

func TestParsePids(t *testing.T) {
	got := parsePids("firestore 123\nauth 456\n\ngarbage\ngcs x\ngcs 1\ngcs 789\n")
	want := []pidEntry{{"firestore", 123}, {"auth", 456}, {"gcs", 789}}
	if !slices.Equal(got, want) {
		t.Errorf("parsePids = %v, want %v", got, want)
	}
}

func TestIsOurModule(t *testing.T) {
	if !isOurModule([]byte("// c\nmodule github.com/owlette/server\n\ngo 1.26.8\n")) {
		t.Error("own go.mod not recognised")
	}
	if isOurModule([]byte("module github.com/owlette/serverx\n")) {
		t.Error("other module recognised")
	}
}

func TestJoinErrors(t *testing.T) {
	real := errors.New("auth: boom")
	interrupted := fmt.Errorf("firestore: %w while waiting", errInterrupted)
	if err := joinErrors([]error{nil, real, interrupted}); err == nil || strings.Contains(err.Error(), "interrupted") {
		t.Errorf("joinErrors kept the interruption: %v", err)
	}
	if err := joinErrors([]error{interrupted}); !errors.Is(err, errInterrupted) {
		t.Errorf("joinErrors lost a lone interruption: %v", err)
	}
	if joinErrors([]error{nil, nil}) != nil {
		t.Error("joinErrors of nils is not nil")
	}
}

func TestExitCode(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exit 7")
	err := cmd.Run()
	if got := exitCode(cmd.ProcessState, err); got != 7 {
		t.Errorf("exit 7: got %d", got)
	}
	cmd = exec.Command("sh", "-c", "kill -TERM $$")
	err = cmd.Run()
	if got := exitCode(cmd.ProcessState, err); got != 128+int(syscall.SIGTERM) {
		t.Errorf("killed by SIGTERM: got %d", got)
	}
	if got := exitCode(nil, errors.New("not found")); got != 127 {
		t.Errorf("start failure: got %d", got)
	}
}

func TestSetParentDeathSignal(t *testing.T) {
	attr := &syscall.SysProcAttr{}
	setParentDeathSignal(attr, syscall.SIGTERM) // must not panic on any platform
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.Interface() != syscall.SIGTERM {
		t.Errorf("Pdeathsig = %v, want SIGTERM", f.Interface())
	}
}

func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Error("/dev/null counted as a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file counted as a terminal")
	}
}
