package main

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/owlette/server/shared/trigger/relay"
)

// The relay service is recognized by its health answer, and the Firestore
// emulator delivers to it.
func TestRelayService(t *testing.T) {
	srv := httptest.NewServer(relay.New(nil))
	defer srv.Close()
	if got := probeHTTP(context.Background(), srv.URL+"/relay/v1/health", relayReady); got != stateReady {
		t.Errorf("relay probe = %v", got)
	}
	for _, tc := range []struct {
		status int
		body   string
	}{{200, `{"relay":"something-else"}`}, {404, `{"relay":"owlette-trigger-relay"}`}, {200, `Ok`}} {
		if relayReady(tc.status, []byte(tc.body)) {
			t.Errorf("relayReady(%d, %q) = true", tc.status, tc.body)
		}
	}
	found := false
	for _, s := range services() {
		if s.name == "relay" {
			found = s.port == relayPort && s.inProc != nil && s.command != nil
		}
	}
	if !found {
		t.Error("no in-process relay service on relayPort")
	}
}
