// Package config is the typed configuration every function reads once at cold
// start. Secrets are given by value (Cloud Run's --set-secrets exposes them as
// env vars) or by reference ("secret://projects/P/secrets/NAME/versions/V"),
// resolved from Secret Manager.
package config

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Config holds everything the server reads from its environment.
type Config struct {
	// ProjectID is the Firebase/GCP project (GOOGLE_CLOUD_PROJECT).
	ProjectID string
	// Env is "production", "development" or "local" (OWLETTE_ENV).
	Env string
	// OnCloudRun is true when K_SERVICE is set by the platform.
	OnCloudRun bool
	// Dev selects the original's relaxed development rate limits
	// (project id containing "-dev").
	Dev bool

	SessionSecret    string // SESSION_SECRET, ≥ 32 chars
	MFAEncryptionKey string // MFA_ENCRYPTION_KEY
	LLMEncryptionKey string // LLM_ENCRYPTION_KEY (falls back to MFA_ENCRYPTION_KEY)
	CronSecret       string // CRON_SECRET
	CortexSecret     string // CORTEX_INTERNAL_SECRET
	ResendAPIKey     string // RESEND_API_KEY
	ResendFrom       string // RESEND_FROM_EMAIL
	FirebaseAPIKey   string // FIREBASE_API_KEY (web API key for the Identity Toolkit exchange)
	StorageBucket    string // STORAGE_BUCKET
	BaseURL          string // BASE_URL for links in e-mails
	// AdminEmail is the admin notification and fallback alert recipient:
	// ADMIN_EMAIL_PROD in production (project id without "-dev"), else
	// ADMIN_EMAIL_DEV (api.md §1.14). Empty when unset.
	AdminEmail string

	// WebAuthnRPID is the passkey relying party id (WEBAUTHN_RP_ID) and
	// WebAuthnOrigins the origins passkey ceremonies may come from
	// (WEBAUTHN_ORIGINS, comma-separated). Empty means the defaults of
	// api.md §1.11; read them through WebAuthn.
	WebAuthnRPID    string
	WebAuthnOrigins []string

	// TrustedProxyHops is how many X-Forwarded-For entries, counted from
	// the right, trusted proxies appended (TRUSTED_PROXY_HOPS): the client
	// address is the entry that many places from the right. Default 2 on
	// Cloud Run (Firebase Hosting's CDN, then Google's front end), 0
	// elsewhere (the direct peer). ClientIPHeader (CLIENT_IP_HEADER), when
	// set, names a header the front end fills with the client address.
	TrustedProxyHops int
	ClientIPHeader   string

	// SchedulerServiceAccount and SchedulerAudience identify the Cloud
	// Scheduler / Cloud Tasks OIDC tokens that scheduled and internal
	// routes accept (SCHEDULER_SERVICE_ACCOUNT, SCHEDULER_AUDIENCE; set by
	// scripts/deploy). Either empty: only the shared secrets work.
	SchedulerServiceAccount, SchedulerAudience string

	// ResendBaseURL points the Resend SDK somewhere else than Resend's API
	// (RESEND_BASE_URL): the local fake in `make dev` and tests.
	ResendBaseURL string
	// SendWelcomeEmail (SEND_WELCOME_EMAIL=true) makes E65 also send the
	// new user a welcome e-mail.
	SendWelcomeEmail bool
	// WebhookAllowLoopback (WEBHOOK_ALLOW_LOOPBACK=true) lets webhook
	// targets be http(s)://127.0.0.1 / localhost, for local development
	// only: refused in production.
	WebhookAllowLoopback bool
	// AnthropicBaseURL and OpenAIBaseURL point the LLM SDKs somewhere else
	// than the providers' APIs (ANTHROPIC_BASE_URL, OPENAI_BASE_URL): the
	// local fakes in `make dev` and tests. Empty: the real APIs.
	AnthropicBaseURL, OpenAIBaseURL string
	// TDArchiveURL is the page X07 reads TouchDesigner builds from
	// (TD_ARCHIVE_URL; default https://derivative.ca/download/archive).
	TDArchiveURL string

	// Emulators lists the *_EMULATOR_HOST variables that are set.
	Emulators map[string]string
}

// Production reports whether cookies must be Secure and secrets are mandatory.
func (c *Config) Production() bool { return c.Env == "production" }

// WebAuthn returns the relying party id and the allowed origins, applying
// the defaults of api.md §1.11 to whatever is not configured: in production
// "owlette.app" with https://owlette.app and https://dev.owlette.app,
// elsewhere "localhost" with http://localhost:3000.
func (c *Config) WebAuthn() (rpID string, origins []string) {
	rpID, origins = c.WebAuthnRPID, c.WebAuthnOrigins
	if rpID == "" {
		rpID = "localhost"
		if c.Production() {
			rpID = "owlette.app"
		}
	}
	if len(origins) == 0 {
		origins = []string{"http://localhost:3000"}
		if c.Production() {
			origins = []string{"https://owlette.app", "https://dev.owlette.app"}
		}
	}
	return rpID, slices.Clone(origins)
}

// Getenv abstracts the environment for tests.
type Getenv func(string) string

// SecretResolver fetches the value behind a secret:// reference.
type SecretResolver interface {
	Resolve(ctx context.Context, ref string) (string, error)
}

const secretScheme = "secret://"

// emulatorVars are the *_EMULATOR_HOST variables the Google and Firebase
// client libraries honour.
var emulatorVars = []string{
	"FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "STORAGE_EMULATOR_HOST",
	"PUBSUB_EMULATOR_HOST", "FIREBASE_STORAGE_EMULATOR_HOST", "DATASTORE_EMULATOR_HOST",
	"FIREBASE_DATABASE_EMULATOR_HOST", "SPANNER_EMULATOR_HOST", "BIGTABLE_EMULATOR_HOST",
}

// Secret names: the environment variables that hold secrets (by value, or
// as a secret:// reference), each function declaring the ones it reads.
const (
	SecretSession        = "SESSION_SECRET"
	SecretMFA            = "MFA_ENCRYPTION_KEY"
	SecretLLM            = "LLM_ENCRYPTION_KEY"
	SecretCron           = "CRON_SECRET"
	SecretCortex         = "CORTEX_INTERNAL_SECRET"
	SecretResend         = "RESEND_API_KEY"
	SecretFirebaseAPIKey = "FIREBASE_API_KEY"
)

// AllSecrets lists every secret the server knows.
var AllSecrets = []string{SecretSession, SecretMFA, SecretLLM, SecretCron, SecretCortex, SecretResend, SecretFirebaseAPIKey}

// Load reads the configuration from getenv, resolving secret references with
// res (which may be nil when no reference is used). Every secret is
// expected, as for a process that serves every function (the dev server).
func Load(ctx context.Context, getenv Getenv, res SecretResolver) (*Config, error) {
	return LoadFor(ctx, getenv, res, AllSecrets)
}

// LoadFor is Load for a function that reads only the given secrets: in
// production those (but LLM_ENCRYPTION_KEY and RESEND_API_KEY) must be set,
// and the others are not required. A function that takes no session cookie
// gets a random SESSION_SECRET of its own, so no cookie ever verifies there.
func LoadFor(ctx context.Context, getenv Getenv, res SecretResolver, declared []string) (*Config, error) {
	c := &Config{
		ProjectID:      first(getenv("GOOGLE_CLOUD_PROJECT"), getenv("GCLOUD_PROJECT"), getenv("FIREBASE_PROJECT_ID")),
		Env:            getenv("OWLETTE_ENV"),
		OnCloudRun:     getenv("K_SERVICE") != "",
		FirebaseAPIKey: first(getenv("FIREBASE_API_KEY"), getenv("NEXT_PUBLIC_FIREBASE_API_KEY")),
		StorageBucket:  first(getenv("STORAGE_BUCKET"), getenv("NEXT_PUBLIC_FIREBASE_STORAGE_BUCKET")),
		BaseURL:        first(getenv("BASE_URL"), getenv("NEXT_PUBLIC_BASE_URL")),
		ResendFrom:     first(getenv("RESEND_FROM_EMAIL"), "onboarding@resend.dev"),
		Emulators:      map[string]string{},
		WebAuthnRPID:   strings.TrimSpace(getenv("WEBAUTHN_RP_ID")),
		ClientIPHeader: strings.TrimSpace(getenv("CLIENT_IP_HEADER")),

		SchedulerServiceAccount: strings.TrimSpace(getenv("SCHEDULER_SERVICE_ACCOUNT")),
		SchedulerAudience:       strings.TrimSpace(getenv("SCHEDULER_AUDIENCE")),

		ResendBaseURL:        strings.TrimSpace(getenv("RESEND_BASE_URL")),
		SendWelcomeEmail:     getenv("SEND_WELCOME_EMAIL") == "true",
		WebhookAllowLoopback: getenv("WEBHOOK_ALLOW_LOOPBACK") == "true",
		AnthropicBaseURL:     strings.TrimSpace(getenv("ANTHROPIC_BASE_URL")),
		OpenAIBaseURL:        strings.TrimSpace(getenv("OPENAI_BASE_URL")),
		TDArchiveURL:         first(strings.TrimSpace(getenv("TD_ARCHIVE_URL")), "https://derivative.ca/download/archive"),
	}
	for _, o := range strings.Split(getenv("WEBAUTHN_ORIGINS"), ",") {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			c.WebAuthnOrigins = append(c.WebAuthnOrigins, o)
		}
	}
	for _, v := range emulatorVars {
		if h := getenv(v); h != "" {
			c.Emulators[v] = h
		}
	}
	if c.Env == "" {
		if c.OnCloudRun {
			c.Env = "production"
		} else {
			c.Env = "local"
		}
	}
	if c.ProjectID == "" {
		return nil, errors.New("GOOGLE_CLOUD_PROJECT is not set")
	}
	if c.OnCloudRun {
		c.TrustedProxyHops = 2
	}
	if v := strings.TrimSpace(getenv("TRUSTED_PROXY_HOPS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10 {
			return nil, fmt.Errorf("TRUSTED_PROXY_HOPS must be a number from 0 to 10, not %q", v)
		}
		c.TrustedProxyHops = n
	}
	c.Dev = strings.Contains(c.ProjectID, "-dev")
	if c.StorageBucket == "" {
		c.StorageBucket = c.ProjectID + ".firebasestorage.app"
	}
	c.AdminEmail = getenv("ADMIN_EMAIL_DEV")
	if c.Production() && !c.Dev {
		c.AdminEmail = getenv("ADMIN_EMAIL_PROD")
	}

	// The Admin SDK skips token signature checks in emulator mode, so an
	// emulator variable on Cloud Run would accept forged tokens.
	if c.OnCloudRun && len(c.Emulators) > 0 {
		names := make([]string, 0, len(c.Emulators))
		for k := range c.Emulators {
			names = append(names, k)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("refusing to start on Cloud Run with emulator variables set: %s", strings.Join(names, ", "))
	}

	wanted := map[string]bool{}
	for _, n := range declared {
		wanted[n] = true
	}
	secrets := []struct {
		dst      *string
		names    []string
		required bool // required in production
	}{
		{&c.SessionSecret, []string{SecretSession}, wanted[SecretSession]},
		{&c.MFAEncryptionKey, []string{SecretMFA}, wanted[SecretMFA]},
		{&c.LLMEncryptionKey, []string{SecretLLM}, false},
		{&c.CronSecret, []string{SecretCron}, wanted[SecretCron]},
		{&c.CortexSecret, []string{SecretCortex}, wanted[SecretCortex]},
		{&c.ResendAPIKey, []string{SecretResend}, false},
	}
	var missing []string
	for _, s := range secrets {
		v := ""
		for _, n := range s.names {
			if v = getenv(n); v != "" {
				break
			}
		}
		if strings.HasPrefix(v, secretScheme) {
			if res == nil {
				return nil, fmt.Errorf("%s is a secret reference but no Secret Manager resolver is available", s.names[0])
			}
			val, err := res.Resolve(ctx, strings.TrimPrefix(v, secretScheme))
			if err != nil {
				return nil, fmt.Errorf("resolve %s: %w", s.names[0], err)
			}
			v = val
		}
		*s.dst = v
		if v == "" && s.required && c.Production() {
			missing = append(missing, s.names[0])
		}
	}
	if c.LLMEncryptionKey == "" {
		c.LLMEncryptionKey = c.MFAEncryptionKey
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("required secrets missing in production: %s", strings.Join(missing, ", "))
	}
	if c.Production() && c.WebhookAllowLoopback {
		return nil, errors.New("WEBHOOK_ALLOW_LOOPBACK is for local development only: refusing it in production")
	}
	if c.SessionSecret == "" && !wanted[SecretSession] {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		c.SessionSecret = hex.EncodeToString(b)
	}
	if len(c.SessionSecret) < 32 {
		return nil, errors.New("SESSION_SECRET must be at least 32 characters")
	}
	if c.Production() && wanted[SecretFirebaseAPIKey] && c.FirebaseAPIKey == "" {
		return nil, errors.New("FIREBASE_API_KEY is required in production")
	}
	return c, nil
}

// NeedsResolver reports whether any variable holds a secret reference.
func NeedsResolver(getenv Getenv) bool {
	for _, n := range []string{"SESSION_SECRET", "MFA_ENCRYPTION_KEY", "LLM_ENCRYPTION_KEY", "CRON_SECRET", "CORTEX_INTERNAL_SECRET", "RESEND_API_KEY"} {
		if strings.HasPrefix(getenv(n), secretScheme) {
			return true
		}
	}
	return false
}

// Environ adapts os.Getenv.
func Environ() Getenv { return os.Getenv }

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
