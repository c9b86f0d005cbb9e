// Package llmconfig is the one place that knows where a caller's LLM
// configuration lives and how its key is kept (api.md §1.9, §2.20, §2.21;
// datamodel §2.13, §2.18):
//
//   - Resolve picks the provider, decrypted key and model for a request:
//     user mode (E52 chat, X11 categorize) takes users/{uid}/settings/llm if
//     it exists, else sites/{siteId}/settings/llm; autonomous mode (E53)
//     takes the site document only, with its autonomousModel overriding
//     model. An empty model means llm.DefaultModel; Resolved.Cheap switches
//     to llm.CheapModel (X11).
//   - Seal and Open encrypt and decrypt keys with LLM_ENCRYPTION_KEY, or
//     MFA_ENCRYPTION_KEY when that is unset, in the original's stored format
//     (shared/secretbox), so keys saved by either server work on the other.
//   - Read and Save are the settings/llm document's reader and writer (the
//     llmsettings route group, E57–E62 and X12).
//   - BaseURL is where the provider SDKs are sent (the local fakes in tests
//     and `make dev`, the real APIs otherwise).
//
// Failures callers should explain to the user come back as *Error, whose
// message is written for them and never holds key material; errors.Is
// tells the kinds apart (ErrNotConfigured, ErrEncryptionUnset,
// ErrUndecryptable, ErrInvalid). Firestore failures pass through wrapped,
// so the web layer still classifies deadlines and unavailability.
package llmconfig

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/secretbox"
	"github.com/owlette/server/shared/store"
)

// Mode says which documents Resolve may use.
type Mode string

const (
	// ModeUser is an interactive request of a signed-in user (E52, X11):
	// the user's own key first, then the site's.
	ModeUser Mode = "user"
	// ModeAutonomous is a background investigation (E53): the site's key
	// only, and the site's autonomousModel when set.
	ModeAutonomous Mode = "autonomous"
)

// Where a resolved configuration came from (Resolved.Source).
const (
	SourceUser = "user"
	SourceSite = "site"
)

// Resolved is a usable LLM configuration. APIKey is the decrypted key:
// String, GoString and LogValue redact it, so printing or logging a
// Resolved never shows it.
type Resolved struct {
	Provider string // llm.Anthropic or llm.OpenAI
	APIKey   string // decrypted; never log or return it
	Model    string // never empty
	Source   string // SourceUser or SourceSite
}

// Cheap returns r with the provider's small model (X11 titles and
// categories), whatever model r was configured with.
func (r Resolved) Cheap() Resolved {
	r.Model = llm.CheapModel(r.Provider)
	return r
}

// Config returns the llm.Config for r, sent to BaseURL(cfg, r.Provider)
// through hc (nil: the SDK's default client). Callers set MaxTokens and
// MaxRetries as their route needs.
func (r Resolved) Config(cfg *config.Config, hc *http.Client) llm.Config {
	return llm.Config{Provider: r.Provider, APIKey: r.APIKey, Model: r.Model, BaseURL: BaseURL(cfg, r.Provider), HTTPClient: hc}
}

func (r Resolved) String() string {
	return fmt.Sprintf("{Provider:%s Model:%s Source:%s APIKey:%s}", r.Provider, r.Model, r.Source, redacted(r.APIKey))
}

// GoString keeps %#v from printing the key.
func (r Resolved) GoString() string { return "llmconfig.Resolved" + r.String() }

// LogValue keeps slog from printing the key.
func (r Resolved) LogValue() slog.Value {
	return slog.GroupValue(slog.String("provider", r.Provider), slog.String("model", r.Model),
		slog.String("source", r.Source), slog.String("apiKey", redacted(r.APIKey)))
}

func redacted(key string) string {
	if key == "" {
		return ""
	}
	return "[redacted]"
}

// Document fields of settings/llm (datamodel §2.13, §2.18).
const (
	FieldProvider        = "provider"
	FieldAPIKeyEncrypted = "apiKeyEncrypted"
	FieldModel           = "model"
	FieldAutonomousModel = "autonomousModel"
	FieldUpdatedAt       = "updatedAt"
)

// UserSettings is users/{uid}/settings/llm.
func UserSettings(fs *firestore.Client, uid string) *firestore.DocumentRef {
	return fs.Collection("users").Doc(uid).Collection("settings").Doc("llm")
}

// SiteSettings is sites/{siteId}/settings/llm.
func SiteSettings(fs *firestore.Client, siteID string) *firestore.DocumentRef {
	return fs.Collection("sites").Doc(siteID).Collection("settings").Doc("llm")
}

// Settings is a stored settings/llm document. Fields of the wrong type read
// as empty (the dashboard never writes these documents, but a hand-edited
// one must not crash a reader).
type Settings struct {
	Provider        string
	APIKeyEncrypted string
	Model           string    // "" when null or absent
	AutonomousModel string    // site documents only; "" when absent
	UpdatedAt       time.Time // zero when absent
}

// Read returns the settings document at ref, or nil when it does not exist.
func Read(ctx context.Context, ref *firestore.DocumentRef) (*Settings, error) {
	snap, err := ref.Get(ctx)
	if err != nil && !store.NotFound(err) {
		return nil, fmt.Errorf("llmconfig: read %s: %w", ref.Path, err)
	}
	return parse(snap), nil
}

func parse(snap *firestore.DocumentSnapshot) *Settings {
	if snap == nil || !snap.Exists() {
		return nil
	}
	d := snap.Data()
	str := func(k string) string { s, _ := d[k].(string); return strings.TrimSpace(s) }
	s := &Settings{
		Provider:        str(FieldProvider),
		APIKeyEncrypted: str(FieldAPIKeyEncrypted),
		Model:           str(FieldModel),
		AutonomousModel: str(FieldAutonomousModel),
	}
	s.UpdatedAt, _ = d[FieldUpdatedAt].(time.Time)
	return s
}

// Save seals apiKey and merges {provider, apiKeyEncrypted, model|null,
// updatedAt: server time} into the settings document at ref (E57, E60).
// Merging keeps the fields it does not name, such as a site's
// autonomousModel, which no route writes. An empty model is stored as null.
func Save(ctx context.Context, ref *firestore.DocumentRef, cfg *config.Config, provider, apiKey, model string) error {
	sealed, err := Seal(cfg, apiKey)
	if err != nil {
		return err
	}
	var m any
	if model != "" {
		m = model
	}
	_, err = ref.Set(ctx, map[string]any{
		FieldProvider:        provider,
		FieldAPIKeyEncrypted: sealed,
		FieldModel:           m,
		FieldUpdatedAt:       firestore.ServerTimestamp,
	}, firestore.MergeAll)
	if err != nil {
		return fmt.Errorf("llmconfig: write %s: %w", ref.Path, err)
	}
	return nil
}

// ValidProvider reports whether p is a provider name the server supports.
func ValidProvider(p string) bool { return p == llm.Anthropic || p == llm.OpenAI }

// BaseURL is the API root the provider's SDK is sent to: ANTHROPIC_BASE_URL
// or OPENAI_BASE_URL when configured, "" (the real API) otherwise.
func BaseURL(cfg *config.Config, provider string) string {
	switch provider {
	case llm.Anthropic:
		return cfg.AnthropicBaseURL
	case llm.OpenAI:
		return cfg.OpenAIBaseURL
	}
	return ""
}

// Key is the secret LLM keys are sealed with: LLM_ENCRYPTION_KEY, falling
// back to MFA_ENCRYPTION_KEY (the LLM configuration group applies the
// fallback). "" when neither is set.
func Key(cfg *config.Config) string { return cfg.LLMEncryptionKey }

// Seal encrypts an API key for storage. It fails with ErrEncryptionUnset
// when no key is configured.
func Seal(cfg *config.Config, apiKey string) (string, error) {
	k := Key(cfg)
	if k == "" {
		return "", ErrEncryptionUnset
	}
	return secretbox.Encrypt(k, apiKey)
}

// Open decrypts a stored API key. It fails with ErrEncryptionUnset when no
// key is configured and with ErrUndecryptable when the value does not open
// (another encryption key, or not the stored format).
//
// Opened values are kept per instance (keyed by the encryption key and the
// sealed value, so a new key or a re-saved value is opened afresh): the
// scrypt derivation costs ~20 ms of CPU, which every chat request would
// otherwise pay.
func Open(cfg *config.Config, sealed string) (string, error) {
	k := Key(cfg)
	if k == "" {
		return "", ErrEncryptionUnset
	}
	ck := openedKey{sha256.Sum256([]byte(k)), sealed}
	if pt, ok := opened.get(ck); ok {
		return pt, nil
	}
	pt, err := secretbox.Decrypt(k, sealed)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUndecryptable, err)
	}
	opened.put(ck, pt)
	return pt, nil
}

// openedKey names an opened value: which encryption key, which sealed value.
type openedKey struct {
	key    [32]byte
	sealed string
}

// openedCache is a small bounded map; when full it starts over.
type openedCache struct {
	mu sync.Mutex
	m  map[openedKey]string
}

const openedMax = 1024

var opened openedCache

func (c *openedCache) get(k openedKey) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *openedCache) put(k openedKey, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= openedMax {
		c.m = make(map[openedKey]string)
	}
	c.m[k] = v
}

// Resolve returns the LLM configuration a request runs with (api.md §2.20):
//
//   - mode ModeUser: users/{uid}/settings/llm if that document exists
//     (even if it then fails to decrypt: the user's own choice wins), else
//     sites/{siteId}/settings/llm. siteID may be "" for "the user's key
//     only".
//   - mode ModeAutonomous: sites/{siteId}/settings/llm only (uid is
//     ignored), with its autonomousModel, when set, overriding model.
//
// The model is the document's (trimmed), or llm.DefaultModel for the
// provider when empty. A siteID that cannot name a document counts as a
// site without settings.
//
// Failures meant for the user are *Error: nothing configured
// (ErrNotConfigured), no encryption key on the server
// (ErrEncryptionUnset), a key that does not decrypt, most likely because
// the encryption key changed since it was saved (ErrUndecryptable), a
// document with an unknown provider or without a key (ErrInvalid). The
// original answers all of them 500 with the message; Error() is that
// message. Other errors are Firestore failures (wrapped) or a bad mode or
// uid (programming errors).
//
// Cost: one Firestore round trip (user mode reads both documents in one
// batch) and one scrypt derivation (≈ 16 MiB, tens of milliseconds).
func Resolve(ctx context.Context, fs *firestore.Client, cfg *config.Config, mode Mode, uid, siteID string) (Resolved, error) {
	var refs []*firestore.DocumentRef
	var sources []string
	switch mode {
	case ModeUser:
		if !store.ValidID(uid) {
			return Resolved{}, fmt.Errorf("llmconfig: invalid uid %q", uid)
		}
		refs, sources = append(refs, UserSettings(fs, uid)), append(sources, SourceUser)
	case ModeAutonomous:
	default:
		return Resolved{}, fmt.Errorf("llmconfig: unknown mode %q", mode)
	}
	if store.ValidID(siteID) {
		refs, sources = append(refs, SiteSettings(fs, siteID)), append(sources, SourceSite)
	}
	if len(refs) == 0 {
		return Resolved{}, &Error{Kind: ErrNotConfigured, Mode: mode, SiteID: siteID}
	}
	snaps, err := fs.GetAll(ctx, refs)
	if err != nil {
		return Resolved{}, fmt.Errorf("llmconfig: read settings: %w", err)
	}
	for i, snap := range snaps {
		s := parse(snap)
		if s == nil {
			continue
		}
		return resolve(cfg, mode, sources[i], siteID, s)
	}
	return Resolved{}, &Error{Kind: ErrNotConfigured, Mode: mode, SiteID: siteID}
}

func resolve(cfg *config.Config, mode Mode, source, siteID string, s *Settings) (Resolved, error) {
	fail := func(kind error, detail string, cause error) (Resolved, error) {
		return Resolved{}, &Error{Kind: kind, Mode: mode, Source: source, SiteID: siteID, Detail: detail, Err: cause}
	}
	if !ValidProvider(s.Provider) {
		return fail(ErrInvalid, fmt.Sprintf("unknown provider %q", truncate(s.Provider, 40)), nil)
	}
	if s.APIKeyEncrypted == "" {
		return fail(ErrInvalid, "no API key is stored", nil)
	}
	key, err := Open(cfg, s.APIKeyEncrypted)
	if err != nil {
		if errors.Is(err, ErrEncryptionUnset) {
			return fail(ErrEncryptionUnset, "", nil)
		}
		return fail(ErrUndecryptable, "", err)
	}
	model := s.Model
	if mode == ModeAutonomous && s.AutonomousModel != "" {
		model = s.AutonomousModel
	}
	if model == "" {
		model = llm.DefaultModel(s.Provider)
	}
	return Resolved{Provider: s.Provider, APIKey: key, Model: model, Source: source}, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
