package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/app"
)

// startupHelperMarker makes TestHelperStartup act; without it the helper is a
// no-op, so it is harmless in ordinary test runs.
const startupHelperMarker = "OWLETTE_TEST_STARTUP_HELPER"

// TestHelperStartup is run in a child process by TestStartupOnCloudRun: it
// calls MustStartOnCloudRun with the environment the parent chose and, if
// that returns, prints STARTED and exits 0.
func TestHelperStartup(t *testing.T) {
	if os.Getenv(startupHelperMarker) != "1" {
		t.Skip("helper process for TestStartupOnCloudRun")
	}
	app.MustStartOnCloudRun()
	fmt.Println("STARTED")
	os.Exit(0)
}

// childEnv is the parent's environment without anything that influences the
// configuration (so a developer's shell cannot change the outcome), plus kv.
func childEnv(kv ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		switch {
		case strings.HasSuffix(k, "_EMULATOR_HOST"), strings.HasPrefix(k, "K_"),
			strings.HasPrefix(k, "GOOGLE_"), strings.HasPrefix(k, "GCLOUD_"), strings.HasPrefix(k, "FIREBASE_"),
			strings.HasPrefix(k, "NEXT_PUBLIC_"), strings.HasPrefix(k, "OWLETTE_"), strings.HasPrefix(k, "GCE_"),
			k == "SESSION_SECRET", k == "MFA_ENCRYPTION_KEY", k == "LLM_ENCRYPTION_KEY", k == "CRON_SECRET",
			k == "CORTEX_INTERNAL_SECRET", k == "RESEND_API_KEY", k == "LOG_LEVEL":
			continue
		}
		env = append(env, e)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env = append(env, kv[i]+"="+kv[i+1])
	}
	return append(env,
		startupHelperMarker+"=1",
		// Belt and braces: should the child ever get as far as creating
		// clients, credential discovery must not reach the metadata server.
		"GCE_METADATA_HOST=127.0.0.1:1",
		"GCE_METADATA_IP=127.0.0.1:1",
		"GOOGLE_APPLICATION_CREDENTIALS=/nonexistent/owlette-test-credentials.json",
	)
}

// A complete production configuration: without the emulator variable the
// configuration itself would be valid, so a refusal can only come from the
// emulator check.
var cloudRunEnv = []string{
	"K_SERVICE", "sites",
	"GOOGLE_CLOUD_PROJECT", "demo-x",
	"SESSION_SECRET", "session-secret-value-0123456789abcdef",
	"MFA_ENCRYPTION_KEY", "mfa-key-value",
	"CRON_SECRET", "cron-secret-value",
	"CORTEX_INTERNAL_SECRET", "cortex-secret-value",
	"FIREBASE_API_KEY", "web-api-key-value",
}

func TestStartupOnCloudRun(t *testing.T) {
	if os.Getenv(startupHelperMarker) != "" {
		t.Skip("inside the helper process")
	}
	tests := []struct {
		name        string
		env         []string
		wantStarted bool
		wantLog     []string // substrings of the ERROR log line's error attribute
	}{
		{
			name:    "Cloud Run with FIRESTORE_EMULATOR_HOST refuses to start",
			env:     append(append([]string{}, cloudRunEnv...), "FIRESTORE_EMULATOR_HOST", "127.0.0.1:1"),
			wantLog: []string{"FIRESTORE_EMULATOR_HOST"},
		},
		{
			name:    "Cloud Run with FIREBASE_AUTH_EMULATOR_HOST refuses to start",
			env:     append(append([]string{}, cloudRunEnv...), "FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:1"),
			wantLog: []string{"FIREBASE_AUTH_EMULATOR_HOST"},
		},
		{
			name: "Cloud Run with an emulator var and an incomplete configuration names the emulator",
			env: []string{
				"K_SERVICE", "sites", "GOOGLE_CLOUD_PROJECT", "demo-x", "SESSION_SECRET", "short",
				"FIRESTORE_EMULATOR_HOST", "127.0.0.1:1",
			},
			wantLog: []string{"FIRESTORE_EMULATOR_HOST"}, // the emulator check comes first
		},
		{
			name: "off Cloud Run MustStartOnCloudRun is a no-op",
			// No K_SERVICE: nothing is loaded, not even the (invalid)
			// configuration, and no client is created.
			env:         []string{"FIRESTORE_EMULATOR_HOST", "127.0.0.1:1", "SESSION_SECRET", "short"},
			wantStarted: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperStartup$", "-test.count=1")
			cmd.Env = childEnv(tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("child timed out; stdout=%q stderr=%q", stdout.String(), stderr.String())
			}
			started := strings.Contains(stdout.String(), "STARTED")

			if tt.wantStarted {
				if err != nil || !started {
					t.Fatalf("child did not start: err=%v stdout=%q stderr=%q", err, stdout.String(), stderr.String())
				}
				if strings.Contains(stderr.String(), "refusing to start") {
					t.Errorf("child logged a refusal: %q", stderr.String())
				}
				return
			}

			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() == 0 {
				t.Errorf("child exit: %v, want a non-zero exit status", err)
			}
			if started {
				t.Errorf("child printed STARTED: %q", stdout.String())
			}
			line := refusalLine(t, stderr.String())
			if line == nil {
				t.Fatalf("no JSON ERROR line saying \"refusing to start\" on stderr: %q", stderr.String())
			}
			msg, _ := line["error"].(string)
			for _, w := range tt.wantLog {
				if !strings.Contains(msg, w) {
					t.Errorf("refusal error %q does not mention %q", msg, w)
				}
			}
			// The log line must not leak secrets.
			for _, s := range []string{"secret-value", "key-value"} {
				if strings.Contains(stderr.String(), s) {
					t.Errorf("stderr contains secret value %q: %q", s, stderr.String())
				}
			}
		})
	}
}

// refusalLine finds the structured log line of the refusal: JSON with
// severity ERROR and message "refusing to start".
func refusalLine(t *testing.T, stderr string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			continue
		}
		if m["severity"] == "ERROR" && m["message"] == "refusing to start" {
			return m
		}
	}
	return nil
}
