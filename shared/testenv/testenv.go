// Package testenv connects tests to the local emulators that `make test`
// starts (Firestore, Auth, fake-gcs-server). Tests that need one fail with a
// clear message when it is missing instead of silently skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
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
