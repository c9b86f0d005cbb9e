package config_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/owlette/server/shared/config"
)

// envOf is a map-backed Getenv: tests never read the real environment.
func envOf(m map[string]string) config.Getenv {
	return func(k string) string { return m[k] }
}

// with returns a copy of base with the given key/value pairs applied; an
// empty value deletes the key.
func with(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

const secret32 = "0123456789abcdef0123456789abcdef" // exactly 32 characters

// local is the smallest valid environment off Cloud Run.
var local = map[string]string{
	"GOOGLE_CLOUD_PROJECT": "owlette-demo",
	"SESSION_SECRET":       secret32,
	"MFA_ENCRYPTION_KEY":   "mfa-key",
}

// prod is a complete environment on Cloud Run.
var prod = map[string]string{
	"K_SERVICE":              "sites",
	"GOOGLE_CLOUD_PROJECT":   "owlette-prod",
	"SESSION_SECRET":         secret32,
	"MFA_ENCRYPTION_KEY":     "mfa-key",
	"CRON_SECRET":            "cron",
	"CORTEX_INTERNAL_SECRET": "cortex",
	"FIREBASE_API_KEY":       "web-api-key",
}

// mapResolver resolves references from a map and records what it was asked.
type mapResolver struct {
	vals  map[string]string
	err   error
	asked []string
}

func (r *mapResolver) Resolve(_ context.Context, ref string) (string, error) {
	r.asked = append(r.asked, ref)
	if r.err != nil {
		return "", r.err
	}
	v, ok := r.vals[ref]
	if !ok {
		return "", fmt.Errorf("no secret %q", ref)
	}
	return v, nil
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *config.Config)
	}{
		{"local defaults", local, func(t *testing.T, c *config.Config) {
			eq(t, "ProjectID", c.ProjectID, "owlette-demo")
			eq(t, "Env", c.Env, "local")
			eq(t, "OnCloudRun", c.OnCloudRun, false)
			eq(t, "Production", c.Production(), false)
			eq(t, "Dev", c.Dev, false)
			eq(t, "StorageBucket", c.StorageBucket, "owlette-demo.firebasestorage.app")
			eq(t, "SessionSecret", c.SessionSecret, secret32)
			eq(t, "MFAEncryptionKey", c.MFAEncryptionKey, "mfa-key")
			eq(t, "LLMEncryptionKey (falls back to MFA)", c.LLMEncryptionKey, "mfa-key")
			eq(t, "ResendFrom", c.ResendFrom, "onboarding@resend.dev")
			eq(t, "CronSecret", c.CronSecret, "")
			eq(t, "Emulators", len(c.Emulators), 0)
		}},
		{"production defaults on Cloud Run", prod, func(t *testing.T, c *config.Config) {
			eq(t, "Env", c.Env, "production")
			eq(t, "OnCloudRun", c.OnCloudRun, true)
			eq(t, "Production", c.Production(), true)
			eq(t, "StorageBucket", c.StorageBucket, "owlette-prod.firebasestorage.app")
			eq(t, "CronSecret", c.CronSecret, "cron")
			eq(t, "CortexSecret", c.CortexSecret, "cortex")
			eq(t, "FirebaseAPIKey", c.FirebaseAPIKey, "web-api-key")
			eq(t, "LLMEncryptionKey", c.LLMEncryptionKey, "mfa-key")
			eq(t, "ResendAPIKey (optional)", c.ResendAPIKey, "")
		}},
		{"dev project", with(local, "GOOGLE_CLOUD_PROJECT", "owlette-dev-123"), func(t *testing.T, c *config.Config) {
			eq(t, "Dev", c.Dev, true)
		}},
		{"dev project on Cloud Run is still production", with(prod, "GOOGLE_CLOUD_PROJECT", "owlette-dev"), func(t *testing.T, c *config.Config) {
			eq(t, "Dev", c.Dev, true)
			eq(t, "Env", c.Env, "production")
		}},
		{"project fallbacks", with(local, "GOOGLE_CLOUD_PROJECT", "", "GCLOUD_PROJECT", "from-gcloud"), func(t *testing.T, c *config.Config) {
			eq(t, "ProjectID", c.ProjectID, "from-gcloud")
		}},
		{"FIREBASE_PROJECT_ID fallback", with(local, "GOOGLE_CLOUD_PROJECT", "", "FIREBASE_PROJECT_ID", "from-firebase"), func(t *testing.T, c *config.Config) {
			eq(t, "ProjectID", c.ProjectID, "from-firebase")
		}},
		{"explicit values win", with(local,
			"OWLETTE_ENV", "development",
			"STORAGE_BUCKET", "bucket-x",
			"RESEND_FROM_EMAIL", "Owlette <alerts@example.com>",
			"LLM_ENCRYPTION_KEY", "llm-key",
			"RESEND_API_KEY", "re_123",
			"BASE_URL", "https://owlette.example.com",
		), func(t *testing.T, c *config.Config) {
			eq(t, "Env", c.Env, "development")
			eq(t, "StorageBucket", c.StorageBucket, "bucket-x")
			eq(t, "ResendFrom", c.ResendFrom, "Owlette <alerts@example.com>")
			eq(t, "LLMEncryptionKey", c.LLMEncryptionKey, "llm-key")
			eq(t, "ResendAPIKey", c.ResendAPIKey, "re_123")
			eq(t, "BaseURL", c.BaseURL, "https://owlette.example.com")
		}},
		{"NEXT_PUBLIC fallbacks", with(local,
			"NEXT_PUBLIC_FIREBASE_API_KEY", "pub-key",
			"NEXT_PUBLIC_FIREBASE_STORAGE_BUCKET", "pub-bucket",
			"NEXT_PUBLIC_BASE_URL", "https://pub.example.com",
		), func(t *testing.T, c *config.Config) {
			eq(t, "FirebaseAPIKey", c.FirebaseAPIKey, "pub-key")
			eq(t, "StorageBucket", c.StorageBucket, "pub-bucket")
			eq(t, "BaseURL", c.BaseURL, "https://pub.example.com")
		}},
		{"OWLETTE_ENV overrides the Cloud Run default", with(prod, "OWLETTE_ENV", "development", "CRON_SECRET", ""), func(t *testing.T, c *config.Config) {
			eq(t, "Env", c.Env, "development")
			eq(t, "Production", c.Production(), false)
		}},
		{"emulators allowed off Cloud Run", with(local,
			"FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080",
			"FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099",
		), func(t *testing.T, c *config.Config) {
			eq(t, "Emulators", len(c.Emulators), 2)
			eq(t, "FIRESTORE_EMULATOR_HOST", c.Emulators["FIRESTORE_EMULATOR_HOST"], "127.0.0.1:8080")
			eq(t, "FIREBASE_AUTH_EMULATOR_HOST", c.Emulators["FIREBASE_AUTH_EMULATOR_HOST"], "127.0.0.1:9099")
		}},
		{"SESSION_SECRET of exactly 32 characters", with(local, "SESSION_SECRET", strings.Repeat("x", 32)), func(t *testing.T, c *config.Config) {
			eq(t, "SessionSecret", len(c.SessionSecret), 32)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(context.Background(), envOf(tt.env), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"no project", with(local, "GOOGLE_CLOUD_PROJECT", ""), []string{"GOOGLE_CLOUD_PROJECT"}},
		{"SESSION_SECRET shorter than 32", with(local, "SESSION_SECRET", strings.Repeat("x", 31)), []string{"SESSION_SECRET", "32"}},
		{"SESSION_SECRET missing locally", with(local, "SESSION_SECRET", ""), []string{"SESSION_SECRET"}},
		{"SESSION_SECRET shorter than 32 in production", with(prod, "SESSION_SECRET", "short"), []string{"SESSION_SECRET", "32"}},
		{"production without SESSION_SECRET", with(prod, "SESSION_SECRET", ""), []string{"required secrets missing", "SESSION_SECRET"}},
		{"production without MFA_ENCRYPTION_KEY", with(prod, "MFA_ENCRYPTION_KEY", ""), []string{"required secrets missing", "MFA_ENCRYPTION_KEY"}},
		{"production without CRON_SECRET", with(prod, "CRON_SECRET", ""), []string{"required secrets missing", "CRON_SECRET"}},
		{"production without CORTEX_INTERNAL_SECRET", with(prod, "CORTEX_INTERNAL_SECRET", ""), []string{"required secrets missing", "CORTEX_INTERNAL_SECRET"}},
		{"production without several secrets names them all", with(prod, "CRON_SECRET", "", "CORTEX_INTERNAL_SECRET", ""), []string{"CRON_SECRET", "CORTEX_INTERNAL_SECRET"}},
		{"production without FIREBASE_API_KEY", with(prod, "FIREBASE_API_KEY", ""), []string{"FIREBASE_API_KEY"}},
		{"OWLETTE_ENV=production off Cloud Run still requires secrets", with(local, "OWLETTE_ENV", "production", "FIREBASE_API_KEY", "k"), []string{"CRON_SECRET", "CORTEX_INTERNAL_SECRET"}},
		{"loopback webhooks in production", with(prod, "WEBHOOK_ALLOW_LOOPBACK", "true"), []string{"WEBHOOK_ALLOW_LOOPBACK"}},
		{"TRUSTED_PROXY_HOPS not a number", with(local, "TRUSTED_PROXY_HOPS", "two"), []string{"TRUSTED_PROXY_HOPS"}},
		{"TRUSTED_PROXY_HOPS negative", with(local, "TRUSTED_PROXY_HOPS", "-1"), []string{"TRUSTED_PROXY_HOPS"}},
		{"Cloud Run with an emulator var even outside production", with(prod, "OWLETTE_ENV", "development", "FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099"), []string{"refusing to start", "FIREBASE_AUTH_EMULATOR_HOST"}},
	}
	for _, v := range []string{
		"FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "STORAGE_EMULATOR_HOST",
		"PUBSUB_EMULATOR_HOST", "FIREBASE_STORAGE_EMULATOR_HOST", "DATASTORE_EMULATOR_HOST",
		"FIREBASE_DATABASE_EMULATOR_HOST", "SPANNER_EMULATOR_HOST", "BIGTABLE_EMULATOR_HOST",
	} {
		tests = append(tests, struct {
			name string
			env  map[string]string
			want []string
		}{"Cloud Run with " + v, with(prod, v, "127.0.0.1:1"), []string{"refusing to start", v}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(context.Background(), envOf(tt.env), nil)
			if err == nil {
				t.Fatalf("Load succeeded (%+v), want error containing %q", c, tt.want)
			}
			if c != nil {
				t.Errorf("Load returned a config with its error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// With several emulator variables on Cloud Run, every one is named, in sorted
// order.
func TestLoadEmulatorsNamedDeterministically(t *testing.T) {
	env := with(prod,
		"STORAGE_EMULATOR_HOST", "127.0.0.1:1",
		"FIRESTORE_EMULATOR_HOST", "127.0.0.1:2",
		"FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:3",
	)
	var first string
	for i := range 20 {
		_, err := config.Load(context.Background(), envOf(env), nil)
		if err == nil {
			t.Fatal("Load succeeded on Cloud Run with emulator variables")
		}
		if i == 0 {
			first = err.Error()
			const names = "FIREBASE_AUTH_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST"
			if !strings.Contains(first, names) {
				t.Errorf("error %q does not name %s", first, names)
			}
		} else if err.Error() != first {
			t.Fatalf("error message changes between calls: %q vs %q", first, err)
		}
	}
}

func TestLoadSecretReferences(t *testing.T) {
	const (
		sessRef = "projects/p/secrets/session/versions/latest"
		cronRef = "projects/p/secrets/x/versions/latest"
		mfaRef  = "projects/p/secrets/mfa/versions/3"
	)
	vals := map[string]string{
		sessRef: "resolved-session-secret-of-32-chars!",
		cronRef: "resolved-cron",
		mfaRef:  "resolved-mfa",
	}
	refProd := with(prod,
		"SESSION_SECRET", "secret://"+sessRef,
		"CRON_SECRET", "secret://"+cronRef,
		"MFA_ENCRYPTION_KEY", "secret://"+mfaRef,
	)
	errBoom := errors.New("boom")

	tests := []struct {
		name      string
		env       map[string]string
		res       *mapResolver // nil: no resolver
		want      []string     // error substrings; nil for success
		wantIs    error
		check     func(t *testing.T, c *config.Config)
		wantAsked []string
	}{
		{
			name: "references resolved", env: refProd, res: &mapResolver{vals: vals},
			check: func(t *testing.T, c *config.Config) {
				eq(t, "SessionSecret", c.SessionSecret, vals[sessRef])
				eq(t, "CronSecret", c.CronSecret, "resolved-cron")
				eq(t, "MFAEncryptionKey", c.MFAEncryptionKey, "resolved-mfa")
				eq(t, "LLMEncryptionKey (falls back to resolved MFA)", c.LLMEncryptionKey, "resolved-mfa")
				eq(t, "CortexSecret (by value)", c.CortexSecret, "cortex")
			},
			wantAsked: []string{sessRef, mfaRef, cronRef},
		},
		{
			name: "reference with nil resolver", env: refProd,
			want: []string{"SESSION_SECRET", "secret reference", "resolver"},
		},
		{
			name: "reference with nil resolver names the variable", env: with(prod, "RESEND_API_KEY", "secret://"+cronRef),
			want: []string{"RESEND_API_KEY"},
		},
		{
			name: "resolver failure", env: with(prod, "CRON_SECRET", "secret://"+cronRef), res: &mapResolver{err: errBoom},
			want: []string{"resolve CRON_SECRET"}, wantIs: errBoom, wantAsked: []string{cronRef},
		},
		{
			name: "unknown secret", env: with(prod, "CORTEX_INTERNAL_SECRET", "secret://projects/p/secrets/nope/versions/latest"), res: &mapResolver{vals: vals},
			want: []string{"CORTEX_INTERNAL_SECRET", "nope"},
		},
		{
			name: "reference resolving to empty in production is missing", env: with(prod, "CRON_SECRET", "secret://"+cronRef),
			res:  &mapResolver{vals: map[string]string{cronRef: ""}},
			want: []string{"required secrets missing", "CRON_SECRET"},
		},
		{
			name: "emulator on Cloud Run refuses before any Secret Manager access", env: with(refProd, "FIRESTORE_EMULATOR_HOST", "127.0.0.1:1"),
			res:  &mapResolver{vals: vals},
			want: []string{"FIRESTORE_EMULATOR_HOST"}, wantAsked: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res config.SecretResolver
			if tt.res != nil {
				res = tt.res
			}
			c, err := config.Load(context.Background(), envOf(tt.env), res)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				tt.check(t, c)
			} else {
				if err == nil {
					t.Fatalf("Load succeeded, want error containing %q", tt.want)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("error %q does not wrap %v", err, tt.wantIs)
				}
			}
			if tt.wantAsked != nil {
				got := []string{}
				if tt.res != nil {
					got = append(got, tt.res.asked...)
				}
				if strings.Join(got, "|") != strings.Join(tt.wantAsked, "|") {
					t.Errorf("resolver asked %q, want %q", got, tt.wantAsked)
				}
			}
		})
	}
}

func TestNeedsResolver(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"values only", prod, false},
		{"empty", map[string]string{}, false},
		{"scheme elsewhere in value", with(prod, "CRON_SECRET", "x-secret://y"), false},
		{"unrelated variable", with(prod, "BASE_URL", "secret://projects/p/secrets/x/versions/latest"), false},
	}
	for _, v := range []string{"SESSION_SECRET", "MFA_ENCRYPTION_KEY", "LLM_ENCRYPTION_KEY", "CRON_SECRET", "CORTEX_INTERNAL_SECRET", "RESEND_API_KEY"} {
		tests = append(tests, struct {
			name string
			env  map[string]string
			want bool
		}{"reference in " + v, with(prod, v, "secret://projects/p/secrets/x/versions/latest"), true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := config.NeedsResolver(envOf(tt.env)); got != tt.want {
				t.Errorf("NeedsResolver = %v, want %v", got, tt.want)
			}
		})
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestWebAuthnSettings(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		rpID    string
		origins []string
	}{
		{"local defaults", local, "localhost", []string{"http://localhost:3000"}},
		{"production defaults", prod, "owlette.app", []string{"https://owlette.app", "https://dev.owlette.app"}},
		{"configured", with(local, "WEBAUTHN_RP_ID", " example.test ", "WEBAUTHN_ORIGINS", "https://a.example.test/, https://b.example.test,,"),
			"example.test", []string{"https://a.example.test", "https://b.example.test"}},
		{"origins only", with(local, "WEBAUTHN_ORIGINS", "http://localhost:18080"), "localhost", []string{"http://localhost:18080"}},
	}
	for _, c := range cases {
		cfg, err := config.Load(context.Background(), envOf(c.env), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		rp, origins := cfg.WebAuthn()
		if rp != c.rpID || fmt.Sprint(origins) != fmt.Sprint(c.origins) {
			t.Errorf("%s: %q %q, want %q %q", c.name, rp, origins, c.rpID, c.origins)
		}
	}
	// A hand-built Config (tests) gets the defaults too.
	if rp, o := (&config.Config{Base: config.Base{Env: "local"}, PasskeyConfig: &config.PasskeyConfig{}}).WebAuthn(); rp != "localhost" || len(o) != 1 {
		t.Errorf("zero config: %q %q", rp, o)
	}
}

// The client address: the direct peer locally, Firebase Hosting → Cloud Run's
// two hops on Cloud Run, or what TRUSTED_PROXY_HOPS says; CLIENT_IP_HEADER
// and the scheduler identity are passed through.
func TestClientAddressAndSchedulerSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		hops int
	}{
		{"local default", local, 0},
		{"Cloud Run default", prod, 2},
		{"configured", with(prod, "TRUSTED_PROXY_HOPS", "1"), 1},
		{"configured locally", with(local, "TRUSTED_PROXY_HOPS", " 3 "), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(context.Background(), envOf(tc.env), nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.TrustedProxyHops != tc.hops {
				t.Fatalf("TrustedProxyHops = %d, want %d", c.TrustedProxyHops, tc.hops)
			}
		})
	}
	c, err := config.Load(context.Background(), envOf(with(prod, "CLIENT_IP_HEADER", "Fastly-Client-IP",
		"SCHEDULER_SERVICE_ACCOUNT", "cron@p.iam.gserviceaccount.com", "SCHEDULER_AUDIENCE", "https://fn.example")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientIPHeader != "Fastly-Client-IP" || c.SchedulerServiceAccount != "cron@p.iam.gserviceaccount.com" || c.SchedulerAudience != "https://fn.example" {
		t.Fatalf("%+v", c)
	}
}

// A function gets only its own secrets (DECISIONS §4): in production those
// of the groups it declares are required, the others are not, and a
// function that takes no session cookie runs with a random session secret
// of its own.
func TestLoadForDeclaredSecrets(t *testing.T) {
	sched := with(prod, "SESSION_SECRET", "", "MFA_ENCRYPTION_KEY", "", "CORTEX_INTERNAL_SECRET", "", "FIREBASE_API_KEY", "")
	c, err := config.LoadFor(context.Background(), envOf(sched), nil, config.Cron|config.Scheduler)
	if err != nil {
		t.Fatalf("a scheduled function with only CRON_SECRET: %v", err)
	}
	if len(c.SessionSecret) < 32 || c.SessionSecret == secret32 {
		t.Fatalf("session secret %q", c.SessionSecret)
	}
	other, _ := config.LoadFor(context.Background(), envOf(sched), nil, config.Cron)
	if other.SessionSecret == c.SessionSecret {
		t.Fatal("the generated session secret is not random")
	}
	for _, tc := range []struct {
		g    config.Groups
		env  map[string]string
		want string
	}{
		{config.Cron, with(sched, "CRON_SECRET", ""), "CRON_SECRET"},
		{config.Session, sched, "SESSION_SECRET"},
		{config.MFA, sched, "MFA_ENCRYPTION_KEY"},
		{config.Internal, sched, "CORTEX_INTERNAL_SECRET"},
		{config.AgentTokens, sched, "FIREBASE_API_KEY"},
	} {
		if _, err := config.LoadFor(context.Background(), envOf(tc.env), nil, tc.g); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v with %s missing in production: %v", tc.g, tc.want, err)
		}
	}
	if _, err := config.LoadFor(context.Background(), envOf(sched), nil, config.Email|config.LLM); err != nil {
		t.Fatalf("optional secrets: %v", err)
	}
}
