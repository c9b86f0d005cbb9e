package llmsettings_test

import (
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/secretbox"
	"github.com/owlette/server/shared/store"
)

// badKeyBodies are key bodies every setter refuses with 400, whatever else
// the body holds (extra adds siteId for E60).
func badKeyBodies(extra map[string]any) []apptest.Scenario {
	with := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range extra {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return []apptest.Scenario{
		{Name: "provider missing", Body: with(map[string]any{"apiKey": "sk-1"}), Want: map[string]any{"error": "Missing required field: provider"}},
		{Name: "provider unknown", Body: with(map[string]any{"provider": "gemini", "apiKey": "sk-1"}), Want: map[string]any{"error": `Invalid provider: expected "anthropic" or "openai"`}},
		{Name: "provider in capitals", Body: with(map[string]any{"provider": "Anthropic", "apiKey": "sk-1"})},
		{Name: "provider a number", Body: with(map[string]any{"provider": 1, "apiKey": "sk-1"})},
		{Name: "apiKey missing", Body: with(map[string]any{"provider": "anthropic"}), Want: map[string]any{"error": "Missing required field: apiKey"}},
		{Name: "apiKey blank", Body: with(map[string]any{"provider": "anthropic", "apiKey": " \n "})},
		{Name: "apiKey null", Body: with(map[string]any{"provider": "anthropic", "apiKey": nil})},
		{Name: "apiKey an object", Body: with(map[string]any{"provider": "anthropic", "apiKey": map[string]any{"k": 1}})},
		{Name: "apiKey with a space inside", Body: with(map[string]any{"provider": "anthropic", "apiKey": "sk ant"})},
		{Name: "apiKey with a control character", Body: with(map[string]any{"provider": "anthropic", "apiKey": "sk-\x00ant"})},
		{Name: "apiKey not ASCII", Body: with(map[string]any{"provider": "anthropic", "apiKey": "sk-ключ"})},
		{Name: "apiKey over 512 bytes", Body: with(map[string]any{"provider": "anthropic", "apiKey": strings.Repeat("k", 513)}),
			Want: map[string]any{"error": `Field "apiKey" is too long (limit 512 bytes)`}},
		{Name: "model over 200 bytes", Body: with(map[string]any{"provider": "anthropic", "apiKey": "sk-1", "model": strings.Repeat("m", 201)}),
			Want: map[string]any{"error": `Field "model" is too long (limit 200 bytes)`}},
		{Name: "model a number", Body: with(map[string]any{"provider": "anthropic", "apiKey": "sk-1", "model": 4})},
		{Name: "no body", Body: nil},
		{Name: "malformed JSON", Body: apptest.Raw(`{"provider":`)},
		{Name: "an array", Body: apptest.Raw(`[]`)},
		{Name: "two values", Body: apptest.Raw(`{} {}`)},
	}
}

func TestUserKey(t *testing.T) {
	f := newFixture(t)
	u := f.Member()
	c := cookie(u)

	f.Run(t, []apptest.Scenario{
		{Name: "status before any key", Method: "GET", Path: userKeyPath, Cred: c, Status: 200,
			Want: map[string]any{"configured": false}, Absent: []string{"provider", "model", "updatedAt"}},
		{Name: "delete before any key", Method: "DELETE", Path: userKeyPath, Cred: c, Status: 200, Want: map[string]any{"success": true}},
	})
	bad := badKeyBodies(nil)
	for i := range bad {
		bad[i].Method, bad[i].Path, bad[i].Cred, bad[i].Status = "POST", userKeyPath, c, 400
	}
	bad = append(bad, apptest.Scenario{Name: "huge body", Method: "POST", Path: userKeyPath, Cred: c,
		Body: apptest.Raw(`{"provider":"anthropic","apiKey":"` + strings.Repeat("k", 2<<20) + `"}`), Status: 413})
	f.Run(t, bad)
	if d := f.Doc(userDoc(u.UID)); d != nil {
		t.Fatalf("a refused body stored %v", d)
	}

	var updated time.Time
	f.Run(t, []apptest.Scenario{
		{Name: "set: key trimmed, no model", Method: "POST", Path: userKeyPath, Cred: c,
			Body: map[string]any{"provider": "anthropic", "apiKey": "  sk-ant-api03-first\n", "unknown": "ignored"}, Status: 200,
			Want: map[string]any{"success": true}, Absent: []string{"apiKey"},
			Check: func(t *testing.T, _ *apptest.Response) {
				f.checkStored(t, userDoc(u.UID), "anthropic", "sk-ant-api03-first", nil)
				updated = f.Doc(userDoc(u.UID))["updatedAt"].(time.Time)
				if _, ok := f.Doc(userDoc(u.UID))["unknown"]; ok {
					t.Error("unknown body field stored")
				}
			}},
		{Name: "status", Method: "GET", Path: userKeyPath, Cred: c, Status: 200,
			Absent: []string{"apiKey", "apiKeyEncrypted"},
			Check: func(t *testing.T, r *apptest.Response) {
				want := map[string]any{"configured": true, "provider": "anthropic", "model": nil, "updatedAt": store.ISO(updated)}
				if len(r.JSON) != len(want) {
					t.Errorf("fields %v, want %v", r.JSON, want)
				}
				for k, v := range want {
					if got, ok := r.JSON[k]; !ok || got != v {
						t.Errorf("%s = %#v, want %#v", k, got, v)
					}
				}
			}},
		{Name: "replace with another provider and a model", Method: "POST", Path: userKeyPath, Cred: c,
			Body: map[string]any{"provider": "openai", "apiKey": "sk-proj-second", "model": " gpt-4o "}, Status: 200,
			Check: func(t *testing.T, _ *apptest.Response) {
				f.checkStored(t, userDoc(u.UID), "openai", "sk-proj-second", "gpt-4o")
			}},
		{Name: "status shows the model", Method: "GET", Path: userKeyPath, Cred: c, Status: 200,
			Want: map[string]any{"configured": true, "provider": "openai", "model": "gpt-4o"}},
		{Name: "blank model is null", Method: "POST", Path: userKeyPath, Cred: c,
			Body: map[string]any{"provider": "openai", "apiKey": "sk-proj-second", "model": "  "}, Status: 200,
			Check: func(t *testing.T, _ *apptest.Response) {
				f.checkStored(t, userDoc(u.UID), "openai", "sk-proj-second", nil)
			}},
		{Name: "null model is null", Method: "POST", Path: userKeyPath, Cred: c,
			Body: map[string]any{"provider": "openai", "apiKey": "sk-proj-second", "model": nil}, Status: 200,
			Check: func(t *testing.T, _ *apptest.Response) {
				f.checkStored(t, userDoc(u.UID), "openai", "sk-proj-second", nil)
			}},
	})

	t.Run("cortex resolves the stored key", func(t *testing.T) {
		f.Site("s1", "")
		f.store(siteDoc("s1"), "anthropic", "sk-site", nil)
		got, err := llmconfig.Resolve(ctx(), f.FS, f.D.Config, llmconfig.ModeUser, u.UID, "s1")
		if err != nil || got.APIKey != "sk-proj-second" || got.Provider != llm.OpenAI || got.Model != llm.DefaultOpenAIModel || got.Source != llmconfig.SourceUser {
			t.Errorf("Resolve = %v, %v", got, err)
		}
	})

	t.Run("another user's key is not theirs", func(t *testing.T) {
		r := f.Do("GET", userKeyPath, cookie(f.Member()), nil, nil)
		if r.StatusCode != 200 || r.JSON["configured"] != false {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	f.Run(t, []apptest.Scenario{
		{Name: "delete", Method: "DELETE", Path: userKeyPath, Cred: c, Status: 200, Want: map[string]any{"success": true},
			Check: func(t *testing.T, _ *apptest.Response) {
				if f.Doc(userDoc(u.UID)) != nil {
					t.Error("not deleted")
				}
			}},
		{Name: "status after delete", Method: "GET", Path: userKeyPath, Cred: c, Status: 200, Want: map[string]any{"configured": false}},
		{Name: "delete again", Method: "DELETE", Path: userKeyPath, Cred: c, Status: 200},
	})

	t.Run("a key stored by the original server reads the same", func(t *testing.T) {
		// No updatedAt, model absent: status answers null for both.
		sealed, _ := secretbox.Encrypt(llmconfig.Key(f.D.Config), "sk-old")
		if _, err := f.FS.Doc(userDoc(u.UID)).Set(ctx(), map[string]any{"provider": "anthropic", "apiKeyEncrypted": sealed}); err != nil {
			t.Fatal(err)
		}
		r := f.Do("GET", userKeyPath, c, nil, nil)
		if r.JSON["configured"] != true || r.JSON["model"] != nil || r.JSON["updatedAt"] != nil || !strings.Contains(string(r.Raw), `"updatedAt":null`) {
			t.Errorf("%s", r.Raw)
		}
	})
}

func TestSiteKey(t *testing.T) {
	f := newFixture(t)
	admin := f.Admin()
	c := cookie(admin)
	// An autonomousModel set by hand survives E60 (which never writes it).
	if _, err := f.FS.Doc(siteDoc("auto")).Set(ctx(), map[string]any{"autonomousModel": "o3-mini"}); err != nil {
		t.Fatal(err)
	}

	f.Run(t, []apptest.Scenario{
		{Name: "status: siteId missing", Method: "GET", Path: siteKeyPath, Cred: c, Status: 400, Want: map[string]any{"error": "Missing required field: siteId"}},
		{Name: "status: siteId empty", Method: "GET", Path: siteKeyPath + "?siteId=", Cred: c, Status: 400},
		{Name: "status: siteId with a slash", Method: "GET", Path: siteKeyPath + "?siteId=a%2Fb", Cred: c, Status: 400, Want: map[string]any{"error": "Invalid siteId: not a valid site id"}},
		{Name: "status: reserved id", Method: "GET", Path: siteKeyPath + "?siteId=__x__", Cred: c, Status: 400},
		{Name: "status: invalid UTF-8", Method: "GET", Path: siteKeyPath + "?siteId=%ff", Cred: c, Status: 400},
		{Name: "status: not configured", Method: "GET", Path: siteKeyPath + "?siteId=nowhere", Cred: c, Status: 200,
			Want: map[string]any{"configured": false}, Absent: []string{"provider"}},
	})

	good := map[string]any{"provider": "anthropic", "apiKey": "sk-1"}
	bad := badKeyBodies(map[string]any{"siteId": "auto"})
	for _, sc := range []apptest.Scenario{
		{Name: "siteId missing", Body: good, Want: map[string]any{"error": "Missing required field: siteId"}},
		{Name: "siteId empty", Body: map[string]any{"siteId": "", "provider": "anthropic", "apiKey": "sk-1"}},
		{Name: "siteId a number", Body: map[string]any{"siteId": 7, "provider": "anthropic", "apiKey": "sk-1"}},
		{Name: "siteId with a slash", Body: map[string]any{"siteId": "a/b", "provider": "anthropic", "apiKey": "sk-1"}},
		{Name: "siteId over 1500 bytes", Body: map[string]any{"siteId": strings.Repeat("s", 1501), "provider": "anthropic", "apiKey": "sk-1"}},
	} {
		bad = append(bad, sc)
	}
	for i := range bad {
		bad[i].Method, bad[i].Path, bad[i].Cred, bad[i].Status = "POST", siteKeyPath, c, 400
	}
	f.Run(t, bad)
	if d := f.Doc(siteDoc("auto")); len(d) != 1 {
		t.Fatalf("a refused body changed the site's settings: %v", d)
	}

	f.Run(t, []apptest.Scenario{
		{Name: "set on a site that does not exist (no existence check)", Method: "POST", Path: siteKeyPath, Cred: apptest.WithAPIKey(admin.APIKey()),
			Body: map[string]any{"siteId": "not-yet", "provider": "openai", "apiKey": "sk-site-1"}, Status: 200, Want: map[string]any{"success": true},
			Check: func(t *testing.T, _ *apptest.Response) {
				f.checkStored(t, siteDoc("not-yet"), "openai", "sk-site-1", nil)
				if _, ok := f.Doc(siteDoc("not-yet"))["autonomousModel"]; ok {
					t.Error("autonomousModel written")
				}
			}},
		{Name: "set keeps autonomousModel", Method: "POST", Path: siteKeyPath, Cred: c,
			Body: map[string]any{"siteId": "auto", "provider": "anthropic", "apiKey": "sk-ant-auto", "model": "claude-opus-4-1", "autonomousModel": "ignored"}, Status: 200,
			Check: func(t *testing.T, _ *apptest.Response) {
				f.checkStored(t, siteDoc("auto"), "anthropic", "sk-ant-auto", "claude-opus-4-1")
				if m := f.Doc(siteDoc("auto"))["autonomousModel"]; m != "o3-mini" {
					t.Errorf("autonomousModel = %v", m)
				}
			}},
		{Name: "status", Method: "GET", Path: siteKeyPath + "?siteId=auto", Cred: c, Status: 200,
			Want:   map[string]any{"configured": true, "provider": "anthropic", "model": "claude-opus-4-1", "updatedAt": apptest.Present},
			Absent: []string{"apiKey", "apiKeyEncrypted", "autonomousModel"}},
	})

	t.Run("autonomous cortex resolves the site key and its autonomousModel", func(t *testing.T) {
		got, err := llmconfig.Resolve(ctx(), f.FS, f.D.Config, llmconfig.ModeAutonomous, admin.UID, "auto")
		if err != nil || got.APIKey != "sk-ant-auto" || got.Model != "o3-mini" || got.Source != llmconfig.SourceSite {
			t.Errorf("Resolve = %v, %v", got, err)
		}
		got, err = llmconfig.Resolve(ctx(), f.FS, f.D.Config, llmconfig.ModeUser, admin.UID, "auto")
		if err != nil || got.Model != "claude-opus-4-1" {
			t.Errorf("user mode = %v, %v", got, err)
		}
	})

	f.Run(t, []apptest.Scenario{
		{Name: "delete: no body", Method: "DELETE", Path: siteKeyPath, Cred: c, Status: 400},
		{Name: "delete: siteId in the query only", Method: "DELETE", Path: siteKeyPath + "?siteId=auto", Cred: c, Status: 400},
		{Name: "delete: siteId missing", Method: "DELETE", Path: siteKeyPath, Cred: c, Body: map[string]any{}, Status: 400,
			Want: map[string]any{"error": "Missing required field: siteId"}},
		{Name: "delete: siteId a number", Method: "DELETE", Path: siteKeyPath, Cred: c, Body: map[string]any{"siteId": 1}, Status: 400},
		{Name: "delete: siteId with a slash", Method: "DELETE", Path: siteKeyPath, Cred: c, Body: map[string]any{"siteId": "auto/settings"}, Status: 400},
		{Name: "delete: malformed JSON", Method: "DELETE", Path: siteKeyPath, Cred: c, Body: apptest.Raw(`{"siteId"`), Status: 400},
		{Name: "delete", Method: "DELETE", Path: siteKeyPath, Cred: c, Body: map[string]any{"siteId": "auto"}, Status: 200,
			Want: map[string]any{"success": true},
			Check: func(t *testing.T, _ *apptest.Response) {
				if f.Doc(siteDoc("auto")) != nil {
					t.Error("not deleted")
				}
				if f.Doc(siteDoc("not-yet")) == nil {
					t.Error("another site's key deleted")
				}
			}},
		{Name: "delete again", Method: "DELETE", Path: siteKeyPath, Cred: c, Body: map[string]any{"siteId": "auto"}, Status: 200},
		{Name: "status after delete", Method: "GET", Path: siteKeyPath + "?siteId=auto", Cred: c, Status: 200, Want: map[string]any{"configured": false}},
	})
}

// TestEncryptionNotConfigured: with neither LLM_ENCRYPTION_KEY nor
// MFA_ENCRYPTION_KEY (the LLM configuration group's key is then empty) the
// setters answer 500 naming the missing setting, after the credential check
// and before the body (api.md order).
func TestEncryptionNotConfigured(t *testing.T) {
	f := newFixture(t)
	u, admin := f.Member(), f.Admin()
	f.store(userDoc(u.UID), "anthropic", "sk-stored", nil)
	f.D.Config.LLMEncryptionKey = ""
	const msg = "LLM key encryption is not configured on the server (LLM_ENCRYPTION_KEY or MFA_ENCRYPTION_KEY)"
	good := map[string]any{"provider": "anthropic", "apiKey": "sk-1"}
	f.Run(t, []apptest.Scenario{
		{Name: "E57: no session is still 401", Method: "POST", Path: userKeyPath, Body: good, Status: 401},
		{Name: "E57", Method: "POST", Path: userKeyPath, Cred: cookie(u), Body: good, Status: 500, Want: map[string]any{"error": msg}},
		{Name: "E57: checked before the body", Method: "POST", Path: userKeyPath, Cred: cookie(u), Body: apptest.Raw(`{`), Status: 500},
		{Name: "E60: member is still 403", Method: "POST", Path: siteKeyPath, Cred: cookie(u), Body: good, Status: 403},
		{Name: "E60", Method: "POST", Path: siteKeyPath, Cred: cookie(admin), Body: map[string]any{"siteId": "s", "provider": "openai", "apiKey": "k"}, Status: 500,
			Want: map[string]any{"error": msg}},
		{Name: "X12", Method: "GET", Path: modelsPath, Cred: cookie(u), Status: 500, Want: map[string]any{"error": msg}},
		{Name: "E58 still answers", Method: "GET", Path: userKeyPath, Cred: cookie(u), Status: 200, Want: map[string]any{"configured": true}},
	})
	if f.Doc(siteDoc("s")) != nil {
		t.Error("E60 stored a key without encryption")
	}

	t.Run("MFA_ENCRYPTION_KEY alone is enough", func(t *testing.T) {
		// The LLM group falls back to MFA_ENCRYPTION_KEY when it loads.
		env := map[string]string{"GOOGLE_CLOUD_PROJECT": f.Project, "MFA_ENCRYPTION_KEY": "only-the-mfa-key"}
		c, err := config.LoadFor(ctx(), func(k string) string { return env[k] }, nil, config.LLM)
		if err != nil {
			t.Fatal(err)
		}
		f.D.Config.LLMEncryptionKey = c.LLMEncryptionKey
		r := f.Do("POST", userKeyPath, cookie(u), good, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		enc := f.Doc(userDoc(u.UID))["apiKeyEncrypted"].(string)
		if got, err := secretbox.Decrypt("only-the-mfa-key", enc); err != nil || got != "sk-1" {
			t.Errorf("not sealed with MFA_ENCRYPTION_KEY: %q %v", got, err)
		}
	})
}
