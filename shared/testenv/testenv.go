// Package testenv connects tests to the local emulators that `make test`
// starts (Firestore, Auth, fake-gcs-server). Tests that need one fail with a
// clear message when it is missing instead of silently skipping.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"
)

// ProjectID is the demo project the local stack runs under; "demo-" keeps
// every Firebase tool offline.
const ProjectID = "demo-owlette"

// Require fails the test unless every named environment variable is set.
func Require(t testing.TB, vars ...string) {
	t.Helper()
	var missing []string
	for _, v := range vars {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%s not set: run the tests with `make test`, which starts the emulators", strings.Join(missing, ", "))
	}
}

// UniqueID returns prefix plus 12 random hex characters, so tests sharing
// one emulator never see each other's documents or users.
func UniqueID(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// IsolatedProject returns a fresh Firestore project id: the emulator keeps
// each project's data apart, so a test can list whole collections.
func IsolatedProject() string { return UniqueID("demo-t") }

// Firestore returns a client for a fresh isolated project on the emulator.
func Firestore(t testing.TB, opts ...option.ClientOption) (*firestore.Client, string) {
	t.Helper()
	Require(t, "FIRESTORE_EMULATOR_HOST")
	project := IsolatedProject()
	c, err := firestore.NewClient(context.Background(), project, opts...)
	if err != nil {
		t.Fatalf("firestore client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, project
}

// LoadRules loads the repository's firestore.rules into the emulator for
// project, so clients using REST with ID tokens are held to them (the Admin
// client bypasses rules).
func LoadRules(t testing.TB, project string) {
	t.Helper()
	Require(t, "FIRESTORE_EMULATOR_HOST")
	_, file, _, _ := runtime.Caller(0)
	rules, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "firestore.rules"))
	if err != nil {
		t.Fatalf("firestore.rules: %v", err)
	}
	body, _ := json.Marshal(map[string]any{"rules": map[string]any{"files": []any{
		map[string]any{"name": "firestore.rules", "content": string(rules)},
	}}})
	u := fmt.Sprintf("http://%s/emulator/v1/projects/%s:securityRules", os.Getenv("FIRESTORE_EMULATOR_HOST"), project)
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("load rules: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("load rules: %d %s", resp.StatusCode, b)
	}
}
