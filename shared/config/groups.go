package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"strings"
)

// Groups is a set of configuration groups: what a function declares it
// reads (fn.Spec.Config), e.g. config.Session | config.Email.
type Groups uint32

// The groups, one concern each.
const (
	// Session: the __session cookie's password (SESSION_SECRET).
	Session Groups = 1 << iota
	// MFA: the key TOTP secrets are encrypted with (MFA_ENCRYPTION_KEY).
	MFA
	// LLM: the key LLM API keys are encrypted with (LLM_ENCRYPTION_KEY,
	// falling back to MFA_ENCRYPTION_KEY) and the providers' base URLs.
	LLM
	// Email: Resend, the sender and admin addresses, the base URL of links
	// in e-mails, the welcome e-mail switch.
	Email
	// Webhooks: whether webhook targets may be loopback addresses.
	Webhooks
	// Cron: the scheduler's shared secret, also the unsubscribe-link key
	// (CRON_SECRET).
	Cron
	// Internal: the secret of calls between functions (CORTEX_INTERNAL_SECRET).
	Internal
	// Scheduler: the Cloud Scheduler identity whose OIDC tokens guard.Cron
	// and guard.Internal accept (set by the deploy tool).
	Scheduler
	// AgentTokens: the web API key agent tokens are exchanged with
	// (FIREBASE_API_KEY).
	AgentTokens
	// Storage: the Cloud Storage bucket and the URL-signing key.
	Storage
	// Passkeys: the WebAuthn relying party and origins.
	Passkeys
	// TouchDesigner: where X07 reads TouchDesigner builds from.
	TouchDesigner

	// None is no group: a function that reads only the Base.
	None Groups = 0
	// All is every group: a process that serves every function.
	All = TouchDesigner<<1 - 1
)

// Secret names: the environment variables that hold secrets (by value, or
// as a secret:// reference). Groups name the ones they read.
const (
	SecretSession        = "SESSION_SECRET"
	SecretMFA            = "MFA_ENCRYPTION_KEY"
	SecretLLM            = "LLM_ENCRYPTION_KEY"
	SecretCron           = "CRON_SECRET"
	SecretCortex         = "CORTEX_INTERNAL_SECRET"
	SecretResend         = "RESEND_API_KEY"
	SecretFirebaseAPIKey = "FIREBASE_API_KEY"
)

// AllSecrets lists every secret the server knows, once.
var AllSecrets = []string{SecretSession, SecretMFA, SecretLLM, SecretCron, SecretCortex, SecretResend, SecretFirebaseAPIKey}

// Variables of the groups that are not secrets.
const (
	EnvStorageSigningKeyFile = "STORAGE_SIGNING_KEY_FILE"
	EnvStorageSigningAccount = "STORAGE_SIGNING_ACCOUNT"
	EnvSchedulerAccount      = "SCHEDULER_SERVICE_ACCOUNT"
	EnvSchedulerAudience     = "SCHEDULER_AUDIENCE"
	EnvStorageBucket         = "STORAGE_BUCKET"
)

// SessionConfig is the Session group.
type SessionConfig struct {
	// SessionSecret is the iron-session password (SESSION_SECRET, ≥ 32
	// characters), shared with the dashboard.
	SessionSecret string
}

// MFAConfig is the MFA group.
type MFAConfig struct {
	MFAEncryptionKey string // MFA_ENCRYPTION_KEY
}

// LLMConfig is the LLM group.
type LLMConfig struct {
	// LLMEncryptionKey encrypts stored LLM API keys (LLM_ENCRYPTION_KEY,
	// else MFA_ENCRYPTION_KEY as the original does).
	LLMEncryptionKey string
	// AnthropicBaseURL and OpenAIBaseURL point the LLM SDKs somewhere else
	// than the providers' APIs (ANTHROPIC_BASE_URL, OPENAI_BASE_URL): the
	// local fakes in `make dev` and tests. Empty: the real APIs.
	AnthropicBaseURL, OpenAIBaseURL string
}

// EmailConfig is the Email group.
type EmailConfig struct {
	ResendAPIKey string // RESEND_API_KEY; empty: nothing is e-mailed
	ResendFrom   string // RESEND_FROM_EMAIL (default onboarding@resend.dev)
	// ResendBaseURL points the Resend SDK somewhere else than Resend's API
	// (RESEND_BASE_URL): the local fake in `make dev` and tests.
	ResendBaseURL string
	// AdminEmail is the admin notification and fallback alert recipient:
	// ADMIN_EMAIL_PROD in production (project id without "-dev"), else
	// ADMIN_EMAIL_DEV (api.md §1.14). Empty when unset.
	AdminEmail string
	// BaseURL is the public base URL of links in e-mails (BASE_URL, or
	// NEXT_PUBLIC_BASE_URL).
	BaseURL string
	// SendWelcomeEmail (SEND_WELCOME_EMAIL=true) makes E65 also send the
	// new user a welcome e-mail.
	SendWelcomeEmail bool
}

// WebhookConfig is the Webhooks group.
type WebhookConfig struct {
	// WebhookAllowLoopback (WEBHOOK_ALLOW_LOOPBACK=true) lets webhook
	// targets be http(s)://127.0.0.1 / localhost, for local development
	// only: refused in production.
	WebhookAllowLoopback bool
}

// CronConfig is the Cron group.
type CronConfig struct {
	CronSecret string // CRON_SECRET
}

// InternalConfig is the Internal group.
type InternalConfig struct {
	CortexSecret string // CORTEX_INTERNAL_SECRET
}

// SchedulerConfig is the Scheduler group: the Cloud Scheduler / Cloud Tasks
// OIDC tokens that scheduled and internal routes accept
// (SCHEDULER_SERVICE_ACCOUNT, SCHEDULER_AUDIENCE; set by scripts/deploy).
// Either empty: only the shared secrets work.
type SchedulerConfig struct {
	SchedulerServiceAccount, SchedulerAudience string
}

// AgentTokenConfig is the AgentTokens group.
type AgentTokenConfig struct {
	// FirebaseAPIKey is the web API key for the Identity Toolkit token
	// exchange (FIREBASE_API_KEY, or NEXT_PUBLIC_FIREBASE_API_KEY).
	FirebaseAPIKey string
}

// StorageConfig is the Storage group.
type StorageConfig struct {
	// StorageBucket is the Cloud Storage bucket (STORAGE_BUCKET, or
	// NEXT_PUBLIC_FIREBASE_STORAGE_BUCKET; default
	// <project>.firebasestorage.app).
	StorageBucket string
	// StorageSigningKeyFile (STORAGE_SIGNING_KEY_FILE) is an optional key
	// (PEM or service-account JSON) for signed URLs, StorageSigningAccount
	// (STORAGE_SIGNING_ACCOUNT) the account they name; without a key,
	// production signs through IAM signBlob.
	StorageSigningKeyFile, StorageSigningAccount string
}

// PasskeyConfig is the Passkeys group. Empty means the defaults of api.md
// §1.11; read them through Config.WebAuthn.
type PasskeyConfig struct {
	WebAuthnRPID    string   // WEBAUTHN_RP_ID
	WebAuthnOrigins []string // WEBAUTHN_ORIGINS, comma-separated
}

// TouchDesignerConfig is the TouchDesigner group.
type TouchDesignerConfig struct {
	// TDArchiveURL is the page X07 reads TouchDesigner builds from
	// (TD_ARCHIVE_URL; default https://derivative.ca/download/archive).
	TDArchiveURL string
}

// WebAuthn returns the relying party id and the allowed origins (Passkeys
// group), applying the defaults of api.md §1.11 to whatever is not
// configured: in production "owlette.app" with https://owlette.app and
// https://dev.owlette.app, elsewhere "localhost" with http://localhost:3000.
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

// group is one group's variables and how it is read.
type group struct {
	bit     Groups
	name    string
	field   string   // its field in Config
	vars    []string // every variable it reads, secrets included
	secrets []string // those of vars that hold secrets
	load    func(*loader, *Config) error
}

// groups lists every group in the order they are read.
var groups = []group{
	{Session, "session", "SessionConfig", []string{SecretSession}, []string{SecretSession}, loadSession},
	{MFA, "mfa", "MFAConfig", []string{SecretMFA}, []string{SecretMFA}, func(l *loader, c *Config) error {
		v, err := l.required(c, SecretMFA)
		c.MFAConfig = &MFAConfig{MFAEncryptionKey: v}
		return err
	}},
	{LLM, "llm", "LLMConfig", []string{SecretLLM, SecretMFA, "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"}, []string{SecretLLM, SecretMFA}, func(l *loader, c *Config) error {
		key, err := l.secret(SecretLLM)
		if err == nil && key == "" {
			key, err = l.secret(SecretMFA)
		}
		c.LLMConfig = &LLMConfig{
			LLMEncryptionKey: key,
			AnthropicBaseURL: strings.TrimSpace(l.getenv("ANTHROPIC_BASE_URL")),
			OpenAIBaseURL:    strings.TrimSpace(l.getenv("OPENAI_BASE_URL")),
		}
		return err
	}},
	{Email, "email", "EmailConfig", []string{SecretResend, "RESEND_FROM_EMAIL", "RESEND_BASE_URL", "ADMIN_EMAIL_PROD", "ADMIN_EMAIL_DEV", "BASE_URL", "NEXT_PUBLIC_BASE_URL", "SEND_WELCOME_EMAIL"}, []string{SecretResend}, func(l *loader, c *Config) error {
		key, err := l.secret(SecretResend)
		e := &EmailConfig{
			ResendAPIKey:     key,
			ResendFrom:       first(l.getenv("RESEND_FROM_EMAIL"), "onboarding@resend.dev"),
			ResendBaseURL:    strings.TrimSpace(l.getenv("RESEND_BASE_URL")),
			BaseURL:          first(l.getenv("BASE_URL"), l.getenv("NEXT_PUBLIC_BASE_URL")),
			SendWelcomeEmail: l.getenv("SEND_WELCOME_EMAIL") == "true",
		}
		if c.Production() && !c.Dev {
			e.AdminEmail = l.getenv("ADMIN_EMAIL_PROD")
		} else {
			e.AdminEmail = l.getenv("ADMIN_EMAIL_DEV")
		}
		c.EmailConfig = e
		return err
	}},
	{Webhooks, "webhooks", "WebhookConfig", []string{"WEBHOOK_ALLOW_LOOPBACK"}, nil, func(l *loader, c *Config) error {
		c.WebhookConfig = &WebhookConfig{WebhookAllowLoopback: l.getenv("WEBHOOK_ALLOW_LOOPBACK") == "true"}
		l.check(func(c *Config) error {
			if c.Production() && c.WebhookAllowLoopback {
				return errors.New("WEBHOOK_ALLOW_LOOPBACK is for local development only: refusing it in production")
			}
			return nil
		})
		return nil
	}},
	{Cron, "cron", "CronConfig", []string{SecretCron}, []string{SecretCron}, func(l *loader, c *Config) error {
		v, err := l.required(c, SecretCron)
		c.CronConfig = &CronConfig{CronSecret: v}
		return err
	}},
	{Internal, "internal", "InternalConfig", []string{SecretCortex}, []string{SecretCortex}, func(l *loader, c *Config) error {
		v, err := l.required(c, SecretCortex)
		c.InternalConfig = &InternalConfig{CortexSecret: v}
		return err
	}},
	{Scheduler, "scheduler", "SchedulerConfig", []string{EnvSchedulerAccount, EnvSchedulerAudience}, nil, func(l *loader, c *Config) error {
		c.SchedulerConfig = &SchedulerConfig{
			SchedulerServiceAccount: strings.TrimSpace(l.getenv(EnvSchedulerAccount)),
			SchedulerAudience:       strings.TrimSpace(l.getenv(EnvSchedulerAudience)),
		}
		return nil
	}},
	{AgentTokens, "agenttokens", "AgentTokenConfig", []string{SecretFirebaseAPIKey, "NEXT_PUBLIC_FIREBASE_API_KEY"}, []string{SecretFirebaseAPIKey}, func(l *loader, c *Config) error {
		v, err := l.secret(SecretFirebaseAPIKey)
		if v = first(v, l.getenv("NEXT_PUBLIC_FIREBASE_API_KEY")); err == nil && v == "" && c.Production() {
			l.missing = append(l.missing, SecretFirebaseAPIKey)
		}
		c.AgentTokenConfig = &AgentTokenConfig{FirebaseAPIKey: v}
		return err
	}},
	{Storage, "storage", "StorageConfig", []string{EnvStorageBucket, "NEXT_PUBLIC_FIREBASE_STORAGE_BUCKET", EnvStorageSigningKeyFile, EnvStorageSigningAccount}, nil, func(l *loader, c *Config) error {
		c.StorageConfig = &StorageConfig{
			StorageBucket:         first(l.getenv(EnvStorageBucket), l.getenv("NEXT_PUBLIC_FIREBASE_STORAGE_BUCKET"), c.ProjectID+".firebasestorage.app"),
			StorageSigningKeyFile: strings.TrimSpace(l.getenv(EnvStorageSigningKeyFile)),
			StorageSigningAccount: strings.TrimSpace(l.getenv(EnvStorageSigningAccount)),
		}
		return nil
	}},
	{Passkeys, "passkeys", "PasskeyConfig", []string{"WEBAUTHN_RP_ID", "WEBAUTHN_ORIGINS"}, nil, func(l *loader, c *Config) error {
		p := &PasskeyConfig{WebAuthnRPID: strings.TrimSpace(l.getenv("WEBAUTHN_RP_ID"))}
		for _, o := range strings.Split(l.getenv("WEBAUTHN_ORIGINS"), ",") {
			if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
				p.WebAuthnOrigins = append(p.WebAuthnOrigins, o)
			}
		}
		c.PasskeyConfig = p
		return nil
	}},
	{TouchDesigner, "touchdesigner", "TouchDesignerConfig", []string{"TD_ARCHIVE_URL"}, nil, func(l *loader, c *Config) error {
		c.TouchDesignerConfig = &TouchDesignerConfig{TDArchiveURL: first(strings.TrimSpace(l.getenv("TD_ARCHIVE_URL")), "https://derivative.ca/download/archive")}
		return nil
	}},
}

// alwaysSet are the groups every instance reads (see the package
// documentation); undeclared, they get their fail-closed values.
func alwaysSet(c *Config) error {
	if c.SessionConfig == nil {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		c.SessionConfig = &SessionConfig{SessionSecret: hex.EncodeToString(b)}
	}
	if c.SchedulerConfig == nil {
		c.SchedulerConfig = &SchedulerConfig{}
	}
	return nil
}

func loadSession(l *loader, c *Config) error {
	v, err := l.required(c, SecretSession)
	c.SessionConfig = &SessionConfig{SessionSecret: v}
	l.check(func(c *Config) error {
		if len(c.SessionSecret) < 32 {
			return errors.New("SESSION_SECRET must be at least 32 characters")
		}
		return nil
	})
	return err
}

// Has reports whether every group of x is in g.
func (g Groups) Has(x Groups) bool { return g&x == x }

// String names the groups ("session|email"), "none" for none.
func (g Groups) String() string {
	var names []string
	for _, gr := range groups {
		if g&gr.bit != 0 {
			names = append(names, gr.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// Vars lists the variables the groups read (secrets included), in group
// order, without the Base.
func (g Groups) Vars() []string {
	var out []string
	for _, gr := range groups {
		if g&gr.bit != 0 {
			for _, v := range gr.vars {
				if !slices.Contains(out, v) {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// Secrets lists the secret variables the groups read, in the order of
// AllSecrets.
func (g Groups) Secrets() []string {
	var out []string
	for _, s := range AllSecrets {
		for _, gr := range groups {
			if g&gr.bit != 0 && slices.Contains(gr.secrets, s) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// Of returns the group a field or method of Config belongs to ("ResendAPIKey"
// → Email); 0 for the Base and unknown names. Tests check with it that a
// function's code reads only what it declared.
func Of(name string) Groups {
	if name == "WebAuthn" {
		return Passkeys
	}
	for _, gr := range groups {
		if name == gr.field || slices.Contains(fieldNames(gr.field), name) {
			return gr.bit
		}
	}
	return 0
}

// fieldNames lists the fields of the group struct Config embeds as field.
func fieldNames(field string) []string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return nil
	}
	t := f.Type.Elem()
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = t.Field(i).Name
	}
	return names
}
