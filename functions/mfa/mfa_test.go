package mfa_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/mfa"
	"github.com/owlette/server/functions/session"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/secretbox"
	sess "github.com/owlette/server/shared/session"
)

const (
	setupPath  = "/api/mfa/setup"
	verifyPath = "/api/mfa/verify-setup"
	loginPath  = "/api/mfa/verify-login"
)

// rfcSecret is RFC 6238's SHA-1 seed as a base32 secret (160 bits).
var rfcSecret = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := mfa.CodeAt(secret, mfa.Step(at), mfa.Digits)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol writes the MFA fields of users/{uid} as verify-setup (or the
// original server) leaves them; secret is stored as given.
func enrol(t *testing.T, e *apptest.Env, uid, storedSecret string, backup ...string) {
	t.Helper()
	hashes := make([]string, len(backup))
	for i, b := range backup {
		hashes[i] = mfa.HashCode(b)
	}
	_, err := e.FS.Collection("users").Doc(uid).Update(context.Background(), []firestore.Update{
		{Path: "mfaEnrolled", Value: true}, {Path: "mfaSecret", Value: storedSecret},
		{Path: "backupCodes", Value: hashes}, {Path: "mfaEnrolledAt", Value: e.Clock.Now()},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func seal(t *testing.T, e *apptest.Env, secret string) string {
	t.Helper()
	s, err := secretbox.Encrypt(e.D.Config.MFAEncryptionKey, secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setClock moves the injected clock to at (in steps: a Duration spans only
// 292 years).
func setClock(e *apptest.Env, at time.Time) {
	const chunk = 100 * 365 * 24 * time.Hour
	for now := e.Clock.Now(); !now.Equal(at); now = e.Clock.Now() {
		d := at.Sub(now)
		switch {
		case at.After(now.Add(chunk)):
			d = chunk
		case at.Before(now.Add(-chunk)):
			d = -chunk
		}
		e.Clock.Advance(d)
	}
}

func sessionMFA(t *testing.T, e *apptest.Env, c *http.Cookie) any {
	t.Helper()
	st := e.Do("GET", "/api/auth/session", apptest.WithCookie(c), nil, nil)
	if st.JSON["authenticated"] != true {
		return "signed out"
	}
	return st.JSON["mfaPending"] == true
}

func TestSetup(t *testing.T) {
	e := apptest.New(t, mfa.Register, session.Register)
	u, other := e.Member(), e.Member()
	cookie := apptest.WithCookie(u.Cookie())
	body := map[string]any{"userId": u.UID, "email": "ada lovelace@example.test"}

	e.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: setupPath, Cred: cookie, Status: 400},
		{Name: "malformed JSON", Method: "POST", Path: setupPath, Cred: cookie, Body: apptest.Raw(`{"userId":`), Status: 400},
		{Name: "array body", Method: "POST", Path: setupPath, Cred: cookie, Body: apptest.Raw(`[]`), Status: 400},
		{Name: "huge body", Method: "POST", Path: setupPath, Cred: cookie, Body: apptest.Raw(`{"email":"` + strings.Repeat("a", 2<<20) + `"}`), Status: 413},
		{Name: "userId missing", Method: "POST", Path: setupPath, Cred: cookie, Body: map[string]any{"email": "a@b.c"}, Status: 400,
			Want: map[string]any{"error": "Invalid user ID: expected a non-empty string"}},
		{Name: "userId a number", Method: "POST", Path: setupPath, Cred: cookie, Body: map[string]any{"userId": 5, "email": "a@b.c"}, Status: 400},
		{Name: "userId with a slash", Method: "POST", Path: setupPath, Cred: cookie, Body: map[string]any{"userId": "a/b", "email": "a@b.c"}, Status: 400},
		{Name: "email missing", Method: "POST", Path: setupPath, Cred: cookie, Body: map[string]any{"userId": u.UID}, Status: 400,
			Want: map[string]any{"error": "Invalid email: expected a non-empty string"}},
		{Name: "no credential", Method: "POST", Path: setupPath, Body: body, Status: 401},
		{Name: "forged cookie", Method: "POST", Path: setupPath, Cred: apptest.WithCookie(&http.Cookie{Name: sess.CookieName, Value: "Fe26.2*1*a*b*c*1*d*e~2"}), Body: body, Status: 401},
		{Name: "API key is not a session", Method: "POST", Path: setupPath, Cred: apptest.WithAPIKey(u.APIKey()), Body: body, Status: 401},
		{Name: "ID token is not a session", Method: "POST", Path: setupPath, Cred: apptest.WithBearer(u.IDToken()), Body: body, Status: 401},
		{Name: "agent token", Method: "POST", Path: setupPath, Cred: apptest.WithBearer(e.IDTokenFor("agent_s_m", map[string]any{"role": "agent", "site_id": "s", "machine_id": "m"})), Body: body, Status: 401},
		{Name: "another user's session", Method: "POST", Path: setupPath, Cred: apptest.WithCookie(other.Cookie()), Body: body, Status: 403,
			Want: map[string]any{"error": "Forbidden: user mismatch"}},
		{Name: "MFA pending session", Method: "POST", Path: setupPath, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: body, Status: 403,
			Want: map[string]any{"mfaRequired": true}},
		{Name: "setup", Method: "POST", Path: setupPath, Cred: cookie, Body: body, Status: 200,
			Want: map[string]any{"secret": apptest.Present, "qrCodeUrl": apptest.Present},
			Check: func(t *testing.T, r *apptest.Response) {
				secret := r.JSON["secret"].(string)
				raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
				if err != nil || len(raw) != 20 {
					t.Errorf("secret %q is not 160-bit base32: %v", secret, err)
				}
				qr := r.JSON["qrCodeUrl"].(string)
				b64, ok := strings.CutPrefix(qr, "data:image/png;base64,")
				pngBytes, err := base64.StdEncoding.DecodeString(b64)
				if !ok || err != nil {
					t.Fatalf("qrCodeUrl is not a PNG data URL: %.60s", qr)
				}
				img, err := png.Decode(bytes.NewReader(pngBytes))
				if err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 256 {
					t.Errorf("QR PNG: %v %v", err, img)
				}
				p := e.Doc(mfa.PendingCollection + "/" + u.UID)
				if p == nil {
					t.Fatal("no pending setup stored")
				}
				stored, _ := p["secret"].(string)
				if stored == secret || !secretbox.IsEncrypted(stored) {
					t.Errorf("pending secret stored in plaintext: %q", stored)
				}
				if plain, err := secretbox.Decrypt(e.D.Config.MFAEncryptionKey, stored); err != nil || plain != secret {
					t.Errorf("pending secret decrypts to %q, %v", plain, err)
				}
				if exp, _ := p["expiresAt"].(time.Time); !exp.Equal(e.Clock.Now().Add(10 * time.Minute)) {
					t.Errorf("expiresAt %v", p["expiresAt"])
				}
				if p["email"] != "ada lovelace@example.test" || p["createdAt"] == nil {
					t.Errorf("pending doc %v", p)
				}
				if d := e.Doc("users/" + u.UID); d["mfaEnrolled"] != nil {
					t.Errorf("setup alone enrolled the user: %v", d)
				}
			}},
		{Name: "a new setup replaces the pending one", Method: "POST", Path: setupPath, Cred: cookie, Body: body, Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				stored := e.Doc(mfa.PendingCollection + "/" + u.UID)["secret"].(string)
				if plain, _ := secretbox.Decrypt(e.D.Config.MFAEncryptionKey, stored); plain != r.JSON["secret"] {
					t.Error("pending secret not replaced")
				}
			}},
	})
}

// startSetup runs E04 and returns the new secret.
func startSetup(t *testing.T, e *apptest.Env, u *apptest.User, c *http.Cookie) string {
	t.Helper()
	r := e.Do("POST", setupPath, apptest.WithCookie(c), map[string]any{"userId": u.UID, "email": u.Email}, nil)
	if r.StatusCode != 200 {
		t.Fatalf("setup: %d %s", r.StatusCode, r.Raw)
	}
	return r.JSON["secret"].(string)
}

func TestVerifySetup(t *testing.T) {
	e := apptest.New(t, mfa.Register, session.Register)
	u, other := e.Member(), e.Member()
	c := u.Cookie()
	cookie := apptest.WithCookie(c)
	otherSession := u.Cookie() // a second session of the same user
	secret := startSetup(t, e, u, c)
	backup := []string{"AAAA1111", "BBBB2222", "CCCC3333"}
	body := func(code string) map[string]any {
		return map[string]any{"userId": u.UID, "code": code, "backupCodes": backup}
	}
	good := code(t, secret, e.Clock.Now())
	wrong := "000000"
	if wrong == good {
		wrong = "111111"
	}

	e.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: verifyPath, Cred: cookie, Status: 400},
		{Name: "malformed JSON", Method: "POST", Path: verifyPath, Cred: cookie, Body: apptest.Raw(`{`), Status: 400},
		{Name: "code of 5 digits", Method: "POST", Path: verifyPath, Cred: cookie, Body: body("12345"), Status: 400},
		{Name: "code a number", Method: "POST", Path: verifyPath, Cred: cookie, Body: map[string]any{"userId": u.UID, "code": 123456, "backupCodes": backup}, Status: 400},
		{Name: "backup codes missing", Method: "POST", Path: verifyPath, Cred: cookie, Body: map[string]any{"userId": u.UID, "code": good}, Status: 400},
		{Name: "backup codes empty", Method: "POST", Path: verifyPath, Cred: cookie, Body: map[string]any{"userId": u.UID, "code": good, "backupCodes": []string{}}, Status: 400},
		{Name: "backup code not a string", Method: "POST", Path: verifyPath, Cred: cookie, Body: map[string]any{"userId": u.UID, "code": good, "backupCodes": []any{1}}, Status: 400},
		{Name: "backup code empty", Method: "POST", Path: verifyPath, Cred: cookie, Body: map[string]any{"userId": u.UID, "code": good, "backupCodes": []string{""}}, Status: 400},
		{Name: "too many backup codes", Method: "POST", Path: verifyPath, Cred: cookie, Body: map[string]any{"userId": u.UID, "code": good, "backupCodes": make([]string, 101)}, Status: 400},
		{Name: "no credential", Method: "POST", Path: verifyPath, Body: body(good), Status: 401},
		{Name: "API key", Method: "POST", Path: verifyPath, Cred: apptest.WithAPIKey(u.APIKey()), Body: body(good), Status: 401},
		{Name: "another user's session", Method: "POST", Path: verifyPath, Cred: apptest.WithCookie(other.Cookie()), Body: body(good), Status: 403},
		{Name: "MFA pending session", Method: "POST", Path: verifyPath, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: body(good), Status: 403, Want: map[string]any{"mfaRequired": true}},
		{Name: "no setup in progress", Method: "POST", Path: verifyPath, Cred: apptest.WithCookie(other.Cookie()), Body: map[string]any{"userId": other.UID, "code": good, "backupCodes": backup}, Status: 400,
			Want: map[string]any{"error": "No MFA setup in progress: start the setup again"}},
		{Name: "wrong code", Method: "POST", Path: verifyPath, Cred: cookie, Body: body(wrong), Status: 400,
			Want: map[string]any{"error": "Invalid verification code"},
			Check: func(t *testing.T, r *apptest.Response) {
				if e.Doc("users/" + u.UID)["mfaEnrolled"] != nil || e.Doc(mfa.PendingCollection+"/"+u.UID) == nil {
					t.Error("a wrong code changed state")
				}
			}},
		{Name: "enrol", Method: "POST", Path: verifyPath, Cred: cookie, Body: body(good), Status: 200,
			Want: map[string]any{"success": true}, Absent: []string{"backupCodes"},
			Check: func(t *testing.T, r *apptest.Response) {
				d := e.Doc("users/" + u.UID)
				if d["mfaEnrolled"] != true || d["requiresMfaSetup"] != false || d["mfaEnrolledAt"] == nil {
					t.Errorf("user doc %v", d)
				}
				stored, _ := d["mfaSecret"].(string)
				if plain, err := secretbox.Decrypt(e.D.Config.MFAEncryptionKey, stored); err != nil || plain != secret {
					t.Errorf("mfaSecret %q decrypts to %q, %v", stored, plain, err)
				}
				codes, _ := d["backupCodes"].([]any)
				if len(codes) != 3 || codes[0] != mfa.HashCode("AAAA1111") || codes[2] != mfa.HashCode("CCCC3333") {
					t.Errorf("backupCodes %v", codes)
				}
				if e.Doc(mfa.PendingCollection+"/"+u.UID) != nil {
					t.Error("pending setup not deleted")
				}
				if st := e.Doc(mfa.StateCollection + "/" + u.UID); st["lastStep"] != mfa.Step(e.Clock.Now()) {
					t.Errorf("mfa_state %v", st)
				}
				// Enabling MFA revoked the user's other session, not this one.
				if got := sessionMFA(t, e, otherSession); got != "signed out" {
					t.Errorf("other session still valid: %v", got)
				}
				if got := sessionMFA(t, e, c); got != false {
					t.Errorf("current session: %v", got)
				}
			}},
		{Name: "replaying the setup", Method: "POST", Path: verifyPath, Cred: cookie, Body: body(good), Status: 400},
	})

	t.Run("the setup code cannot then be used to sign in", func(t *testing.T) {
		r := e.Do("POST", loginPath, apptest.WithCookie(u.CookieWith(sess.MFAPending)), map[string]any{"userId": u.UID, "code": good}, nil)
		if r.StatusCode != 400 || !strings.Contains(r.JSON["error"].(string), "already been used") {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("expired setup", func(t *testing.T) {
		v := e.Member()
		vc := v.Cookie()
		s := startSetup(t, e, v, vc)
		e.Clock.Advance(mfa.PendingTTL)
		r := e.Do("POST", verifyPath, apptest.WithCookie(vc), map[string]any{"userId": v.UID, "code": code(t, s, e.Clock.Now()), "backupCodes": backup}, nil)
		if r.StatusCode != 400 || r.JSON["error"] != "The MFA setup has expired: start the setup again" {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
		if e.Doc(mfa.PendingCollection+"/"+v.UID) != nil {
			t.Error("expired setup not deleted")
		}
	})

	t.Run("legacy plaintext pending secret", func(t *testing.T) {
		v := e.Member()
		_, err := e.FS.Collection(mfa.PendingCollection).Doc(v.UID).Set(context.Background(), map[string]any{
			"secret": "JBSWY3DPEHPK3PXP", "email": v.Email, "expiresAt": e.Clock.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		r := e.Do("POST", verifyPath, apptest.WithCookie(v.Cookie()), map[string]any{"userId": v.UID, "code": code(t, "JBSWY3DPEHPK3PXP", e.Clock.Now()), "backupCodes": backup}, nil)
		if r.StatusCode != 200 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("users doc missing", func(t *testing.T) {
		v := e.Member()
		vc := v.Cookie()
		s := startSetup(t, e, v, vc)
		if _, err := e.FS.Collection("users").Doc(v.UID).Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := e.Do("POST", verifyPath, apptest.WithCookie(vc), map[string]any{"userId": v.UID, "code": code(t, s, e.Clock.Now()), "backupCodes": backup}, nil)
		if r.StatusCode != 404 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("encryption key not configured", func(t *testing.T) {
		v := e.Member()
		vc := v.Cookie()
		s := startSetup(t, e, v, vc)
		key := e.D.Config.MFAEncryptionKey
		e.D.Config.MFAEncryptionKey = ""
		defer func() { e.D.Config.MFAEncryptionKey = key }()
		r := e.Do("POST", verifyPath, apptest.WithCookie(vc), map[string]any{"userId": v.UID, "code": code(t, s, e.Clock.Now()), "backupCodes": backup}, nil)
		if r.StatusCode != 500 || strings.Contains(string(r.Raw), "MFA_ENCRYPTION_KEY") {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
		if r := e.Do("POST", setupPath, apptest.WithCookie(vc), map[string]any{"userId": v.UID, "email": "x@y.z"}, nil); r.StatusCode != 500 {
			t.Errorf("setup without key: %d %s", r.StatusCode, r.Raw)
		}
	})
}

func TestVerifyLogin(t *testing.T) {
	e := apptest.New(t, mfa.Register, session.Register)
	ctx := context.Background()

	// RFC 6238 Appendix B: the SHA-1 seed is a 160-bit secret; a user whose
	// secret it is signs in with the vector's code (last 6 digits) at the
	// vector's time.
	t.Run("RFC 6238 vectors", func(t *testing.T) {
		for _, v := range []struct {
			unix int64
			code string
		}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}} {
			setClock(e, time.Unix(v.unix, 0))
			u := e.Member()
			enrol(t, e, u.UID, seal(t, e, rfcSecret))
			c := u.CookieWith(sess.MFAPending)
			r := e.Do("POST", loginPath, apptest.WithCookie(c), map[string]any{"userId": u.UID, "code": v.code}, nil)
			if r.StatusCode != 200 || r.JSON["success"] != true || r.JSON["backupCodeUsed"] != false {
				t.Errorf("T=%d: %d %s", v.unix, r.StatusCode, r.Raw)
			}
			if got := sessionMFA(t, e, c); got != false {
				t.Errorf("T=%d: session still pending (%v)", v.unix, got)
			}
		}
	})
	setClock(e, time.Unix(1111111109, 0))
	now := e.Clock.Now()

	u := e.Member()
	enrol(t, e, u.UID, seal(t, e, rfcSecret), "AAAA1111", "BBBB2222")
	pending := u.CookieWith(sess.MFAPending)
	body := func(code string) map[string]any { return map[string]any{"userId": u.UID, "code": code} }
	backupBody := func(code string) map[string]any {
		return map[string]any{"userId": u.UID, "code": code, "isBackupCode": true}
	}
	noMFA := e.Member()
	legacy := e.Member()
	enrol(t, e, legacy.UID, "JBSWY3DPEHPK3PXP") // the original's plaintext 80-bit form
	noSecret := e.Member()
	enrol(t, e, noSecret.UID, "")
	corrupt := e.Member()
	enrol(t, e, corrupt.UID, "AAAA:BBBB:CCCC:DDDD")
	gone := e.Member()
	if _, err := e.FS.Collection("users").Doc(gone.UID).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	prev := code(t, rfcSecret, now.Add(-30*time.Second))
	cur := code(t, rfcSecret, now)
	tooOld := code(t, rfcSecret, now.Add(-60*time.Second))
	wc := apptest.WithCookie(pending)

	e.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: loginPath, Cred: wc, Status: 400},
		{Name: "malformed JSON", Method: "POST", Path: loginPath, Cred: wc, Body: apptest.Raw(`{"userId":1`), Status: 400},
		{Name: "code missing", Method: "POST", Path: loginPath, Cred: wc, Body: map[string]any{"userId": u.UID}, Status: 400},
		{Name: "TOTP of 7 digits", Method: "POST", Path: loginPath, Cred: wc, Body: body("1234567"), Status: 400},
		{Name: "isBackupCode not a boolean", Method: "POST", Path: loginPath, Cred: wc, Body: map[string]any{"userId": u.UID, "code": cur, "isBackupCode": "yes"}, Status: 400},
		{Name: "no credential", Method: "POST", Path: loginPath, Body: body(cur), Status: 401},
		{Name: "API key", Method: "POST", Path: loginPath, Cred: apptest.WithAPIKey(u.APIKey()), Body: body(cur), Status: 401},
		{Name: "ID token", Method: "POST", Path: loginPath, Cred: apptest.WithBearer(u.IDToken()), Body: body(cur), Status: 401},
		{Name: "another user's pending session", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(legacy.CookieWith(sess.MFAPending)), Body: body(cur), Status: 403},
		{Name: "user doc missing", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(gone.CookieWith(sess.MFAPending)), Body: map[string]any{"userId": gone.UID, "code": cur}, Status: 404},
		{Name: "MFA not enrolled", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(noMFA.Cookie()), Body: map[string]any{"userId": noMFA.UID, "code": cur}, Status: 400,
			Want: map[string]any{"error": "MFA is not enabled for this account"}},
		{Name: "secret missing", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(noSecret.CookieWith(sess.MFAPending)), Body: map[string]any{"userId": noSecret.UID, "code": cur}, Status: 400},
		{Name: "secret undecryptable", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(corrupt.CookieWith(sess.MFAPending)), Body: map[string]any{"userId": corrupt.UID, "code": cur}, Status: 500},
		{Name: "code two steps old", Method: "POST", Path: loginPath, Cred: wc, Body: body(tooOld), Status: 400,
			Want: map[string]any{"error": "Invalid verification code"},
			Check: func(t *testing.T, r *apptest.Response) {
				if got := sessionMFA(t, e, pending); got != true {
					t.Errorf("session after a wrong code: %v", got)
				}
				if s := e.Doc(mfa.StateCollection + "/" + u.UID); s != nil {
					t.Errorf("a wrong code recorded a step: %v", s)
				}
			}},
		{Name: "code of the previous step", Method: "POST", Path: loginPath, Cred: wc, Body: body(prev), Status: 200,
			Want: map[string]any{"success": true, "backupCodeUsed": false},
			Check: func(t *testing.T, r *apptest.Response) {
				if got := sessionMFA(t, e, pending); got != false {
					t.Errorf("session still pending: %v", got)
				}
				if s := e.Doc(mfa.StateCollection + "/" + u.UID); s["lastStep"] != mfa.Step(now)-1 {
					t.Errorf("mfa_state %v", s)
				}
			}},
		{Name: "replayed code refused", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: body(prev), Status: 400,
			Want: map[string]any{"error": "This code has already been used: wait for the next code from your authenticator app"}},
		{Name: "the current step's code", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: body(cur), Status: 200},
		{Name: "it cannot be replayed either", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: body(cur), Status: 400},
		{Name: "nor an older one still in the window", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: body(prev), Status: 400},
		{Name: "backup code, normalised", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: backupBody("  aaaa1111 "), Status: 200,
			Want: map[string]any{"success": true, "backupCodeUsed": true},
			Check: func(t *testing.T, r *apptest.Response) {
				codes, _ := e.Doc("users/" + u.UID)["backupCodes"].([]any)
				if len(codes) != 1 || codes[0] != mfa.HashCode("BBBB2222") {
					t.Errorf("backupCodes after use: %v", codes)
				}
			}},
		{Name: "backup code used twice refused", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: backupBody("AAAA1111"), Status: 400,
			Want: map[string]any{"error": "Invalid backup code"}},
		{Name: "legacy plaintext secret", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(legacy.CookieWith(sess.MFAPending)),
			Body: map[string]any{"userId": legacy.UID, "code": code(t, "JBSWY3DPEHPK3PXP", now)}, Status: 200},
		{Name: "a complete session may verify too", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(legacy.Cookie()),
			Body: map[string]any{"userId": legacy.UID, "code": code(t, "JBSWY3DPEHPK3PXP", now.Add(30*time.Second))}, Status: 200},
		{Name: "five failures block the user, even with a valid backup code", Method: "POST", Path: loginPath, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: backupBody("BBBB2222"), Status: 429},
	})

	t.Run("secret encrypted by the original server", func(t *testing.T) {
		// secretbox's Node-made vector: "JBSWY3DPEHPK3PXP" under this key.
		key := e.D.Config.MFAEncryptionKey
		e.D.Config.MFAEncryptionKey = "test-mfa-encryption-key"
		defer func() { e.D.Config.MFAEncryptionKey = key }()
		v := e.Member()
		enrol(t, e, v.UID, "AAECAwQFBgcICQoLDA0ODw==:oKGio6Slpqeoqaqr:WjpdvomGNmS6pgvqaRCjTQ==:zfXeFyq6LlFqq2P9fp+eRg==")
		r := e.Do("POST", loginPath, apptest.WithCookie(v.CookieWith(sess.MFAPending)), map[string]any{"userId": v.UID, "code": code(t, "JBSWY3DPEHPK3PXP", now)}, nil)
		if r.StatusCode != 200 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
		e.D.Config.MFAEncryptionKey = ""
		w := e.Member()
		enrol(t, e, w.UID, "AAECAwQFBgcICQoLDA0ODw==:oKGio6Slpqeoqaqr:WjpdvomGNmS6pgvqaRCjTQ==:zfXeFyq6LlFqq2P9fp+eRg==")
		if r := e.Do("POST", loginPath, apptest.WithCookie(w.CookieWith(sess.MFAPending)), map[string]any{"userId": w.UID, "code": "123456"}, nil); r.StatusCode != 500 {
			t.Errorf("key unset: %d %s", r.StatusCode, r.Raw)
		}
	})
}

// Wrong codes are limited per user and per client IP; a blocked caller gets
// 429 even with the right code, until the window ends.
func TestFailedAttemptLimits(t *testing.T) {
	e := apptest.New(t, mfa.Register, session.Register)
	t.Run("per user", func(t *testing.T) {
		u := e.Member()
		enrol(t, e, u.UID, seal(t, e, rfcSecret), "AAAA1111")
		c := apptest.WithCookie(u.CookieWith(sess.MFAPending))
		right := code(t, rfcSecret, e.Clock.Now())
		wrong := "000000"
		if wrong == right {
			wrong = "111111"
		}
		for i := 0; i < mfa.UserFailures.Limit; i++ {
			body := map[string]any{"userId": u.UID, "code": wrong}
			if i%2 == 1 {
				body = map[string]any{"userId": u.UID, "code": "ZZZZ9999", "isBackupCode": true} // wrong backup codes count too
			}
			if r := e.Do("POST", loginPath, c, body, nil); r.StatusCode != 400 {
				t.Fatalf("attempt %d: %d %s", i+1, r.StatusCode, r.Raw)
			}
		}
		r := e.Do("POST", loginPath, c, map[string]any{"userId": u.UID, "code": right}, nil)
		if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || r.JSON["retryAfter"] == nil {
			t.Fatalf("after %d failures: %d %s %v", mfa.UserFailures.Limit, r.StatusCode, r.Raw, r.Header)
		}
		// Verify-setup shares the per-user budget.
		if r := e.Do("POST", verifyPath, apptest.WithCookie(u.Cookie()), map[string]any{"userId": u.UID, "code": right, "backupCodes": []string{"X"}}, nil); r.StatusCode != 429 {
			t.Errorf("verify-setup while blocked: %d %s", r.StatusCode, r.Raw)
		}
		e.Clock.Advance(mfa.UserFailures.Window)
		right = code(t, rfcSecret, e.Clock.Now())
		if r := e.Do("POST", loginPath, c, map[string]any{"userId": u.UID, "code": right}, nil); r.StatusCode != 200 {
			t.Errorf("after the window: %d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("per IP", func(t *testing.T) {
		ip := map[string]string{"X-Forwarded-For": "203.0.113.77"}
		for i := 0; i < mfa.IPFailures.Limit; i++ {
			if i > 0 && i%9 == 0 {
				e.Clock.Advance(2 * time.Minute) // stay under RL-auth's 10/min (sliding) for this IP
			}
			u := e.Member()
			enrol(t, e, u.UID, seal(t, e, rfcSecret))
			r := e.Do("POST", loginPath, apptest.WithCookie(u.CookieWith(sess.MFAPending)), map[string]any{"userId": u.UID, "code": "ZZZZ", "isBackupCode": true}, ip)
			if r.StatusCode != 400 {
				t.Fatalf("attempt %d: %d %s", i+1, r.StatusCode, r.Raw)
			}
		}
		e.Clock.Advance(2 * time.Minute)
		u := e.Member()
		enrol(t, e, u.UID, seal(t, e, rfcSecret))
		c := apptest.WithCookie(u.CookieWith(sess.MFAPending))
		body := map[string]any{"userId": u.UID, "code": code(t, rfcSecret, e.Clock.Now())}
		if r := e.Do("POST", loginPath, c, body, ip); r.StatusCode != 429 {
			t.Errorf("fresh user from a blocked IP: %d %s", r.StatusCode, r.Raw)
		}
		if r := e.Do("POST", loginPath, c, body, nil); r.StatusCode != 200 {
			t.Errorf("same user from another IP: %d %s", r.StatusCode, r.Raw)
		}
	})
}

// The whole journey through the real endpoints: sign in, enrol, sign out,
// sign in again (pending), blocked everywhere but verify-login, verify.
func TestEnrolAndSignInFlow(t *testing.T) {
	e := apptest.New(t, mfa.Register, session.Register)
	u := e.Member()
	signIn := func() (*http.Cookie, *apptest.Response) {
		r := e.Do("POST", "/api/auth/session", nil, map[string]any{"idToken": u.IDToken()}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("sign in: %d %s", r.StatusCode, r.Raw)
		}
		for _, c := range r.Cookies() {
			if c.Name == sess.CookieName {
				return c, r
			}
		}
		t.Fatal("no cookie")
		return nil, nil
	}
	c1, r := signIn()
	if r.JSON["mfaRequired"] != nil {
		t.Fatalf("first sign-in pending: %s", r.Raw)
	}
	secret := startSetup(t, e, u, c1)
	setupCode := code(t, secret, e.Clock.Now())
	if r := e.Do("POST", verifyPath, apptest.WithCookie(c1), map[string]any{"userId": u.UID, "code": setupCode, "backupCodes": []string{"ABCD1234"}}, nil); r.StatusCode != 200 {
		t.Fatalf("verify-setup: %d %s", r.StatusCode, r.Raw)
	}
	e.Do("DELETE", "/api/auth/session", apptest.WithCookie(c1), nil, nil)

	c2, r := signIn()
	if r.JSON["mfaRequired"] != true {
		t.Fatalf("sign-in after enrolment not pending: %s", r.Raw)
	}
	if r := e.Do("POST", setupPath, apptest.WithCookie(c2), map[string]any{"userId": u.UID, "email": u.Email}, nil); r.StatusCode != 403 || r.JSON["mfaRequired"] != true {
		t.Errorf("setup with a pending session: %d %s", r.StatusCode, r.Raw)
	}
	// Within the same 30 s the setup code is spent; the next one works.
	if r := e.Do("POST", loginPath, apptest.WithCookie(c2), map[string]any{"userId": u.UID, "code": setupCode}, nil); r.StatusCode != 400 {
		t.Errorf("setup code reused for sign-in: %d %s", r.StatusCode, r.Raw)
	}
	e.Clock.Advance(30 * time.Second)
	r = e.Do("POST", loginPath, apptest.WithCookie(c2), map[string]any{"userId": u.UID, "code": code(t, secret, e.Clock.Now())}, nil)
	if r.StatusCode != 200 {
		t.Fatalf("verify-login: %d %s", r.StatusCode, r.Raw)
	}
	// verify-login re-issues the cookie (same session) without the pending
	// mark, as the browser then sends it.
	var c3 *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == sess.CookieName {
			c3 = c
		}
	}
	if c3 == nil {
		t.Fatal("verify-login did not re-issue the session cookie")
	}
	if got := sessionMFA(t, e, c3); got != false {
		t.Errorf("after verify-login: %v", got)
	}
	if r := e.Do("POST", setupPath, apptest.WithCookie(c3), map[string]any{"userId": u.UID, "email": u.Email}, nil); r.StatusCode != 200 {
		t.Errorf("setup after verification: %d %s", r.StatusCode, r.Raw)
	}
}

// TestParallelWrongCodesCannotPassTheAttemptLimit is the attack of issue 9:
// an attacker holding a pending session sends 30 wrong codes at once. Each
// attempt is reserved before its code is checked, so at most
// UserFailures.Limit codes are checked at all (400 "Invalid …"); every
// other attempt is refused before verification (429, or 503 when the
// counter is contended), and the right code is refused afterwards too.
func TestParallelWrongCodesCannotPassTheAttemptLimit(t *testing.T) {
	e := apptest.New(t, mfa.Register)
	u := e.Member()
	enrol(t, e, u.UID, seal(t, e, rfcSecret))
	c := apptest.WithCookie(u.CookieWith(sess.MFAPending))
	right := code(t, rfcSecret, e.Clock.Now())
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	verified := 0
	for i := range 30 {
		wrong := fmt.Sprintf("%06d", i)
		if wrong == right {
			wrong = "999999"
		}
		wg.Go(func() {
			r := e.Do("POST", loginPath, c, map[string]any{"userId": u.UID, "code": wrong}, nil)
			mu.Lock()
			defer mu.Unlock()
			statuses[r.StatusCode]++
			if msg, _ := r.JSON["error"].(string); r.StatusCode == 400 && strings.Contains(msg, "Invalid verification code") {
				verified++
			}
		})
	}
	wg.Wait()
	if verified > mfa.UserFailures.Limit || statuses[200] != 0 {
		t.Fatalf("%d of 30 parallel wrong codes were checked (statuses %v), want at most %d", verified, statuses, mfa.UserFailures.Limit)
	}
	if statuses[429]+statuses[503]+verified != 30 {
		t.Fatalf("statuses %v: every attempt must be checked-and-wrong or refused", statuses)
	}
	if verified == mfa.UserFailures.Limit {
		if r := e.Do("POST", loginPath, c, map[string]any{"userId": u.UID, "code": right}, nil); r.StatusCode != 429 {
			t.Fatalf("the right code after the burst: %d %s, want 429", r.StatusCode, r.Raw)
		}
	}
	t.Logf("30 parallel wrong codes: %d checked, statuses %v", verified, statuses)
}
