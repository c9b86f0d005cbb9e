package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"cloud.google.com/go/firestore"
	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/shared/apikey"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/testenv"
)

// User is a test user that exists in the Auth emulator and in users/{uid}.
type User struct {
	UID   string
	Email string
	Role  string
	env   *Env
}

// Admin creates an admin user.
func (e *Env) Admin() *User { return e.User("admin") }

// Member creates a non-admin user assigned to sites.
func (e *Env) Member(sites ...string) *User { return e.User("user", sites...) }

// User creates a user with a role and assigned sites.
func (e *Env) User(role string, sites ...string) *User {
	e.T.Helper()
	uid := testenv.UniqueID("u")
	email := uid + "@example.test"
	if _, err := e.D.Auth.CreateUser(context.Background(), (&auth.UserToCreate{}).UID(uid).Email(email).Password("password-123")); err != nil {
		e.fatalf("create user: %v", err)
	}
	if sites == nil {
		sites = []string{}
	}
	_, err := e.FS.Collection("users").Doc(uid).Set(context.Background(), map[string]any{
		"email": email, "role": role, "sites": sites, "createdAt": e.Clock.Now(),
	})
	if err != nil {
		e.fatalf("users doc: %v", err)
	}
	return &User{UID: uid, Email: email, Role: role, env: e}
}

// IDToken signs the user in through the Auth emulator and returns a real
// Firebase ID token.
func (u *User) IDToken() string { return u.env.IDTokenFor(u.UID, nil) }

// IDTokenFor mints a custom token with claims and exchanges it at the Auth
// emulator's Identity Toolkit endpoint, as agents' tokens are made.
func (e *Env) IDTokenFor(uid string, claims map[string]any) string {
	e.T.Helper()
	ctx := context.Background()
	ct, err := e.D.Auth.CustomTokenWithClaims(ctx, uid, claims)
	if err != nil {
		e.fatalf("custom token: %v", err)
	}
	body, _ := json.Marshal(map[string]any{"token": ct, "returnSecureToken": true})
	url := fmt.Sprintf("http://%s/identitytoolkit.googleapis.com/v1/accounts:signInWithCustomToken?key=fake-api-key", os.Getenv("FIREBASE_AUTH_EMULATOR_HOST"))
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		e.fatalf("sign in: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		IDToken string `json:"idToken"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.IDToken == "" {
		e.fatalf("sign in: status %d: %v", resp.StatusCode, err)
	}
	return out.IDToken
}

// Cookie opens a session for the user (MFA complete) and returns its cookie.
func (u *User) Cookie() *http.Cookie { return u.CookieWith(session.MFAComplete) }

// CookieWith opens a session in the given MFA state.
func (u *User) CookieWith(mfa string) *http.Cookie {
	e := u.env
	e.T.Helper()
	rec := httptest.NewRecorder()
	if _, err := e.D.Sessions.Create(context.Background(), rec, u.UID, e.Clock.Now().Add(session.CookieMaxAge), mfa, "idToken"); err != nil {
		e.fatalf("session: %v", err)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.CookieName {
			return c
		}
	}
	e.fatalf("no session cookie set")
	return nil
}

// APIKey creates an API key for the user, stored as E49 stores it (shared/apikey).
func (u *User) APIKey() string {
	e := u.env
	e.T.Helper()
	key, err := apikey.Mint(context.Background(), e.FS, u.UID, "test")
	if err != nil {
		e.fatalf("api key: %v", err)
	}
	return key.Raw
}

// Tenancy is a site and the callers that matter for site-scoped guards.
type Tenancy struct {
	Site, OtherSite string
	Admin           *User // admin role
	Member          *User // assigned to Site
	Owner           *User // owns Site, not assigned to it
	Stranger        *User // assigned to OtherSite only
}

// Tenancy creates site (owned by a fresh user) and otherSite, and the users
// of Tenancy.
func (e *Env) Tenancy(site, otherSite string) *Tenancy {
	e.T.Helper()
	t := &Tenancy{Site: site, OtherSite: otherSite}
	t.Admin, t.Member, t.Owner, t.Stranger = e.Admin(), e.Member(site), e.Member(), e.Member(otherSite)
	e.Site(site, t.Owner.UID)
	e.Site(otherSite, "")
	return t
}

// AgentToken returns a real agent ID token for machine of site, with the
// claims the token exchange mints (the uid is unique: the Auth emulator is
// shared between tests).
func (e *Env) AgentToken(site, machine string) string {
	return e.IDTokenFor(testenv.UniqueID("agent_"), map[string]any{"role": "agent", "site_id": site, "machine_id": machine, "version": "2.6.0"})
}

// EnableMFA marks the user as enrolled in MFA (users/{uid}.mfaEnrolled), as
// verify-setup leaves it: a password alone no longer completes a sign-in.
func (u *User) EnableMFA() {
	e := u.env
	e.T.Helper()
	if _, err := e.FS.Collection("users").Doc(u.UID).Update(context.Background(), []firestore.Update{{Path: "mfaEnrolled", Value: true}}); err != nil {
		e.fatalf("enable MFA: %v", err)
	}
}
