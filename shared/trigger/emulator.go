package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/owlette/server/shared/trigger/relay"
)

// Spec describes one Firestore trigger: what Eventarc filters on in
// production and what the emulator is told locally.
type Spec struct {
	ID        string // trigger id = function name
	EventType string // Written, Created, Updated or Deleted
	Document  string // path pattern, e.g. "sites/{siteId}/machines/{machineId}/commands/completed"
	Database  string // "(default)" when empty
}

var emulatorClient = &http.Client{Timeout: 10 * time.Second}

// RegisterOnEmulator registers a v2 (CloudEvents) trigger for project on the
// Firestore emulator at host ("127.0.0.1:8080"). The emulator then POSTs every
// matching change to <its --functions_emulator>/functions/projects/<project>/
// triggers/<s.ID>. Registering the same id again replaces it; there is no
// way to remove one (they live as long as the emulator).
func RegisterOnEmulator(ctx context.Context, host, project string, s Spec) error {
	db := s.Database
	if db == "" {
		db = "(default)"
	}
	match := "EXACT"
	if strings.Contains(s.Document, "{") {
		match = "PATH_PATTERN"
	}
	body, _ := json.Marshal(map[string]any{
		"eventType": s.EventType,
		"database":  db,
		"namespace": "(default)",
		"document":  map[string]string{"value": s.Document, "matchType": match},
	})
	u := fmt.Sprintf("http://%s/emulator/v1/projects/%s/eventarcTrigger?eventarcTriggerId=%s", host, url.PathEscape(project), url.QueryEscape(s.ID))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := emulatorClient.Do(req)
	if err != nil {
		return fmt.Errorf("register trigger %s on the Firestore emulator: %w", s.ID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("%w: %s %s: %s", errEmulator, s.ID, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// RegisterLocal makes the local stack deliver project's events for specs to
// base (a server whose BridgePrefix paths a Bridge serves): it registers
// each trigger on the Firestore emulator at emulatorHost, then routes the
// project's deliveries from the relay at relayAddr (see package relay) to
// base. Calling it again is harmless (both registrations replace).
func RegisterLocal(ctx context.Context, emulatorHost, relayAddr, project, base string, specs []Spec) error {
	for _, s := range specs {
		if err := RegisterOnEmulator(ctx, emulatorHost, project, s); err != nil {
			return err
		}
	}
	return relay.Register(ctx, relayAddr, project, base)
}
