package main

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/firestore"
	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/functions/apikeys"
	"github.com/owlette/server/shared/apikey"
	"github.com/owlette/server/shared/app"
)

// Demo data identities.
const (
	SiteID        = "demo-site"
	AdminEmail    = "admin@owlette.local"
	AdminPassword = "owlette-admin"
	devKeyName    = "make dev"
)

// SeedInfo is what the banner prints.
type SeedInfo struct {
	AdminUID string
	APIKey   string
	Project  string
	AuthHost string
}

// Seed creates (or refreshes) the demo site, its admin and a fresh API key.
// It is idempotent: running it again keeps the same site and admin and
// replaces the previous demo key.
func Seed(ctx context.Context, d *app.Deps) (*SeedInfo, error) {
	uid, err := ensureAdmin(ctx, d)
	if err != nil {
		return nil, err
	}
	fs := d.Firestore
	if _, err := fs.Collection("users").Doc(uid).Set(ctx, map[string]any{
		"email": AdminEmail, "role": "admin", "sites": []string{SiteID}, "displayName": "Demo Admin",
		"createdAt": d.Now(), "requiresMfaSetup": false, "mfaEnrolled": false,
	}, firestore.MergeAll); err != nil {
		return nil, err
	}
	if _, err := fs.Collection("sites").Doc(SiteID).Set(ctx, map[string]any{
		"name": "Demo Site", "owner": uid, "createdAt": d.Now(), "timezone": "UTC",
	}, firestore.MergeAll); err != nil {
		return nil, err
	}
	key, err := replaceDevKey(ctx, d, uid)
	if err != nil {
		return nil, err
	}
	return &SeedInfo{AdminUID: uid, APIKey: key, Project: d.Config.ProjectID, AuthHost: d.Config.Emulators["FIREBASE_AUTH_EMULATOR_HOST"]}, nil
}

func ensureAdmin(ctx context.Context, d *app.Deps) (string, error) {
	u, err := d.Auth.GetUserByEmail(ctx, AdminEmail)
	if err == nil {
		return u.UID, nil
	}
	if !auth.IsUserNotFound(err) {
		return "", err
	}
	u, err = d.Auth.CreateUser(ctx, (&auth.UserToCreate{}).Email(AdminEmail).Password(AdminPassword).DisplayName("Demo Admin").EmailVerified(true))
	if err != nil {
		return "", err
	}
	return u.UID, nil
}

func replaceDevKey(ctx context.Context, d *app.Deps, uid string) (string, error) {
	fs := d.Firestore
	old, err := apikey.UserKeys(fs, uid).Where("name", "==", devKeyName).Documents(ctx).GetAll()
	if err != nil {
		return "", err
	}
	b := fs.Batch()
	for _, s := range old {
		b.Delete(s.Ref)
		if h, _ := s.Data()["keyHash"].(string); h != "" {
			b.Delete(apikey.IndexRef(fs, h))
		}
	}
	key, err := apikey.New()
	if err != nil {
		return "", err
	}
	key.Add(b, fs, uid, devKeyName)
	// The key count is rebuilt from the keys on the next create.
	b.Delete(fs.Collection(apikeys.QuotaCollection).Doc(uid))
	if _, err := b.Commit(ctx); err != nil {
		return "", err
	}
	d.Guards.KeyCreated(key.Hash)
	return key.Raw, nil
}

// Banner tells the developer how to use the running stack.
func (s *SeedInfo) Banner(base, extra string) string {
	var b strings.Builder
	line := strings.Repeat("─", 78)
	fmt.Fprintf(&b, "\n%s\n owlette local stack is up: %s\n%s\n", line, base, line)
	fmt.Fprintf(&b, " Demo site:   %s\n Admin:       %s / %s (uid %s)\n", SiteID, AdminEmail, AdminPassword, s.AdminUID)
	fmt.Fprintf(&b, " API key:     %s\n\n Try it:\n   curl -s -H 'x-api-key: %s' %s/api/admin/sites\n\n", s.APIKey, s.APIKey, base)
	fmt.Fprintf(&b, " API docs:    %s/api/docs (try any route with the key above; the OpenAPI document: %s/api/openapi)\n", base, base)
	if s.AuthHost != "" {
		fmt.Fprintf(&b, " Sign in as the admin (session cookie in ./cookies.txt):\n")
		fmt.Fprintf(&b, "   TOKEN=$(curl -s 'http://%s/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=fake-api-key' \\\n", s.AuthHost)
		fmt.Fprintf(&b, "     -H 'Content-Type: application/json' -d '{\"email\":\"%s\",\"password\":\"%s\",\"returnSecureToken\":true}' | tr -d ' \\n' | sed -E 's/.*\"idToken\":\"([^\"]+)\".*/\\1/')\n", AdminEmail, AdminPassword)
		fmt.Fprintf(&b, "   curl -s -c cookies.txt -X POST %s/api/auth/session -d \"{\\\"idToken\\\":\\\"$TOKEN\\\"}\"\n", base)
		fmt.Fprintf(&b, "   curl -s -b cookies.txt %s/api/auth/session\n", base)
	}
	b.WriteString(extra)
	fmt.Fprintf(&b, "%s\n Ctrl-C stops the server and every emulator it started.\n%s\n", line, line)
	return b.String()
}
