package llmsettings_test

import (
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/secretbox"
)

// What the fake's default lists become after X12's filters.
var (
	anthropicModels = []map[string]any{
		{"id": "claude-sonnet-4-6", "name": "Claude Sonnet 4.6"},
		{"id": "claude-haiku-4-5", "name": "Claude Haiku 4.5"},
		{"id": "claude-opus-4-1-20250805", "name": "Claude Opus 4.1"},
		{"id": "claude-3-5-haiku-20241022", "name": "Claude Haiku 3.5"},
	}
	openaiIDs = []string{"chatgpt-4o-latest", "gpt-3.5-turbo", "gpt-4.1", "gpt-4.1-nano", "gpt-4o", "o3-mini", "o4-mini"}
)

func modelIDs(r *apptest.Response) []string {
	var ids []string
	list, _ := r.JSON["models"].([]any)
	for _, m := range list {
		mm := m.(map[string]any)
		ids = append(ids, mm["id"].(string))
		if mm["name"] == nil {
			ids = append(ids, "(no name)")
		}
	}
	return ids
}

func TestStoredKeyModels(t *testing.T) {
	f := newFixture(t)
	u := f.Member()
	c := cookie(u)

	f.Run(t, []apptest.Scenario{
		{Name: "no key saved", Method: "GET", Path: modelsPath, Cred: c, Status: 404,
			Want: map[string]any{"error": "No LLM API key is saved: save your key first"}},
		{Name: "save a key", Method: "POST", Path: userKeyPath, Cred: c, Body: map[string]any{"provider": "anthropic", "apiKey": "sk-ant-stored"}, Status: 200},
		{Name: "unknown provider in the query", Method: "GET", Path: modelsPath + "?provider=gemini", Cred: c, Status: 400,
			Want: map[string]any{"error": `Invalid provider: expected "anthropic" or "openai"`}},
	})
	if n := len(f.fake.Requests()); n != 0 {
		t.Fatalf("refused requests reached the provider %d times", n)
	}

	f.Run(t, []apptest.Scenario{
		{Name: "the stored provider", Method: "GET", Path: modelsPath, Cred: c, Status: 200,
			Want: map[string]any{"models": anthropicModels}, Absent: []string{"apiKey"},
			Check: func(t *testing.T, _ *apptest.Response) {
				reqs := f.fake.Requests()
				if len(reqs) != 1 {
					t.Fatalf("%d provider requests", len(reqs))
				}
				q := reqs[0]
				if q.Provider != "anthropic" || q.Method != "GET" || q.Path != "/v1/models" || q.Query != "limit=100" ||
					q.APIKey != "sk-ant-stored" || q.AnthropicVersion != "2023-06-01" {
					t.Errorf("provider request %+v", q)
				}
			}},
		{Name: "the query's provider, with the stored key", Method: "GET", Path: modelsPath + "?provider=openai", Cred: c, Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				if ids := modelIDs(r); !slices.Equal(ids, openaiIDs) {
					t.Errorf("models %v, want %v", ids, openaiIDs)
				}
				if keys := f.requestKeys(); keys[len(keys)-1] != "openai:sk-ant-stored" {
					t.Errorf("provider requests %v", keys)
				}
			}},
	})

	t.Run("the provider refuses the stored key", func(t *testing.T) {
		f.fake.SetKeys("sk-something-else")
		defer f.fake.SetKeys()
		r := f.Do("GET", modelsPath, c, nil, nil)
		if r.StatusCode != 400 || r.JSON["error"] != "The provider refused the key: invalid x-api-key" {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("a stored provider that is not supported", func(t *testing.T) {
		u2 := f.Member()
		f.store(userDoc(u2.UID), "gemini", "k", nil)
		r := f.Do("GET", modelsPath, cookie(u2), nil, nil)
		if r.StatusCode != 400 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
		// An explicit provider overrides it.
		if r := f.Do("GET", modelsPath+"?provider=anthropic", cookie(u2), nil, nil); r.StatusCode != 200 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("a stored key that no longer decrypts", func(t *testing.T) {
		u3 := f.Member()
		sealed, _ := secretbox.Encrypt("the-previous-encryption-key", "sk-lost")
		if _, err := f.FS.Doc(userDoc(u3.UID)).Set(ctx(), map[string]any{"provider": "anthropic", "apiKeyEncrypted": sealed}); err != nil {
			t.Fatal(err)
		}
		before := len(f.fake.Requests())
		r := f.Do("GET", modelsPath, cookie(u3), nil, nil)
		msg, _ := r.JSON["error"].(string)
		if r.StatusCode != 500 || !strings.Contains(msg, "cannot be decrypted") || !strings.Contains(msg, "has most likely changed") {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
		if len(f.fake.Requests()) != before {
			t.Error("the provider was called")
		}
	})

	t.Run("a settings document without a key", func(t *testing.T) {
		u4 := f.Member()
		if _, err := f.FS.Doc(userDoc(u4.UID)).Set(ctx(), map[string]any{"provider": "openai"}); err != nil {
			t.Fatal(err)
		}
		if r := f.Do("GET", modelsPath, cookie(u4), nil, nil); r.StatusCode != 404 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
}

func TestSuppliedKeyModels(t *testing.T) {
	f := newFixture(t)
	u := f.Member()
	c := cookie(u)

	var bad []apptest.Scenario
	for _, sc := range []apptest.Scenario{
		{Name: "no body"},
		{Name: "malformed JSON", Body: apptest.Raw(`{"provider"`)},
		{Name: "provider missing", Body: map[string]any{"apiKey": "sk-1"}, Want: map[string]any{"error": "Missing required field: provider"}},
		{Name: "provider unknown", Body: map[string]any{"provider": "mistral", "apiKey": "sk-1"}},
		{Name: "apiKey missing", Body: map[string]any{"provider": "openai"}, Want: map[string]any{"error": "Missing required field: apiKey"}},
		{Name: "apiKey a number", Body: map[string]any{"provider": "openai", "apiKey": 12}},
		{Name: "apiKey with a newline inside", Body: map[string]any{"provider": "openai", "apiKey": "sk-a\nX-Injected: 1"}},
		{Name: "apiKey over 512 bytes", Body: map[string]any{"provider": "openai", "apiKey": strings.Repeat("k", 513)}},
	} {
		sc.Method, sc.Path, sc.Cred, sc.Status = "POST", modelsPath, c, 400
		bad = append(bad, sc)
	}
	f.Run(t, bad)
	if n := len(f.fake.Requests()); n != 0 {
		t.Fatalf("refused bodies reached the provider %d times", n)
	}

	f.Run(t, []apptest.Scenario{
		{Name: "anthropic", Method: "POST", Path: modelsPath, Cred: c, Body: map[string]any{"provider": "anthropic", "apiKey": " sk-ant-supplied "}, Status: 200,
			Want: map[string]any{"models": anthropicModels}},
		{Name: "openai", Method: "POST", Path: modelsPath, Cred: c, Body: map[string]any{"provider": "openai", "apiKey": "sk-proj-supplied"}, Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				if ids := modelIDs(r); !slices.Equal(ids, openaiIDs) {
					t.Errorf("models %v", ids)
				}
			}},
	})
	if keys := f.requestKeys(); !slices.Equal(keys, []string{"anthropic:sk-ant-supplied", "openai:sk-proj-supplied"}) {
		t.Errorf("provider requests %v", keys)
	}
	if f.Doc(userDoc(u.UID)) != nil || f.Count("users/"+u.UID+"/settings") != 0 {
		t.Error("X13 stored something")
	}

	t.Run("an empty list is an empty array", func(t *testing.T) {
		// A fake of its own, set up before it serves (no data race).
		only := llmfake.New()
		only.AnthropicModels = []llmfake.AnthropicModel{{ID: "claude-2.1", DisplayName: "Claude 2.1"}}
		srv := httptest.NewServer(only.Handler())
		defer srv.Close()
		saved := f.D.Config.AnthropicBaseURL
		f.D.Config.AnthropicBaseURL = srv.URL
		defer func() { f.D.Config.AnthropicBaseURL = saved }()
		r := f.Do("POST", modelsPath, c, map[string]any{"provider": "anthropic", "apiKey": "k"}, nil)
		if r.StatusCode != 200 || !strings.Contains(string(r.Raw), `"models":[]`) {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
}

// TestProviderFailures pins how provider answers are mapped: a refused key
// is the caller's input (400, never 500), other failures are the
// provider's (502) with its message, one attempt each.
func TestProviderFailures(t *testing.T) {
	f := newFixture(t)
	c := cookie(f.Member())
	body := func(provider string) map[string]any {
		return map[string]any{"provider": provider, "apiKey": "sk-wrong-key-123"}
	}

	f.fake.SetKeys("sk-right")
	f.Run(t, []apptest.Scenario{
		{Name: "anthropic: invalid key", Method: "POST", Path: modelsPath, Cred: c, Body: body("anthropic"), Status: 400,
			Want: map[string]any{"error": "The provider refused the key: invalid x-api-key"}},
		{Name: "openai: invalid key (the provider masks it)", Method: "POST", Path: modelsPath, Cred: c, Body: body("openai"), Status: 400,
			Check: func(t *testing.T, r *apptest.Response) {
				msg := r.JSON["error"].(string)
				if !strings.HasPrefix(msg, "The provider refused the key: Incorrect API key provided: sk-*****-123") || strings.Contains(msg, "sk-wrong-key-123") {
					t.Errorf("%s", msg)
				}
			}},
	})
	f.fake.SetKeys()

	for _, c2 := range []struct {
		name     string
		provider string
		err      llmfake.APIError
		status   int
		msg      string
	}{
		{"anthropic 500", "anthropic", llmfake.APIError{Status: 500, Message: "upstream exploded"}, 502, "Anthropic answered with an error (HTTP 500): upstream exploded"},
		{"openai 500", "openai", llmfake.APIError{Status: 500, Message: "The server had an error"}, 502, "OpenAI answered with an error (HTTP 500): The server had an error"},
		{"anthropic 529 overloaded", "anthropic", llmfake.APIError{Status: 529, Type: "overloaded_error", Message: "Overloaded"}, 502, "Anthropic answered with an error (HTTP 529): Overloaded"},
		{"openai 429 quota", "openai", llmfake.APIError{Status: 429, Type: "insufficient_quota", Message: "You exceeded your current quota"}, 502, "OpenAI answered with an error (HTTP 429): You exceeded your current quota"},
		{"anthropic 403 permission", "anthropic", llmfake.APIError{Status: 403, Message: "Your API key does not have permission"}, 400, "The provider refused the key: Your API key does not have permission"},
		{"openai 401 revoked", "openai", llmfake.APIError{Status: 401, Message: "key revoked"}, 400, "The provider refused the key: key revoked"},
		{"openai 400", "openai", llmfake.APIError{Status: 400, Message: "bad key format"}, 400, "The provider refused the key: bad key format"},
	} {
		t.Run(c2.name, func(t *testing.T) {
			f.fake.Reset()
			e := c2.err
			// Three error turns: a retry would take the second one and show
			// up as more than one request.
			f.fake.Enqueue(llmfake.Turn{Error: &e}, llmfake.Turn{Error: &e}, llmfake.Turn{Error: &e})
			r := f.Do("POST", modelsPath, c, body(c2.provider), nil)
			if r.StatusCode != c2.status || r.JSON["error"] != c2.msg {
				t.Errorf("%d %s; want %d %q", r.StatusCode, r.Raw, c2.status, c2.msg)
			}
			if n := len(f.fake.Requests()); n != 1 {
				t.Errorf("%d provider requests, want 1 (no retries)", n)
			}
		})
	}
	f.fake.Reset()

	t.Run("provider unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()
		saved := f.D.Config.AnthropicBaseURL
		f.D.Config.AnthropicBaseURL = dead
		defer func() { f.D.Config.AnthropicBaseURL = saved }()
		r := f.Do("POST", modelsPath, c, body("anthropic"), nil)
		if r.StatusCode != 502 || r.JSON["error"] != "Could not reach Anthropic: please try again" {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})
}
