package llmsettings_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/llmsettings"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/secretbox"
)

const (
	userKeyPath   = "/api/settings/llm-key"
	siteKeyPath   = "/api/settings/site-llm-key"
	modelsPath    = "/api/settings/llm-models"
	unknownAPIKey = "owk_unknownunknownunknownunknownunknownunknown1"
)

// fixture is the group under test with both providers faked on loopback.
type fixture struct {
	*apptest.Env
	fake *llmfake.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := apptest.New(t, llmsettings.Register)
	fake, err := llmfake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	// The handlers read the configuration per request.
	e.D.Config.AnthropicBaseURL = fake.AnthropicURL()
	e.D.Config.OpenAIBaseURL = fake.OpenAIURL()
	return &fixture{Env: e, fake: fake}
}

func userDoc(uid string) string           { return "users/" + uid + "/settings/llm" }
func siteDoc(siteID string) string        { return "sites/" + siteID + "/settings/llm" }
func ctx() context.Context                { return context.Background() }
func cookie(u *apptest.User) apptest.Cred { return apptest.WithCookie(u.Cookie()) }

// store writes a settings document the way the original server leaves it.
func (f *fixture) store(path, provider, key string, model any) string {
	f.T.Helper()
	sealed, err := secretbox.Encrypt(llmconfig.Key(f.D.Config), key)
	if err != nil {
		f.T.Fatal(err)
	}
	if _, err := f.FS.Doc(path).Set(ctx(), map[string]any{
		"provider": provider, "apiKeyEncrypted": sealed, "model": model, "updatedAt": f.Clock.Now(),
	}); err != nil {
		f.T.Fatal(err)
	}
	return sealed
}

// checkStored asserts the settings document at path holds provider, the
// sealed plaintext key (never the key itself) and model (nil = null).
func (f *fixture) checkStored(t *testing.T, path, provider, key string, model any) {
	t.Helper()
	d := f.Doc(path)
	if d == nil {
		t.Fatalf("%s not written", path)
	}
	if d["provider"] != provider {
		t.Errorf("provider %v, want %s", d["provider"], provider)
	}
	if m, ok := d["model"]; !ok || m != model {
		t.Errorf("model %#v (present %v), want %#v", m, ok, model)
	}
	if _, ok := d["updatedAt"].(time.Time); !ok {
		t.Errorf("updatedAt is %T, want a timestamp", d["updatedAt"])
	}
	enc, _ := d["apiKeyEncrypted"].(string)
	if strings.Contains(enc, key) || len(strings.Split(enc, ":")) != 4 {
		t.Errorf("apiKeyEncrypted %q is not the sealed form", enc)
	}
	if got, err := llmconfig.Open(f.D.Config, enc); err != nil || got != key {
		t.Errorf("stored key opens as %q, %v; want %q", got, err, key)
	}
	for k, v := range d {
		if s, ok := v.(string); ok && strings.Contains(s, key) {
			t.Errorf("plaintext key stored in %s", k)
		}
	}
}

// requestKeys lists the API keys the fake provider received, oldest first.
func (f *fixture) requestKeys() []string {
	var out []string
	for _, r := range f.fake.Requests() {
		out = append(out, r.Provider+":"+r.APIKey)
	}
	return out
}
