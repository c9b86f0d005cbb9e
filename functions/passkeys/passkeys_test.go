package passkeys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/passkeys"
	"github.com/owlette/server/functions/session"
	"github.com/owlette/server/shared/apptest"
	sess "github.com/owlette/server/shared/session"
)

const (
	regOptions  = "/api/passkeys/register/options"
	regVerify   = "/api/passkeys/register/verify"
	authOptions = "/api/passkeys/authenticate/options"
	authVerify  = "/api/passkeys/authenticate/verify"
	listPath    = "/api/passkeys/list"
)

func newEnv(t *testing.T) *apptest.Env { return apptest.New(t, passkeys.Register, session.Register) }

// registerKey runs E07 and E08 for u with k and returns the credential id.
func registerKey(t *testing.T, e *apptest.Env, u *apptest.User, c *http.Cookie, k *softKey, name any) string {
	t.Helper()
	o := e.Do("POST", regOptions, apptest.WithCookie(c), map[string]any{"userId": u.UID}, nil)
	if o.StatusCode != 200 {
		t.Fatalf("register options: %d %s", o.StatusCode, o.Raw)
	}
	body := map[string]any{"userId": u.UID, "credential": k.create(o.JSON)}
	if name != nil {
		body["friendlyName"] = name
	}
	v := e.Do("POST", regVerify, apptest.WithCookie(c), body, nil)
	if v.StatusCode != 200 {
		t.Fatalf("register verify: %d %s", v.StatusCode, v.Raw)
	}
	return v.JSON["credentialId"].(string)
}

func options(t *testing.T, e *apptest.Env) (map[string]any, string) {
	t.Helper()
	r := e.Do("POST", authOptions, nil, nil, nil)
	if r.StatusCode != 200 {
		t.Fatalf("authenticate options: %d %s", r.StatusCode, r.Raw)
	}
	return r.JSON["options"].(map[string]any), r.JSON["challengeId"].(string)
}

func cookieOf(r *apptest.Response) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == sess.CookieName {
			return c
		}
	}
	return nil
}

func TestRegisterOptions(t *testing.T) {
	e := newEnv(t)
	u, other := e.Member(), e.Member()
	c := apptest.WithCookie(u.Cookie())
	body := map[string]any{"userId": u.UID}
	e.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: regOptions, Cred: c, Status: 400},
		{Name: "malformed", Method: "POST", Path: regOptions, Cred: c, Body: apptest.Raw(`{"userId"`), Status: 400},
		{Name: "userId missing", Method: "POST", Path: regOptions, Cred: c, Body: map[string]any{}, Status: 400},
		{Name: "userId not a string", Method: "POST", Path: regOptions, Cred: c, Body: map[string]any{"userId": true}, Status: 400},
		{Name: "huge body", Method: "POST", Path: regOptions, Cred: c, Body: apptest.Raw(`{"userId":"` + strings.Repeat("x", 2<<20) + `"}`), Status: 413},
		{Name: "no credential", Method: "POST", Path: regOptions, Body: body, Status: 401},
		{Name: "API key", Method: "POST", Path: regOptions, Cred: apptest.WithAPIKey(u.APIKey()), Body: body, Status: 401},
		{Name: "ID token", Method: "POST", Path: regOptions, Cred: apptest.WithBearer(u.IDToken()), Body: body, Status: 401},
		{Name: "another user's session", Method: "POST", Path: regOptions, Cred: apptest.WithCookie(other.Cookie()), Body: body, Status: 403},
		// A password alone must not add a passkey (it would then sign in as MFA-complete).
		{Name: "MFA pending session", Method: "POST", Path: regOptions, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: body, Status: 403,
			Want: map[string]any{"mfaRequired": true}},
		{Name: "options", Method: "POST", Path: regOptions, Cred: c, Body: body, Status: 200,
			Want: map[string]any{
				"rp.name": "Owlette", "rp.id": "localhost",
				"user.id": b64.EncodeToString([]byte(u.UID)), "user.name": u.UID, "user.displayName": "",
				"challenge": apptest.Present, "timeout": 60000, "attestation": "none",
				"authenticatorSelection.residentKey": "preferred", "authenticatorSelection.userVerification": "preferred",
				"authenticatorSelection.requireResidentKey": false, "extensions.credProps": true,
				"pubKeyCredParams": []any{
					map[string]any{"type": "public-key", "alg": -8}, map[string]any{"type": "public-key", "alg": -7}, map[string]any{"type": "public-key", "alg": -257}},
			},
			Absent: []string{"publicKey", "excludeCredentials"},
			Check: func(t *testing.T, r *apptest.Response) {
				ch, _ := b64.DecodeString(r.JSON["challenge"].(string))
				if len(ch) != 32 {
					t.Errorf("challenge of %d bytes", len(ch))
				}
				d := e.Doc(passkeys.ChallengeCollection + "/" + u.UID)
				if d == nil || d["type"] != "registration" || d["userId"] != u.UID || d["challenge"] != r.JSON["challenge"] {
					t.Fatalf("challenge doc %v", d)
				}
				if exp := d["expiresAt"].(time.Time); !exp.Equal(e.Clock.Now().Add(10 * time.Minute)) {
					t.Errorf("expiresAt %v", exp)
				}
				if !d["createdAt"].(time.Time).Equal(e.Clock.Now()) {
					t.Errorf("createdAt %v", d["createdAt"])
				}
			}},
	})

	t.Run("existing passkeys are excluded", func(t *testing.T) {
		k := newSoftKey(t)
		id := registerKey(t, e, u, u.Cookie(), k, nil)
		r := e.Do("POST", regOptions, c, body, nil)
		ex, _ := r.JSON["excludeCredentials"].([]any)
		if len(ex) != 1 {
			t.Fatalf("excludeCredentials %s", r.Raw)
		}
		d := ex[0].(map[string]any)
		if d["id"] != id || d["type"] != "public-key" || fmt.Sprint(d["transports"]) != "[internal hybrid]" {
			t.Errorf("descriptor %v", d)
		}
	})
}

func TestRegisterVerify(t *testing.T) {
	e := newEnv(t)
	u, other := e.Member(), e.Member()
	c := u.Cookie()
	wc := apptest.WithCookie(c)
	k := newSoftKey(t)
	k.be, k.bs = true, true
	o := e.Do("POST", regOptions, wc, map[string]any{"userId": u.UID}, nil)
	cred := k.create(o.JSON)
	body := map[string]any{"userId": u.UID, "credential": cred, "friendlyName": "  Work laptop  "}

	e.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: regVerify, Cred: wc, Status: 400},
		{Name: "credential missing", Method: "POST", Path: regVerify, Cred: wc, Body: map[string]any{"userId": u.UID}, Status: 400,
			Want: map[string]any{"error": "Missing credential: expected the registration response object"}},
		{Name: "credential null", Method: "POST", Path: regVerify, Cred: wc, Body: map[string]any{"userId": u.UID, "credential": nil}, Status: 400},
		{Name: "credential a string", Method: "POST", Path: regVerify, Cred: wc, Body: map[string]any{"userId": u.UID, "credential": "x"}, Status: 400},
		{Name: "friendlyName a number", Method: "POST", Path: regVerify, Cred: wc, Body: map[string]any{"userId": u.UID, "credential": cred, "friendlyName": 3}, Status: 400},
		{Name: "no credential", Method: "POST", Path: regVerify, Body: body, Status: 401},
		{Name: "another user's session", Method: "POST", Path: regVerify, Cred: apptest.WithCookie(other.Cookie()), Body: body, Status: 403},
		{Name: "MFA pending session", Method: "POST", Path: regVerify, Cred: apptest.WithCookie(u.CookieWith(sess.MFAPending)), Body: body, Status: 403, Want: map[string]any{"mfaRequired": true}},
		{Name: "no challenge for this user", Method: "POST", Path: regVerify, Cred: apptest.WithCookie(other.Cookie()), Body: map[string]any{"userId": other.UID, "credential": cred}, Status: 400,
			Want: map[string]any{"error": "Challenge not found or expired: start again"}},
		{Name: "register", Method: "POST", Path: regVerify, Cred: wc, Body: body, Status: 200,
			Want: map[string]any{"success": true, "credentialId": k.credID()},
			Check: func(t *testing.T, r *apptest.Response) {
				d := e.Doc("users/" + u.UID + "/passkeys/" + k.credID())
				if d == nil {
					t.Fatal("passkey not stored")
				}
				if d["friendlyName"] != "Work laptop" || d["counter"] != int64(0) || d["deviceType"] != "multiDevice" || d["backedUp"] != true ||
					fmt.Sprint(d["transports"]) != "[internal hybrid]" || d["createdAt"] == nil || d["lastUsedAt"] == nil {
					t.Errorf("passkey doc %v", d)
				}
				if pk, _ := d["credentialPublicKey"].(string); len(pk) < 60 || strings.ContainsAny(pk, "+/=") {
					t.Errorf("credentialPublicKey %q is not base64url COSE", pk)
				}
				if e.Doc("users/" + u.UID)["passkeyEnrolled"] != true {
					t.Error("passkeyEnrolled not set")
				}
				if e.Doc(passkeys.ChallengeCollection+"/"+u.UID) != nil {
					t.Error("challenge not consumed")
				}
			}},
		{Name: "the same response again (challenge used)", Method: "POST", Path: regVerify, Cred: wc, Body: body, Status: 400},
	})

	fail := func(name string, mutate func(k *softKey), want string) {
		t.Run(name, func(t *testing.T) {
			k := newSoftKey(t)
			mutate(k)
			o := e.Do("POST", regOptions, wc, map[string]any{"userId": u.UID}, nil)
			r := e.Do("POST", regVerify, wc, map[string]any{"userId": u.UID, "credential": k.create(o.JSON)}, nil)
			if r.StatusCode != 400 || !strings.Contains(fmt.Sprint(r.JSON["error"]), want) {
				t.Errorf("%d %s", r.StatusCode, r.Raw)
			}
			if e.Doc("users/"+u.UID+"/passkeys/"+k.credID()) != nil {
				t.Error("rejected passkey stored")
			}
		})
	}
	fail("wrong origin", func(k *softKey) { k.origin = "https://evil.example" }, "Passkey verification failed")
	fail("wrong RP id", func(k *softKey) { k.rpID = "evil.example" }, "Passkey verification failed")
	fail("user not verified", func(k *softKey) { k.uv = false }, "Passkey verification failed")

	t.Run("expired challenge refused", func(t *testing.T) {
		k := newSoftKey(t)
		o := e.Do("POST", regOptions, wc, map[string]any{"userId": u.UID}, nil)
		e.Clock.Advance(passkeys.ChallengeTTL)
		r := e.Do("POST", regVerify, wc, map[string]any{"userId": u.UID, "credential": k.create(o.JSON)}, nil)
		if r.StatusCode != 400 || r.JSON["error"] != "Challenge not found or expired: start again" {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
		if e.Doc(passkeys.ChallengeCollection+"/"+u.UID) != nil {
			t.Error("expired challenge not deleted")
		}
	})

	t.Run("a newer options request replaces the challenge", func(t *testing.T) {
		k := newSoftKey(t)
		first := e.Do("POST", regOptions, wc, map[string]any{"userId": u.UID}, nil)
		e.Do("POST", regOptions, wc, map[string]any{"userId": u.UID}, nil)
		r := e.Do("POST", regVerify, wc, map[string]any{"userId": u.UID, "credential": k.create(first.JSON)}, nil)
		if r.StatusCode != 400 {
			t.Errorf("answer to a replaced challenge: %d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("default and long names", func(t *testing.T) {
		id := registerKey(t, e, u, c, newSoftKey(t), nil)
		if n := e.Doc("users/" + u.UID + "/passkeys/" + id)["friendlyName"]; n != "Passkey" {
			t.Errorf("default name %v", n)
		}
		id = registerKey(t, e, u, c, newSoftKey(t), strings.Repeat("é", 80))
		if n := e.Doc("users/" + u.UID + "/passkeys/" + id)["friendlyName"]; n != strings.Repeat("é", 50) {
			t.Errorf("long name %v", n)
		}
	})

	t.Run("users doc missing", func(t *testing.T) {
		v := e.Member()
		vc := v.Cookie()
		if _, err := e.FS.Collection("users").Doc(v.UID).Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
		o := e.Do("POST", regOptions, apptest.WithCookie(vc), map[string]any{"userId": v.UID}, nil)
		r := e.Do("POST", regVerify, apptest.WithCookie(vc), map[string]any{"userId": v.UID, "credential": newSoftKey(t).create(o.JSON)}, nil)
		if r.StatusCode != 404 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.Member()
	k := newSoftKey(t)
	registerKey(t, e, u, u.Cookie(), k, "Key")
	// The user has TOTP MFA too: a passkey sign-in still counts as complete.
	if _, err := e.FS.Collection("users").Doc(u.UID).Update(ctx, []firestore.Update{{Path: "mfaEnrolled", Value: true}}); err != nil {
		t.Fatal(err)
	}

	t.Run("options", func(t *testing.T) {
		r := e.Do("POST", authOptions, nil, apptest.Raw(`not even JSON`), nil) // the body is ignored
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		id, _ := r.JSON["challengeId"].(string)
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
			t.Errorf("challengeId %q", id)
		}
		o := r.JSON["options"].(map[string]any)
		if o["rpId"] != "localhost" || o["userVerification"] != "preferred" || o["timeout"] != float64(60000) || o["challenge"] == nil || o["allowCredentials"] != nil {
			t.Errorf("options %v", o)
		}
		d := e.Doc(passkeys.ChallengeCollection + "/" + id)
		if d["type"] != "authentication" || d["userId"] != nil || d["challenge"] != o["challenge"] {
			t.Errorf("challenge doc %v", d)
		}
		if _, ok := d["userId"]; !ok {
			t.Error("userId must be stored as null")
		}
	})

	o, id := options(t, e)
	good := k.get(o, nil)
	e.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: authVerify, Status: 400},
		{Name: "malformed", Method: "POST", Path: authVerify, Body: apptest.Raw(`{"credential":{`), Status: 400},
		{Name: "credential missing", Method: "POST", Path: authVerify, Body: map[string]any{"challengeId": id}, Status: 400},
		{Name: "challengeId missing", Method: "POST", Path: authVerify, Body: map[string]any{"credential": good}, Status: 400},
		{Name: "challengeId a number", Method: "POST", Path: authVerify, Body: map[string]any{"credential": good, "challengeId": 5}, Status: 400},
		{Name: "unknown challenge", Method: "POST", Path: authVerify, Body: map[string]any{"credential": good, "challengeId": strings.Repeat("0", 64)}, Status: 400},
		{Name: "challengeId with a slash", Method: "POST", Path: authVerify, Body: map[string]any{"credential": good, "challengeId": "a/b"}, Status: 400},
		{Name: "sign in", Method: "POST", Path: authVerify, Body: map[string]any{"credential": good, "challengeId": id}, Status: 200,
			Want: map[string]any{"success": true, "userId": u.UID, "customToken": apptest.Present},
			Check: func(t *testing.T, r *apptest.Response) {
				c := cookieOf(r)
				if c == nil || c.MaxAge != 604800 || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
					t.Fatalf("cookie %+v", c)
				}
				st := e.Do("GET", "/api/auth/session", apptest.WithCookie(c), nil, nil)
				if st.JSON["authenticated"] != true || st.JSON["userId"] != u.UID || st.JSON["mfaPending"] != nil || st.JSON["expiresIn"] != float64(604800) {
					t.Errorf("session %s", st.Raw)
				}
				recs, _ := e.FS.Collection(sess.Collection).Where("userId", "==", u.UID).Where("method", "==", "passkey").Documents(ctx).GetAll()
				if len(recs) != 1 || recs[0].Data()["mfa"] != sess.MFAComplete {
					t.Errorf("session records %d", len(recs))
				}
				// The cookie works on a session route.
				if l := e.Do("GET", listPath+"?userId="+u.UID, apptest.WithCookie(c), nil, nil); l.StatusCode != 200 {
					t.Errorf("list with the new cookie: %d %s", l.StatusCode, l.Raw)
				}
				d := e.Doc("users/" + u.UID + "/passkeys/" + k.credID())
				if d["counter"] != int64(1) || !d["lastUsedAt"].(time.Time).Equal(e.Clock.Now()) {
					t.Errorf("counter/lastUsedAt not persisted: %v", d)
				}
				if e.Doc(passkeys.ChallengeCollection+"/"+id) != nil {
					t.Error("challenge not consumed")
				}
				// The custom token signs in at the Auth emulator.
				tok, _ := json.Marshal(map[string]any{"token": r.JSON["customToken"], "returnSecureToken": true})
				resp, err := http.Post("http://"+os.Getenv("FIREBASE_AUTH_EMULATOR_HOST")+"/identitytoolkit.googleapis.com/v1/accounts:signInWithCustomToken?key=fake-api-key", "application/json", bytes.NewReader(tok))
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("custom token exchange: %v %v", err, resp)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}},
		{Name: "the same assertion again (challenge used)", Method: "POST", Path: authVerify, Body: map[string]any{"credential": good, "challengeId": id}, Status: 400,
			Want: map[string]any{"error": "Challenge not found or expired: start again"}},
	})

	try := func(t *testing.T, cred map[string]any, challengeID string) *apptest.Response {
		t.Helper()
		return e.Do("POST", authVerify, nil, map[string]any{"credential": cred, "challengeId": challengeID}, nil)
	}
	t.Run("raw uid as userHandle (the original's form)", func(t *testing.T) {
		o, id := options(t, e)
		raw := u.UID
		if r := try(t, k.get(o, &raw), id); r.StatusCode != 200 || r.JSON["userId"] != u.UID {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("expired challenge refused", func(t *testing.T) {
		o, id := options(t, e)
		e.Clock.Advance(passkeys.ChallengeTTL)
		r := try(t, k.get(o, nil), id)
		if r.StatusCode != 400 || r.JSON["error"] != "Challenge not found or expired: start again" || cookieOf(r) != nil {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
		if e.Doc(passkeys.ChallengeCollection+"/"+id) != nil {
			t.Error("expired challenge not deleted")
		}
	})
	t.Run("a registration challenge is not a sign-in challenge", func(t *testing.T) {
		e.Do("POST", regOptions, apptest.WithCookie(u.Cookie()), map[string]any{"userId": u.UID}, nil)
		o, _ := options(t, e)
		if r := try(t, k.get(o, nil), u.UID); r.StatusCode != 400 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("no userHandle", func(t *testing.T) {
		o, id := options(t, e)
		empty := ""
		if r := try(t, k.get(o, &empty), id); r.StatusCode != 400 || !strings.Contains(r.JSON["error"].(string), "user handle") {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("unknown passkey", func(t *testing.T) {
		o, id := options(t, e)
		stranger := newSoftKey(t)
		stranger.handle = []byte(u.UID)
		if r := try(t, stranger.get(o, nil), id); r.StatusCode != 400 || r.JSON["error"] != "Passkey not found: it may have been removed from this account" {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("another user's handle", func(t *testing.T) {
		v := e.Member()
		o, id := options(t, e)
		h := b64.EncodeToString([]byte(v.UID))
		if r := try(t, k.get(o, &h), id); r.StatusCode != 400 || cookieOf(r) != nil {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("forged signature", func(t *testing.T) {
		o, id := options(t, e)
		cred := k.get(o, nil)
		forger := newSoftKey(t)
		forger.id, forger.handle, forger.count = k.id, k.handle, k.count+5
		cred["response"] = forger.get(o, nil)["response"]
		if r := try(t, cred, id); r.StatusCode != 400 || !strings.HasPrefix(r.JSON["error"].(string), "Passkey verification failed") {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("signature counter must increase", func(t *testing.T) {
		o, id := options(t, e)
		saved := k.count
		stored := e.Doc("users/" + u.UID + "/passkeys/" + k.credID())["counter"].(int64)
		k.count = uint32(stored) - 1 // the next assertion repeats the stored counter value
		r := try(t, k.get(o, nil), id)
		if r.StatusCode != 400 || !strings.Contains(r.JSON["error"].(string), "counter") {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
		k.count = saved
	})
	t.Run("user not verified", func(t *testing.T) {
		o, id := options(t, e)
		k.uv = false
		defer func() { k.uv = true }()
		if r := try(t, k.get(o, nil), id); r.StatusCode != 400 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("wrong origin", func(t *testing.T) {
		o, id := options(t, e)
		k.origin = "https://evil.example"
		defer func() { k.origin = "http://localhost:3000" }()
		if r := try(t, k.get(o, nil), id); r.StatusCode != 400 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
	t.Run("counter persisted on every sign-in", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			o, id := options(t, e)
			if r := try(t, k.get(o, nil), id); r.StatusCode != 200 {
				t.Fatalf("%d %s", r.StatusCode, r.Raw)
			}
			if got := e.Doc("users/" + u.UID + "/passkeys/" + k.credID())["counter"]; got != int64(k.count) {
				t.Errorf("counter %v, want %d", got, k.count)
			}
		}
	})
}

func TestListRenameDelete(t *testing.T) {
	e := newEnv(t)
	u, other := e.Member(), e.Member()
	c := u.Cookie()
	wc := apptest.WithCookie(c)
	k1, k2 := newSoftKey(t), newSoftKey(t)
	id1 := registerKey(t, e, u, c, k1, "One")
	e.Clock.Advance(time.Second)
	id2 := registerKey(t, e, u, c, k2, "Two")
	first, second := id1, id2
	if second < first {
		first, second = second, first
	}
	pending := apptest.WithCookie(u.CookieWith(sess.MFAPending))
	item := func(id string) string { return "/api/passkeys/" + id }

	e.Run(t, []apptest.Scenario{
		{Name: "list: userId missing", Method: "GET", Path: listPath, Cred: wc, Status: 400},
		{Name: "list: no credential", Method: "GET", Path: listPath + "?userId=" + u.UID, Status: 401},
		{Name: "list: API key", Method: "GET", Path: listPath + "?userId=" + u.UID, Cred: apptest.WithAPIKey(u.APIKey()), Status: 401},
		{Name: "list: another user", Method: "GET", Path: listPath + "?userId=" + u.UID, Cred: apptest.WithCookie(other.Cookie()), Status: 403},
		{Name: "list: MFA pending session is allowed", Method: "GET", Path: listPath + "?userId=" + u.UID, Cred: pending, Status: 200},
		{Name: "list: none", Method: "GET", Path: listPath + "?userId=" + other.UID, Cred: apptest.WithCookie(other.Cookie()), Status: 200, Want: map[string]any{"passkeys": []any{}}},
		{Name: "list", Method: "GET", Path: listPath + "?userId=" + u.UID, Cred: wc, Status: 200,
			Want: map[string]any{"passkeys.0.credentialId": first, "passkeys.1.credentialId": second, "passkeys.0.deviceType": "singleDevice", "passkeys.0.backedUp": false,
				"passkeys.0.createdAt": apptest.Present, "passkeys.0.lastUsedAt": apptest.Present},
			Absent: []string{"passkeys.0.credentialPublicKey", "passkeys.0.counter", "passkeys.2"},
			Check: func(t *testing.T, r *apptest.Response) {
				for _, p := range r.JSON["passkeys"].([]any) {
					m := p.(map[string]any)
					if _, err := time.Parse("2006-01-02T15:04:05.000Z", m["createdAt"].(string)); err != nil {
						t.Errorf("createdAt %v", m["createdAt"])
					}
					if want := map[string]string{id1: "One", id2: "Two"}[m["credentialId"].(string)]; m["friendlyName"] != want {
						t.Errorf("name %v", m)
					}
				}
			}},

		{Name: "rename: name missing", Method: "PATCH", Path: item(id1), Cred: wc, Body: map[string]any{"userId": u.UID}, Status: 400},
		{Name: "rename: name blank", Method: "PATCH", Path: item(id1), Cred: wc, Body: map[string]any{"userId": u.UID, "friendlyName": "   "}, Status: 400},
		{Name: "rename: name a number", Method: "PATCH", Path: item(id1), Cred: wc, Body: map[string]any{"userId": u.UID, "friendlyName": 1}, Status: 400},
		{Name: "rename: 51 characters", Method: "PATCH", Path: item(id1), Cred: wc, Body: map[string]any{"userId": u.UID, "friendlyName": strings.Repeat("x", 51)}, Status: 400},
		{Name: "rename: 50 characters padded is checked before trimming", Method: "PATCH", Path: item(id1), Cred: wc, Body: map[string]any{"userId": u.UID, "friendlyName": " " + strings.Repeat("x", 50)}, Status: 400},
		{Name: "rename: userId missing", Method: "PATCH", Path: item(id1), Cred: wc, Body: map[string]any{"friendlyName": "x"}, Status: 400},
		{Name: "rename: no credential", Method: "PATCH", Path: item(id1), Body: map[string]any{"userId": u.UID, "friendlyName": "x"}, Status: 401},
		{Name: "rename: another user", Method: "PATCH", Path: item(id1), Cred: apptest.WithCookie(other.Cookie()), Body: map[string]any{"userId": u.UID, "friendlyName": "x"}, Status: 403},
		{Name: "rename: MFA pending", Method: "PATCH", Path: item(id1), Cred: pending, Body: map[string]any{"userId": u.UID, "friendlyName": "x"}, Status: 403, Want: map[string]any{"mfaRequired": true}},
		{Name: "rename: someone else's passkey id under my account", Method: "PATCH", Path: item(id1), Cred: apptest.WithCookie(other.Cookie()), Body: map[string]any{"userId": other.UID, "friendlyName": "x"}, Status: 404},
		{Name: "rename", Method: "PATCH", Path: item(id1), Cred: wc, Body: map[string]any{"userId": u.UID, "friendlyName": "  Phone "}, Status: 200,
			Want: map[string]any{"success": true},
			Check: func(t *testing.T, r *apptest.Response) {
				if n := e.Doc("users/" + u.UID + "/passkeys/" + id1)["friendlyName"]; n != "Phone" {
					t.Errorf("name %v", n)
				}
			}},

		{Name: "delete: userId missing", Method: "DELETE", Path: item(id1), Cred: wc, Status: 400},
		{Name: "delete: no credential", Method: "DELETE", Path: item(id1) + "?userId=" + u.UID, Status: 401},
		{Name: "delete: another user", Method: "DELETE", Path: item(id1) + "?userId=" + u.UID, Cred: apptest.WithCookie(other.Cookie()), Status: 403},
		{Name: "delete: MFA pending", Method: "DELETE", Path: item(id1) + "?userId=" + u.UID, Cred: pending, Status: 403, Want: map[string]any{"mfaRequired": true}},
		{Name: "delete one of two", Method: "DELETE", Path: item(id1) + "?userId=" + u.UID, Cred: wc, Status: 200, Want: map[string]any{"success": true},
			Check: func(t *testing.T, r *apptest.Response) {
				if e.Doc("users/"+u.UID+"/passkeys/"+id1) != nil {
					t.Error("not deleted")
				}
				if e.Doc("users/" + u.UID)["passkeyEnrolled"] != true {
					t.Error("passkeyEnrolled cleared while a passkey remains")
				}
			}},
		{Name: "delete again is fine", Method: "DELETE", Path: item(id1) + "?userId=" + u.UID, Cred: wc, Status: 200},
		{Name: "delete the last", Method: "DELETE", Path: item(id2) + "?userId=" + u.UID, Cred: wc, Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				if e.Doc("users/" + u.UID)["passkeyEnrolled"] != false {
					t.Error("passkeyEnrolled not cleared")
				}
			}},
		{Name: "a deleted passkey no longer signs in", Method: "POST", Path: authVerify, Body: func() map[string]any {
			o, id := options(t, e)
			return map[string]any{"credential": k2.get(o, nil), "challengeId": id}
		}(), Status: 400},
	})
}
