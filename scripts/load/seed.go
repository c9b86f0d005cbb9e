package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/apikey"
	"github.com/owlette/server/shared/session"
)

// The run's identities, in its own project.
const (
	adminUID   = "load-admin"
	adminEmail = "load-admin@owlette.local"
)

// siteID is the run's site: unique per run, because the agents' users live
// in the Auth emulator's default project (see AuthProxy), where their ids
// (derived from site and machine) must not meet another run's.
var siteID = "load-site"

// Seed is what the run created to act as operators.
type Seed struct {
	Keys    []string // one API key per API-key operator
	Cookies []string // one __session value per dashboard operator
}

// seed creates, directly in the run's project (as the API would have stored
// them): the site, its admin, nKeys API keys and nSessions dashboard
// sessions (MFA complete).
func seed(ctx context.Context, fs *firestore.Client, nKeys, nSessions int) (*Seed, error) {
	b := fs.Batch()
	b.Set(fs.Collection("users").Doc(adminUID), map[string]any{
		"email": adminEmail, "role": "admin", "sites": []string{siteID}, "displayName": "Load Admin",
		"createdAt": time.Now(), "requiresMfaSetup": false, "mfaEnrolled": false,
	})
	b.Set(fs.Collection("sites").Doc(siteID), map[string]any{
		"name": "Load Site", "owner": adminUID, "createdAt": time.Now(), "timezone": "UTC",
	})
	s := &Seed{}
	for i := range nKeys {
		k, err := apikey.New()
		if err != nil {
			return nil, err
		}
		k.Add(b, fs, adminUID, fmt.Sprintf("load-key-%d", i))
		s.Keys = append(s.Keys, k.Raw)
	}
	if _, err := b.Commit(ctx); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	sm, err := session.NewManager(os.Getenv("SESSION_SECRET"), fs, false, time.Now)
	if err != nil {
		return nil, err
	}
	for range nSessions {
		rec := httptest.NewRecorder()
		if _, err := sm.Create(ctx, rec, adminUID, time.Now().Add(session.CookieMaxAge), session.MFAComplete, "idToken"); err != nil {
			return nil, fmt.Errorf("seed session: %w", err)
		}
		for _, c := range rec.Result().Cookies() {
			if c.Name == session.CookieName {
				s.Cookies = append(s.Cookies, c.Value)
			}
		}
	}
	return s, nil
}

// loadRules loads the repository's firestore.rules for project, so the
// agents' REST calls are held to them (as in production).
func loadRules(ctx context.Context, emulator, root, project string) error {
	rules, err := os.ReadFile(filepath.Join(root, "firestore.rules"))
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"rules": map[string]any{"files": []any{
		map[string]any{"name": "firestore.rules", "content": string(rules)},
	}}})
	return emulatorCall(ctx, http.MethodPut, fmt.Sprintf("http://%s/emulator/v1/projects/%s:securityRules", emulator, project), body)
}

// cleanup deletes the run's Firestore data from the shared emulator (it
// keeps every project in memory).
func cleanup(ctx context.Context, fsEmulator, project string) error {
	return emulatorCall(ctx, http.MethodDelete, fmt.Sprintf("http://%s/emulator/v1/projects/%s/databases/(default)/documents", fsEmulator, project), nil)
}

func emulatorCall(ctx context.Context, method, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2<<10))
		return fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	return nil
}
