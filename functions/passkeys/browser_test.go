package passkeys_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/owlette/server/functions/passkeys"
	"github.com/owlette/server/functions/session"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/browsertest"
	sess "github.com/owlette/server/shared/session"
)

// browserPage runs the WebAuthn ceremonies in the page, against the real
// endpoints of the same origin, as the dashboard does.
const browserPage = `<!doctype html><meta charset="utf-8"><title>passkey test</title>
<script>
async function api(method, path, body) {
  const init = {method, headers: {}};
  if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
  const r = await fetch(path, init);
  let json = null; try { json = await r.json(); } catch (e) {}
  return {status: r.status, body: json};
}
window.signIn = (idToken) => api('POST', '/api/auth/session', {idToken});
window.signOut = () => api('DELETE', '/api/auth/session');
window.sessionStatus = () => api('GET', '/api/auth/session');
window.listPasskeys = (userId) => api('GET', '/api/passkeys/list?userId=' + encodeURIComponent(userId));
window.registerPasskey = async (userId) => {
  const o = await api('POST', '/api/passkeys/register/options', {userId});
  if (o.status !== 200) return {step: 'options', ...o};
  const cred = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(o.body)});
  return api('POST', '/api/passkeys/register/verify', {userId, credential: cred.toJSON(), friendlyName: 'Chromium'});
};
window.passkeyLogin = async () => {
  const o = await api('POST', '/api/passkeys/authenticate/options');
  if (o.status !== 200) return {step: 'options', ...o};
  const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(o.body.options)});
  return api('POST', '/api/passkeys/authenticate/verify', {credential: cred.toJSON(), challengeId: o.body.challengeId});
};
</script>`

type apiResult struct {
	Status int            `json:"status"`
	Body   map[string]any `json:"body"`
	Step   string         `json:"step"`
}

// TestBrowserPasskeyFlow: headless Chromium with a WebAuthn virtual
// authenticator registers a passkey through the real endpoints, signs out,
// signs in with the passkey and holds a working __session cookie.
func TestBrowserPasskeyFlow(t *testing.T) {
	e := apptest.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	// Same origin for the page and the API; RP ID "localhost" (the default).
	e.D.Config.WebAuthnOrigins = []string{origin}
	mux := http.NewServeMux()
	mux.Handle("/api/", app.Build(e.D, passkeys.Register, session.Register))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(browserPage))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	u := e.Member()
	idToken := u.IDToken()

	start := time.Now()
	ctx := browsertest.New(t, 90*time.Second)

	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	auth, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
			Transport:      cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	call := func(step, js string) apiResult {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var res apiResult
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatalf("%s: %s: %v", step, raw, err)
		}
		return res
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }

	if r := call("sign in with the ID token", "signIn("+q(idToken)+")"); r.Status != 200 || r.Body["mfaRequired"] != nil {
		t.Fatalf("sign in: %+v", r)
	}
	reg := call("register a passkey", "registerPasskey("+q(u.UID)+")")
	if reg.Status != 200 || reg.Body["success"] != true {
		t.Fatalf("register: %+v", reg)
	}
	credID, _ := reg.Body["credentialId"].(string)
	creds, err := chromedp.Call(ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: auth.AuthenticatorID})
	if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential {
		t.Fatalf("authenticator credentials: %v %+v", err, creds)
	}
	if got := b64.EncodeToString(creds.Credentials[0].CredentialID); got != credID {
		t.Errorf("server stored credential %s, authenticator holds %s", credID, got)
	}
	stored := e.Doc("users/" + u.UID + "/passkeys/" + credID)
	if stored == nil || stored["friendlyName"] != "Chromium" || e.Doc("users/" + u.UID)["passkeyEnrolled"] != true {
		t.Fatalf("stored passkey %v", stored)
	}

	if r := call("sign out", "signOut()"); r.Status != 200 {
		t.Fatalf("sign out: %+v", r)
	}
	if r := call("status after sign-out", "sessionStatus()"); r.Body["authenticated"] != false {
		t.Fatalf("still signed in after sign-out: %+v", r)
	}
	// The user also has TOTP MFA: the passkey sign-in must count as complete.
	if _, err := e.FS.Collection("users").Doc(u.UID).Update(context.Background(), []firestore.Update{{Path: "mfaEnrolled", Value: true}}); err != nil {
		t.Fatal(err)
	}

	login := call("sign in with the passkey", "passkeyLogin()")
	if login.Status != 200 || login.Body["userId"] != u.UID || login.Body["customToken"] == nil {
		t.Fatalf("passkey login: %+v", login)
	}
	st := call("status after passkey sign-in", "sessionStatus()")
	if st.Body["authenticated"] != true || st.Body["userId"] != u.UID || st.Body["mfaPending"] != nil {
		t.Fatalf("session after passkey sign-in: %+v", st)
	}
	if l := call("list with the new cookie", "listPasskeys("+q(u.UID)+")"); l.Status != 200 {
		t.Fatalf("list: %+v", l)
	}
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	var got *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == sess.CookieName {
			got = c
		}
	}
	if got == nil || !got.HTTPOnly || got.Value == "" || got.Path != "/" {
		t.Fatalf("__session cookie in the browser: %+v", got)
	}
	// The cookie works outside the browser too, on a route that needs it.
	req, _ := http.NewRequest("GET", srv.URL+"/api/passkeys/list?userId="+u.UID, nil)
	req.AddCookie(&http.Cookie{Name: got.Name, Value: got.Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("list with the browser's cookie: %v %v", err, resp)
	}
	resp.Body.Close()
	// The sign counter the authenticator reached is the one stored.
	after, err := chromedp.Call(ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: auth.AuthenticatorID})
	if err != nil || len(after.Credentials) != 1 {
		t.Fatalf("authenticator credentials: %v", err)
	}
	c := e.Doc("users/" + u.UID + "/passkeys/" + credID)["counter"]
	t.Logf("sign counter after one sign-in: stored %v, authenticator %v", c, after.Credentials[0].SignCount)
	if c != int64(after.Credentials[0].SignCount) {
		t.Errorf("stored counter %v, authenticator at %v", c, after.Credentials[0].SignCount)
	}
	elapsed := time.Since(start)
	t.Logf("browser session (start Chromium, register, sign out, passkey sign-in): %v", elapsed.Round(time.Millisecond))
}
