// Package config is the typed configuration of a function, read once at cold
// start, and the only code that reads the process environment.
//
// Every function reads the Base: project, environment, client address,
// emulators, log level. The rest is grouped by concern, one struct each,
// composed per function: the session cookie, MFA, LLM keys, e-mail, webhooks, the cron and internal secrets, the
// scheduler identity, agent tokens, storage, passkeys, TouchDesigner builds.
// A function declares the groups it reads (fn.Spec.Config); only those are
// read from the environment, only their secrets are required in production,
// and the deploy tool gives the function only their variables and secrets
// (DECISIONS §4). A group the function did not declare is nil, so reading
// one of its fields panics instead of quietly seeing a zero value, and every
// function's tests run with only its own groups (apptest).
//
// Two groups are always present because every instance builds a session
// manager and an OIDC verifier from them: undeclared, Session holds a random
// cookie password (no cookie verifies there) and Scheduler no identity (no
// OIDC token verifies).
//
// Secrets are given by value (Cloud Run's --set-secrets exposes them as
// environment variables) or by reference
// ("secret://projects/P/secrets/NAME/versions/V"), resolved from Secret
// Manager.
package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
)

// Config is one function's configuration: the Base and the groups it
// declared (the others nil, but Session and Scheduler; see the package
// documentation). Fields are promoted, so handlers read d.Config.CronSecret.
type Config struct {
	Base

	*SessionConfig
	*MFAConfig
	*LLMConfig
	*EmailConfig
	*WebhookConfig
	*CronConfig
	*InternalConfig
	*SchedulerConfig
	*AgentTokenConfig
	*StorageConfig
	*PasskeyConfig
	*TouchDesignerConfig
}

// Base is what every function reads.
type Base struct {
	// ProjectID is the Firebase/GCP project (GOOGLE_CLOUD_PROJECT, or
	// GCLOUD_PROJECT, FIREBASE_PROJECT_ID).
	ProjectID string
	// Env is "production", "development" or "local" (OWLETTE_ENV; default
	// production on Cloud Run, else local).
	Env string
	// OnCloudRun is true when K_SERVICE is set by the platform.
	OnCloudRun bool
	// Dev selects the original's relaxed development rate limits and
	// addresses (project id containing "-dev").
	Dev bool

	// TrustedProxyHops is how many X-Forwarded-For entries, counted from
	// the right, trusted proxies appended (TRUSTED_PROXY_HOPS): the client
	// address is the entry that many places from the right. Default 2 on
	// Cloud Run (Firebase Hosting's CDN, then Google's front end), 0
	// elsewhere (the direct peer). ClientIPHeader (CLIENT_IP_HEADER), when
	// set, names a header the front end fills with the client address.
	TrustedProxyHops int
	ClientIPHeader   string

	// LogLevel is LOG_LEVEL (debug, info, warn, error; default info).
	LogLevel slog.Level

	// Emulators lists the *_EMULATOR_HOST variables that are set.
	Emulators map[string]string
}

// Production reports whether cookies must be Secure and secrets are mandatory.
func (b *Base) Production() bool { return b.Env == "production" }

// Getenv abstracts the environment for tests.
type Getenv func(string) string

// SecretResolver fetches the value behind a secret:// reference.
type SecretResolver interface {
	Resolve(ctx context.Context, ref string) (string, error)
}

const secretScheme = "secret://"

// BaseVars are the variables every function reads (Base).
var BaseVars = append([]string{
	"GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "FIREBASE_PROJECT_ID", "OWLETTE_ENV", "K_SERVICE",
	"TRUSTED_PROXY_HOPS", "CLIENT_IP_HEADER", "LOG_LEVEL",
}, emulatorVars...)

// emulatorVars are the *_EMULATOR_HOST variables the Google and Firebase
// client libraries honour.
var emulatorVars = []string{
	"FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "STORAGE_EMULATOR_HOST",
	"PUBSUB_EMULATOR_HOST", "FIREBASE_STORAGE_EMULATOR_HOST", "DATASTORE_EMULATOR_HOST",
	"FIREBASE_DATABASE_EMULATOR_HOST", "SPANNER_EMULATOR_HOST", "BIGTABLE_EMULATOR_HOST",
}

// Load reads every group from getenv, resolving secret references with res
// (which may be nil when no reference is used), as for a process that serves
// every function (the dev server).
func Load(ctx context.Context, getenv Getenv, res SecretResolver) (*Config, error) {
	return LoadFor(ctx, getenv, res, All)
}

// LoadFor reads the Base and the groups in g from getenv, and nothing else.
// In production the secrets of those groups are required (but the optional
// RESEND_API_KEY and LLM_ENCRYPTION_KEY).
func LoadFor(ctx context.Context, getenv Getenv, res SecretResolver, g Groups) (*Config, error) {
	c := &Config{}
	if err := loadBase(&c.Base, getenv); err != nil {
		return nil, err
	}
	l := &loader{ctx: ctx, getenv: getenv, res: res, resolved: map[string]string{}}
	for _, gr := range groups {
		if g&gr.bit != 0 {
			if err := gr.load(l, c); err != nil {
				return nil, err
			}
		}
	}
	if err := alwaysSet(c); err != nil {
		return nil, err
	}
	if len(l.missing) > 0 {
		return nil, fmt.Errorf("required secrets missing in production: %s", strings.Join(l.missing, ", "))
	}
	if err := l.validate(c); err != nil {
		return nil, err
	}
	return c, nil
}

func loadBase(b *Base, getenv Getenv) error {
	*b = Base{
		ProjectID:      first(getenv("GOOGLE_CLOUD_PROJECT"), getenv("GCLOUD_PROJECT"), getenv("FIREBASE_PROJECT_ID")),
		Env:            getenv("OWLETTE_ENV"),
		OnCloudRun:     getenv("K_SERVICE") != "",
		ClientIPHeader: strings.TrimSpace(getenv("CLIENT_IP_HEADER")),
		Emulators:      map[string]string{},
	}
	for _, v := range emulatorVars {
		if h := getenv(v); h != "" {
			b.Emulators[v] = h
		}
	}
	if b.Env == "" {
		b.Env = "local"
		if b.OnCloudRun {
			b.Env = "production"
		}
	}
	if b.ProjectID == "" {
		return errors.New("GOOGLE_CLOUD_PROJECT is not set")
	}
	b.Dev = strings.Contains(b.ProjectID, "-dev")
	if b.OnCloudRun {
		b.TrustedProxyHops = 2
	}
	if v := strings.TrimSpace(getenv("TRUSTED_PROXY_HOPS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 10 {
			return fmt.Errorf("TRUSTED_PROXY_HOPS must be a number from 0 to 10, not %q", v)
		}
		b.TrustedProxyHops = n
	}
	if v := strings.TrimSpace(getenv("LOG_LEVEL")); v != "" {
		if err := b.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, not %q", v)
		}
	}
	// The Admin SDK skips token signature checks in emulator mode, so an
	// emulator variable on Cloud Run would accept forged tokens.
	if b.OnCloudRun && len(b.Emulators) > 0 {
		names := make([]string, 0, len(b.Emulators))
		for k := range b.Emulators {
			names = append(names, k)
		}
		slices.Sort(names)
		return fmt.Errorf("refusing to start on Cloud Run with emulator variables set: %s", strings.Join(names, ", "))
	}
	return nil
}

// loader reads the groups' variables, resolving each secret once.
type loader struct {
	ctx      context.Context
	getenv   Getenv
	res      SecretResolver
	resolved map[string]string
	missing  []string // secrets production requires that are empty
	checks   []func(*Config) error
}

// secret returns the value of a secret variable, resolving a reference.
func (l *loader) secret(name string) (string, error) {
	if v, ok := l.resolved[name]; ok {
		return v, nil
	}
	v := l.getenv(name)
	if strings.HasPrefix(v, secretScheme) {
		if l.res == nil {
			return "", fmt.Errorf("%s is a secret reference but no Secret Manager resolver is available", name)
		}
		val, err := l.res.Resolve(l.ctx, strings.TrimPrefix(v, secretScheme))
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", name, err)
		}
		v = val
	}
	l.resolved[name] = v
	return v, nil
}

// required is secret for one production needs: empty there, it is named in
// the "missing" error.
func (l *loader) required(c *Config, name string) (string, error) {
	v, err := l.secret(name)
	if err == nil && v == "" && c.Production() {
		l.missing = append(l.missing, name)
	}
	return v, err
}

// check adds a validation that runs once every secret is known present.
func (l *loader) check(f func(*Config) error) { l.checks = append(l.checks, f) }

func (l *loader) validate(c *Config) error {
	for _, f := range l.checks {
		if err := f(c); err != nil {
			return err
		}
	}
	return nil
}

// NeedsResolver reports whether any secret variable holds a reference.
func NeedsResolver(getenv Getenv) bool {
	for _, n := range AllSecrets {
		if strings.HasPrefix(getenv(n), secretScheme) {
			return true
		}
	}
	return false
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
