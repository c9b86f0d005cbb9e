package deploymentsweeper

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

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/background"
)

const (
	schedulerSA = "scheduler@demo-x.iam.gserviceaccount.com"
	audience    = "https://us-central1-demo-x.cloudfunctions.net/deploymentsweeper"
	cronSecret  = "apptest-cron-secret" // apptest.Config
)

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

func TestAuth(t *testing.T) {
	good := &fakeVerifier{payload: googlePayload(schedulerSA, true, "https://accounts.google.com")}
	withOIDC := Options{ServiceAccount: schedulerSA, Audience: audience, Verifier: good}
	e := apptest.New(t, withOIDC.Register)
	admin := e.Admin()
	ok := apptest.Scenario{Status: http.StatusOK, Want: map[string]any{"success": true, "sitesScanned": apptest.Present}}
	unauth := apptest.Scenario{Status: http.StatusUnauthorized, Want: map[string]any{"error": "Unauthorized"}}
	with := func(s apptest.Scenario, name, method string, cred apptest.Cred, hdr map[string]string) apptest.Scenario {
		s.Name, s.Method, s.Path, s.Cred, s.Header = name, method, "/", cred, hdr
		return s
	}
	oidc := apptest.WithBearer("scheduler-oidc-token")
	e.Run(t, []apptest.Scenario{
		with(unauth, "no credential", "POST", apptest.NoCred, nil),
		with(unauth, "wrong cron secret", "POST", apptest.NoCred, map[string]string{CronSecretHeader: "nope"}),
		with(unauth, "cron secret prefix", "POST", apptest.NoCred, map[string]string{CronSecretHeader: cronSecret[:10]}),
		with(ok, "cron secret POST", "POST", apptest.NoCred, map[string]string{CronSecretHeader: cronSecret}),
		with(ok, "cron secret GET", "GET", apptest.NoCred, map[string]string{CronSecretHeader: cronSecret}),
		with(ok, "scheduler OIDC token", "POST", oidc, nil),
		with(unauth, "a wrong secret is not rescued by a good token", "POST", oidc, map[string]string{CronSecretHeader: "nope"}),
		with(unauth, "forged token", "POST", apptest.WithBearer("forged"), nil),
		with(unauth, "admin API key", "POST", apptest.WithAPIKey(admin.APIKey()), nil),
		with(unauth, "admin Firebase ID token", "POST", apptest.WithBearer(admin.IDToken()), nil),
		with(unauth, "admin session cookie", "POST", apptest.WithCookie(admin.Cookie()), nil),
		{Name: "PUT", Method: "PUT", Path: "/", Header: map[string]string{CronSecretHeader: cronSecret}, Status: http.StatusMethodNotAllowed},
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
		e := apptest.New(t, Options{ServiceAccount: schedulerSA, Audience: audience, Verifier: v}.Register)
		e.Run(t, []apptest.Scenario{with(unauth, name, "POST", oidc, nil)})
	}

	// Without OIDC settings only the secret works; without a secret, nothing.
	e = apptest.New(t, Options{Verifier: good}.Register)
	e.Run(t, []apptest.Scenario{
		with(unauth, "OIDC not configured", "POST", oidc, nil),
		with(ok, "secret", "POST", apptest.NoCred, map[string]string{CronSecretHeader: cronSecret}),
	})
	e.D.Config.CronSecret = ""
	e.Run(t, []apptest.Scenario{
		with(unauth, "no CRON_SECRET configured", "POST", apptest.NoCred, map[string]string{CronSecretHeader: ""}),
		with(unauth, "no CRON_SECRET configured, any header", "POST", apptest.NoCred, map[string]string{CronSecretHeader: "x"}),
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
	e := apptest.New(t, Options{ServiceAccount: schedulerSA, Audience: audience, Verifier: v}.Register)
	hour := time.Now().Add(time.Hour)
	e.Run(t, []apptest.Scenario{
		{Name: "Google-signed scheduler token", Method: "POST", Path: "/", Cred: apptest.WithBearer(sign(key, claims(audience, hour))), Status: 200},
		{Name: "other key", Method: "POST", Path: "/", Cred: apptest.WithBearer(sign(other, claims(audience, hour))), Status: 401},
		{Name: "other audience", Method: "POST", Path: "/", Cred: apptest.WithBearer(sign(key, claims("https://evil.example", hour))), Status: 401},
		{Name: "expired", Method: "POST", Path: "/", Cred: apptest.WithBearer(sign(key, claims(audience, time.Now().Add(-time.Minute)))), Status: 401},
		{Name: "not a JWT", Method: "POST", Path: "/", Cred: apptest.WithBearer("abc"), Status: 401},
	})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The shared table runs this function every 5 minutes with a 60 s timeout.
func TestBackgroundTable(t *testing.T) {
	s, ok := background.ScheduleByName(Name)
	if !ok || s.Cron != "*/5 * * * *" || s.Every != 5*time.Minute || s.Timeout != 60 || s.Package != "functions/deploymentsweeper" {
		t.Errorf("schedule = %+v, %v", s, ok)
	}
	if p, err := background.CronPeriod(s.Cron); err != nil || p != s.Every {
		t.Errorf("cron period %v %v", p, err)
	}
}
