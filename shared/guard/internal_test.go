package guard_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"testing"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/web"
)

const (
	schedulerSA  = "scheduler@demo-x.iam.gserviceaccount.com"
	audience     = "https://us-central1-demo-x.cloudfunctions.net/fn"
	cronSecret   = "apptest-cron-secret"   // apptest.Config
	cortexSecret = "apptest-cortex-secret" // apptest.Config
)

// internalRoutes declares one route per internal guard; the handlers answer
// 200 with the caller's kind.
func internalRoutes(rt *app.Router) {
	ok := func(w http.ResponseWriter, r *http.Request) error {
		return web.OK(w, web.M{"via": guard.Caller(r).Via})
	}
	rt.Handle("POST /cron", guard.Cron, ratelimit.None, ok)
	rt.Handle("POST /internal", guard.Internal("X-Internal-Secret"), ratelimit.None, ok)
}

// fakeVerifier stands in for Google's key check.
type fakeVerifier struct {
	payload *idtoken.Payload
	err     error
	gotAud  string
}

func (v *fakeVerifier) Validate(_ context.Context, tok, aud string) (*idtoken.Payload, error) {
	v.gotAud = aud
	if tok != "scheduler-oidc-token" {
		return nil, errors.New("bad signature")
	}
	return v.payload, v.err
}

func googlePayload(email string, verified bool, iss string) *idtoken.Payload {
	return &idtoken.Payload{Issuer: iss, Audience: audience, Claims: map[string]any{"email": email, "email_verified": verified}}
}

// TestInternalCallers: the Cron and Internal guards accept their shared
// secret or the configured scheduler's OIDC token, and nothing else — no
// user credential of any kind (DECISIONS §3 "never nothing").
func TestInternalCallers(t *testing.T) {
	good := &fakeVerifier{payload: googlePayload(schedulerSA, true, "https://accounts.google.com")}
	e := apptest.New(t, internalRoutes)
	e.D.Guards.OIDC = &guard.OIDC{ServiceAccount: schedulerSA, Audience: audience, Verifier: good}
	admin := e.Admin()
	ok := func(name, path, via string, cred apptest.Cred, hdr map[string]string) apptest.Scenario {
		return apptest.Scenario{Name: name, Method: "POST", Path: path, Cred: cred, Header: hdr, Status: 200, Want: map[string]any{"via": via}}
	}
	no := func(name, path string, cred apptest.Cred, hdr map[string]string) apptest.Scenario {
		return apptest.Scenario{Name: name, Method: "POST", Path: path, Cred: cred, Header: hdr, Status: http.StatusUnauthorized, Want: map[string]any{"error": "Unauthorized"}}
	}
	oidc := apptest.WithBearer("scheduler-oidc-token")
	cronHdr := map[string]string{guard.CronSecretHeader: cronSecret}
	internalHdr := map[string]string{"X-Internal-Secret": cortexSecret}
	e.Run(t, []apptest.Scenario{
		ok("cron: X-Cron-Secret", "/cron", guard.ViaSecret, nil, cronHdr),
		ok("cron: Bearer CRON_SECRET (E56)", "/cron", guard.ViaSecret, apptest.WithBearer(cronSecret), nil),
		ok("cron: bare CRON_SECRET in Authorization (E56)", "/cron", guard.ViaSecret, func(r *http.Request) { r.Header.Set("Authorization", cronSecret) }, nil),
		ok("cron: scheduler OIDC token", "/cron", guard.ViaOIDC, oidc, nil),
		no("cron: nothing", "/cron", nil, nil),
		no("cron: wrong secret", "/cron", nil, map[string]string{guard.CronSecretHeader: "nope"}),
		no("cron: secret prefix", "/cron", nil, map[string]string{guard.CronSecretHeader: cronSecret[:10]}),
		no("cron: a wrong secret is not rescued by a good token", "/cron", oidc, map[string]string{guard.CronSecretHeader: "nope"}),
		no("cron: the internal secret", "/cron", nil, map[string]string{guard.CronSecretHeader: cortexSecret}),
		no("cron: forged token", "/cron", apptest.WithBearer("forged"), nil),
		no("cron: admin API key", "/cron", apptest.WithAPIKey(admin.APIKey()), nil),
		no("cron: admin ID token", "/cron", apptest.WithBearer(admin.IDToken()), nil),
		no("cron: admin session", "/cron", apptest.WithCookie(admin.Cookie()), nil),
		no("cron: agent token", "/cron", apptest.WithBearer(e.AgentToken("s", "m")), nil),

		ok("internal: secret header", "/internal", guard.ViaSecret, nil, internalHdr),
		ok("internal: OIDC token", "/internal", guard.ViaOIDC, oidc, nil),
		no("internal: nothing", "/internal", nil, nil),
		no("internal: wrong secret", "/internal", nil, map[string]string{"X-Internal-Secret": "nope"}),
		no("internal: the cron secret", "/internal", nil, map[string]string{"X-Internal-Secret": cronSecret}),
		no("internal: the secret in another header", "/internal", nil, map[string]string{"X-Cortex-Secret": cortexSecret}),
		no("internal: the secret as a bearer", "/internal", apptest.WithBearer(cortexSecret), nil),
		no("internal: admin API key", "/internal", apptest.WithAPIKey(admin.APIKey()), nil),
		no("internal: admin session", "/internal", apptest.WithCookie(admin.Cookie()), nil),
	})
	if good.gotAud != audience {
		t.Errorf("validated for audience %q", good.gotAud)
	}

	// The token must be Google's, verified, and the scheduler's identity.
	for name, v := range map[string]*fakeVerifier{
		"other service account": {payload: googlePayload("other@demo-x.iam.gserviceaccount.com", true, "https://accounts.google.com")},
		"unverified e-mail":     {payload: googlePayload(schedulerSA, false, "https://accounts.google.com")},
		"other issuer":          {payload: googlePayload(schedulerSA, true, "https://securetoken.google.com/demo-x")},
		"verifier error":        {payload: googlePayload(schedulerSA, true, "accounts.google.com"), err: errors.New("expired")},
	} {
		e.D.Guards.OIDC = &guard.OIDC{ServiceAccount: schedulerSA, Audience: audience, Verifier: v}
		e.Run(t, []apptest.Scenario{no(name, "/cron", oidc, nil), no(name+" (internal)", "/internal", oidc, nil)})
	}

	// Without OIDC settings only the secrets work; without secrets, nothing.
	e.D.Guards.OIDC = &guard.OIDC{Verifier: good}
	e.Run(t, []apptest.Scenario{
		no("OIDC not configured", "/cron", oidc, nil),
		ok("secret still works", "/cron", guard.ViaSecret, nil, cronHdr),
	})
	e.D.Config.CronSecret, e.D.Config.CortexSecret = "", ""
	e.Run(t, []apptest.Scenario{
		no("no CRON_SECRET configured, empty header", "/cron", nil, map[string]string{guard.CronSecretHeader: ""}),
		no("no CRON_SECRET configured, any header", "/cron", nil, map[string]string{guard.CronSecretHeader: "x"}),
		no("no CRON_SECRET configured, empty bearer", "/cron", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, nil),
		no("no internal secret configured", "/internal", nil, map[string]string{"X-Internal-Secret": ""}),
	})
}

// The production verifier (idtoken) checks the RS256 signature against
// Google's published keys, served here from a local JWKS.
func TestGoogleOIDCVerifier(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kid": "k1", "kty": "RSA", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.URL.String() != "https://www.googleapis.com/oauth2/v3/certs" {
			return nil, errors.New("unexpected request to " + r.URL.String())
		}
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(jwks)), Request: r}, nil
	})}
	v, err := idtoken.NewValidator(context.Background(), option.WithHTTPClient(client))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *rsa.PrivateKey, claims map[string]any) string {
		h, _ := json.Marshal(map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"})
		p, _ := json.Marshal(claims)
		in := b64(h) + "." + b64(p)
		sum := sha256.Sum256([]byte(in))
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return in + "." + b64(sig)
	}
	claims := func(aud string, exp time.Time) map[string]any {
		return map[string]any{"iss": "https://accounts.google.com", "aud": aud, "sub": "1234", "iat": time.Now().Unix(),
			"exp": exp.Unix(), "email": schedulerSA, "email_verified": true}
	}
	e := apptest.New(t, internalRoutes)
	e.D.Guards.OIDC = &guard.OIDC{ServiceAccount: schedulerSA, Audience: audience, Verifier: v}
	hour := time.Now().Add(time.Hour)
	e.Run(t, []apptest.Scenario{
		{Name: "Google-signed scheduler token", Method: "POST", Path: "/cron", Cred: apptest.WithBearer(sign(key, claims(audience, hour))), Status: 200},
		{Name: "other key", Method: "POST", Path: "/cron", Cred: apptest.WithBearer(sign(other, claims(audience, hour))), Status: 401},
		{Name: "other audience", Method: "POST", Path: "/cron", Cred: apptest.WithBearer(sign(key, claims("https://evil.example", hour))), Status: 401},
		{Name: "expired", Method: "POST", Path: "/cron", Cred: apptest.WithBearer(sign(key, claims(audience, time.Now().Add(-time.Minute)))), Status: 401},
		{Name: "not a JWT", Method: "POST", Path: "/cron", Cred: apptest.WithBearer("abc"), Status: 401},
	})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
