package llmconfig_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/secretbox"
	"github.com/owlette/server/shared/testenv"
)

func put(t *testing.T, ref *firestore.DocumentRef, data map[string]any) {
	t.Helper()
	if _, err := ref.Set(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

func sealed(t *testing.T, secret, key string) string {
	t.Helper()
	s, err := secretbox.Encrypt(secret, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestResolve(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	ctx := context.Background()
	cfg := withKey("resolve-key")
	seal := func(k string) string { return sealed(t, cfg.LLMEncryptionKey, k) }

	// site-both: a site key with a model and an autonomousModel.
	put(t, llmconfig.SiteSettings(fs, "site-both"), map[string]any{
		"provider": "openai", "apiKeyEncrypted": seal("site-key"), "model": "gpt-4o", "autonomousModel": "o3-mini"})
	// site-plain: no model, no autonomousModel.
	put(t, llmconfig.SiteSettings(fs, "site-plain"), map[string]any{
		"provider": "anthropic", "apiKeyEncrypted": seal("plain-key"), "model": nil})
	// site-auto: autonomousModel only.
	put(t, llmconfig.SiteSettings(fs, "site-auto"), map[string]any{
		"provider": "anthropic", "apiKeyEncrypted": seal("auto-key"), "autonomousModel": "claude-opus-4-1"})
	// user-a has a key of their own (model blank).
	put(t, llmconfig.UserSettings(fs, "user-a"), map[string]any{
		"provider": "anthropic", "apiKeyEncrypted": seal("user-key"), "model": "  "})
	// user-bad's key was sealed under another secret.
	put(t, llmconfig.UserSettings(fs, "user-bad"), map[string]any{
		"provider": "anthropic", "apiKeyEncrypted": sealed(t, "an-older-secret", "k"), "model": nil})
	// user-odd has an unknown provider; user-nokey no key.
	put(t, llmconfig.UserSettings(fs, "user-odd"), map[string]any{"provider": "gemini", "apiKeyEncrypted": seal("k")})
	put(t, llmconfig.UserSettings(fs, "user-nokey"), map[string]any{"provider": "openai", "model": "gpt-4o"})

	ok := func(provider, key, model, source string) llmconfig.Resolved {
		return llmconfig.Resolved{Provider: provider, APIKey: key, Model: model, Source: source}
	}
	for _, c := range []struct {
		name         string
		mode         llmconfig.Mode
		uid, site    string
		want         llmconfig.Resolved
		err          error
		msgSubstring string
	}{
		{name: "user key wins over the site key", mode: llmconfig.ModeUser, uid: "user-a", site: "site-both",
			want: ok("anthropic", "user-key", llm.DefaultAnthropicModel, "user")},
		{name: "no user key: the site key and its model", mode: llmconfig.ModeUser, uid: "user-none", site: "site-both",
			want: ok("openai", "site-key", "gpt-4o", "site")},
		{name: "user mode ignores autonomousModel", mode: llmconfig.ModeUser, uid: "user-none", site: "site-auto",
			want: ok("anthropic", "auto-key", llm.DefaultAnthropicModel, "site")},
		{name: "user key only when no site is named", mode: llmconfig.ModeUser, uid: "user-a", site: "",
			want: ok("anthropic", "user-key", llm.DefaultAnthropicModel, "user")},
		{name: "autonomous: site key, autonomousModel over model", mode: llmconfig.ModeAutonomous, uid: "user-a", site: "site-both",
			want: ok("openai", "site-key", "o3-mini", "site")},
		{name: "autonomous: autonomousModel without model", mode: llmconfig.ModeAutonomous, site: "site-auto",
			want: ok("anthropic", "auto-key", "claude-opus-4-1", "site")},
		{name: "autonomous: default model", mode: llmconfig.ModeAutonomous, site: "site-plain",
			want: ok("anthropic", "plain-key", llm.DefaultAnthropicModel, "site")},
		{name: "autonomous never uses a user key", mode: llmconfig.ModeAutonomous, uid: "user-a", site: "site-none",
			err: llmconfig.ErrNotConfigured, msgSubstring: `No LLM API key is configured for site "site-none"`},
		{name: "nothing configured", mode: llmconfig.ModeUser, uid: "user-none", site: "site-none",
			err: llmconfig.ErrNotConfigured, msgSubstring: "add your own key"},
		{name: "an invalid site id is a site without settings", mode: llmconfig.ModeUser, uid: "user-none", site: "a/b",
			err: llmconfig.ErrNotConfigured},
		{name: "a user key that does not decrypt is not skipped", mode: llmconfig.ModeUser, uid: "user-bad", site: "site-both",
			err: llmconfig.ErrUndecryptable, msgSubstring: "encryption key (LLM_ENCRYPTION_KEY, or MFA_ENCRYPTION_KEY) has most likely changed"},
		{name: "unknown provider", mode: llmconfig.ModeUser, uid: "user-odd", site: "site-both",
			err: llmconfig.ErrInvalid, msgSubstring: `unknown provider "gemini"`},
		{name: "no stored key", mode: llmconfig.ModeUser, uid: "user-nokey", site: "site-both",
			err: llmconfig.ErrInvalid, msgSubstring: "no API key is stored"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := llmconfig.Resolve(ctx, fs, cfg, c.mode, c.uid, c.site)
			if c.err != nil {
				var le *llmconfig.Error
				if !errors.Is(err, c.err) || !errors.As(err, &le) {
					t.Fatalf("err = %v, want *Error of kind %v", err, c.err)
				}
				if !strings.Contains(err.Error(), c.msgSubstring) {
					t.Errorf("message %q lacks %q", err.Error(), c.msgSubstring)
				}
				if got != (llmconfig.Resolved{}) {
					t.Errorf("failure returned %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %v (key ok: %v), want %v", got, got.APIKey == c.want.APIKey, c.want)
			}
		})
	}

	t.Run("no encryption key configured", func(t *testing.T) {
		_, err := llmconfig.Resolve(ctx, fs, withKey(""), llmconfig.ModeUser, "user-a", "")
		if !errors.Is(err, llmconfig.ErrEncryptionUnset) || !strings.Contains(err.Error(), "no encryption key configured") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("undecryptable error names the site", func(t *testing.T) {
		_, err := llmconfig.Resolve(ctx, fs, withKey("changed"), llmconfig.ModeAutonomous, "", "site-plain")
		if !errors.Is(err, llmconfig.ErrUndecryptable) || !strings.Contains(err.Error(), `the key of site "site-plain"`) {
			t.Errorf("err = %v", err)
		}
		if !errors.Is(err, secretbox.ErrDecrypt) {
			t.Errorf("cause lost: %v", err)
		}
	})
	t.Run("programming errors", func(t *testing.T) {
		if _, err := llmconfig.Resolve(ctx, fs, cfg, "chat", "user-a", "site-both"); err == nil || errors.As(err, new(*llmconfig.Error)) {
			t.Errorf("unknown mode: %v", err)
		}
		if _, err := llmconfig.Resolve(ctx, fs, cfg, llmconfig.ModeUser, "", "site-both"); err == nil || errors.As(err, new(*llmconfig.Error)) {
			t.Errorf("empty uid: %v", err)
		}
	})
	t.Run("Firestore failures pass through", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := llmconfig.Resolve(cctx, fs, cfg, llmconfig.ModeUser, "user-a", "site-both")
		if err == nil || errors.As(err, new(*llmconfig.Error)) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestCheap(t *testing.T) {
	for p, want := range map[string]string{llm.Anthropic: llm.CheapAnthropicModel, llm.OpenAI: llm.CheapOpenAIModel} {
		r := llmconfig.Resolved{Provider: p, APIKey: "k", Model: "configured", Source: "user"}.Cheap()
		if r.Model != want || r.APIKey != "k" || r.Source != "user" {
			t.Errorf("Cheap(%s) = %v", p, r)
		}
	}
}

func TestConfig(t *testing.T) {
	cfg := &config.Config{LLMConfig: &config.LLMConfig{AnthropicBaseURL: "http://a", OpenAIBaseURL: "http://o/v1"}}
	if got := llmconfig.BaseURL(cfg, llm.Anthropic); got != "http://a" {
		t.Errorf("anthropic base %q", got)
	}
	if got := llmconfig.BaseURL(cfg, llm.OpenAI); got != "http://o/v1" {
		t.Errorf("openai base %q", got)
	}
	if got := llmconfig.BaseURL(cfg, "other"); got != "" {
		t.Errorf("unknown provider base %q", got)
	}
	c := llmconfig.Resolved{Provider: llm.OpenAI, APIKey: "k", Model: "m", Source: "site"}.Config(cfg, nil)
	if c.Provider != llm.OpenAI || c.APIKey != "k" || c.Model != "m" || c.BaseURL != "http://o/v1" {
		t.Errorf("Config = %+v", c)
	}
}

// The decrypted key never shows in fmt or slog output.
func TestResolvedRedactsKey(t *testing.T) {
	const key = "sk-ant-secret-value"
	r := llmconfig.Resolved{Provider: "anthropic", APIKey: key, Model: "m", Source: "user"}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("resolved", "llm", r)
	for _, s := range []string{fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s", r, r, r, r), logged.String()} {
		if strings.Contains(s, key) {
			t.Errorf("key printed: %s", s)
		}
		if !strings.Contains(s, "[redacted]") {
			t.Errorf("no redaction marker: %s", s)
		}
	}
}

func TestSealOpen(t *testing.T) {
	if _, err := llmconfig.Seal(withKey(""), "k"); !errors.Is(err, llmconfig.ErrEncryptionUnset) {
		t.Errorf("Seal without key: %v", err)
	}
	if _, err := llmconfig.Open(withKey(""), "a:b:c:d"); !errors.Is(err, llmconfig.ErrEncryptionUnset) {
		t.Errorf("Open without key: %v", err)
	}
	// LLM_ENCRYPTION_KEY wins over MFA_ENCRYPTION_KEY.
	both := loadLLM(t, "LLM_ENCRYPTION_KEY", "llm", "MFA_ENCRYPTION_KEY", "mfa")
	s, err := llmconfig.Seal(both, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secretbox.Decrypt("llm", s); err != nil {
		t.Errorf("not sealed with LLM_ENCRYPTION_KEY: %v", err)
	}
	if _, err := llmconfig.Open(withKey("mfa"), s); !errors.Is(err, llmconfig.ErrUndecryptable) {
		t.Errorf("opened with the wrong key: %v", err)
	}
	for _, bad := range []string{"plaintext", "a:b:c", "!!:??:..:--"} {
		if _, err := llmconfig.Open(both, bad); !errors.Is(err, llmconfig.ErrUndecryptable) {
			t.Errorf("Open(%q) = %v, want ErrUndecryptable", bad, err)
		}
	}
}

func TestSaveAndRead(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	ctx := context.Background()
	cfg := withKey("save-key")
	ref := llmconfig.SiteSettings(fs, "s1")
	put(t, ref, map[string]any{"autonomousModel": "o3-mini", "provider": "anthropic", "model": "old"})
	if err := llmconfig.Save(ctx, ref, cfg, "openai", "sk-new", ""); err != nil {
		t.Fatal(err)
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := snap.Data()
	if d["provider"] != "openai" || d["model"] != nil || d["autonomousModel"] != "o3-mini" {
		t.Errorf("stored %v", d)
	}
	if m, present := d["model"]; !present || m != nil {
		t.Errorf("model must be stored as null: %v", d)
	}
	if _, ok := d["updatedAt"].(time.Time); !ok {
		t.Errorf("updatedAt %T", d["updatedAt"])
	}
	enc, _ := d["apiKeyEncrypted"].(string)
	if strings.Contains(enc, "sk-new") || len(strings.Split(enc, ":")) != 4 {
		t.Errorf("apiKeyEncrypted %q", enc)
	}
	s, err := llmconfig.Read(ctx, ref)
	if err != nil || s == nil {
		t.Fatal(s, err)
	}
	if s.Provider != "openai" || s.Model != "" || s.AutonomousModel != "o3-mini" || s.UpdatedAt.IsZero() || s.APIKeyEncrypted != enc {
		t.Errorf("Read = %+v", s)
	}
	if s, err := llmconfig.Read(ctx, llmconfig.SiteSettings(fs, "absent")); s != nil || err != nil {
		t.Errorf("absent: %v %v", s, err)
	}
	if err := llmconfig.Save(ctx, ref, withKey(""), "openai", "k", ""); !errors.Is(err, llmconfig.ErrEncryptionUnset) {
		t.Errorf("Save without key: %v", err)
	}
}

// withKey is a configuration whose LLM group has the encryption key k.
func withKey(k string) *config.Config {
	return &config.Config{LLMConfig: &config.LLMConfig{LLMEncryptionKey: k}}
}

// loadLLM loads the LLM group from the variables kv (name, value, ...), as a
// function declaring it would.
func loadLLM(t testing.TB, kv ...string) *config.Config {
	t.Helper()
	env := map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	c, err := config.LoadFor(context.Background(), func(k string) string { return env[k] }, nil, config.LLM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
