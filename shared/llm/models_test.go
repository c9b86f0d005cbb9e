package llm_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/llmfake"
)

func TestListAnthropicModels(t *testing.T) {
	fake := startFake(t)
	fake.AnthropicModels = []llmfake.AnthropicModel{
		{ID: "claude-sonnet-4-6", DisplayName: "Claude Sonnet 4.6"},
		{ID: "claude-3-0-legacy", DisplayName: "Legacy"},
		{ID: "claude-haiku-4-5", DisplayName: "Claude Haiku 4.5"},
		{ID: "claude-2.1", DisplayName: "Claude 2.1"},
		{ID: "claude-3-5-haiku-20241022", DisplayName: ""},
		{ID: "claude-2", DisplayName: "Claude 2"},
	}
	got, err := llm.ListModels(context.Background(), config(fake, llm.Anthropic))
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.ModelInfo{
		{ID: "claude-sonnet-4-6", Name: "Claude Sonnet 4.6"},
		{ID: "claude-haiku-4-5", Name: "Claude Haiku 4.5"},
		{ID: "claude-3-5-haiku-20241022", Name: "claude-3-5-haiku-20241022"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("models %+v\nwant   %+v", got, want)
	}
	r := fake.Requests()[0]
	if r.Path != "/v1/models" || r.Query != "limit=100" || r.AnthropicVersion != "2023-06-01" || r.APIKey != testKey {
		t.Errorf("request path %q query %q version %q key %q", r.Path, r.Query, r.AnthropicVersion, r.APIKey)
	}
}

func TestListOpenAIModels(t *testing.T) {
	fake := startFake(t)
	fake.OpenAIModels = []string{
		"o4-mini", "gpt-4o-realtime-preview", "whisper-1", "gpt-4.1", "gpt-3.5-turbo", "chatgpt-4o-latest",
		"gpt-4o-audio-preview", "o1", "o3-mini", "gpt-4o-search-preview", "dall-e-3", "gpt-5", "text-embedding-3-small", "o3",
	}
	got, err := llm.ListModels(context.Background(), config(fake, llm.OpenAI))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range got {
		ids = append(ids, m.ID)
		if m.Name != m.ID {
			t.Errorf("name %q for %q", m.Name, m.ID)
		}
	}
	want := []string{"chatgpt-4o-latest", "gpt-3.5-turbo", "gpt-4.1", "o1", "o3", "o3-mini", "o4-mini"}
	if !slices.Equal(ids, want) {
		t.Errorf("ids %v\nwant %v", ids, want)
	}
	if r := fake.Requests()[0]; r.Path != "/v1/models" || r.APIKey != testKey || r.Provider != "openai" {
		t.Errorf("request %+v", r)
	}
}

func TestListModelsErrorsKeepProviderMessage(t *testing.T) {
	cases := []struct {
		provider string
		key      string
		turn     *llmfake.APIError
		status   int
		msg      string
	}{
		{llm.Anthropic, "", nil, 401, "x-api-key header is required"},
		{llm.Anthropic, "sk-wrong-key-9999", nil, 401, "invalid x-api-key"},
		{llm.OpenAI, "sk-wrong-key-9999", nil, 401, "Incorrect API key provided: sk-*****9999. You can find your API key at https://platform.openai.com/account/api-keys."},
		{llm.Anthropic, testKey, &llmfake.APIError{Status: 500, Message: "Internal server error"}, 500, "Internal server error"},
		{llm.OpenAI, testKey, &llmfake.APIError{Status: 429, Message: "Too many requests"}, 429, "Too many requests"},
	}
	for _, tc := range cases {
		fake := startFake(t)
		fake.SetKeys(testKey)
		if tc.turn != nil {
			fake.Enqueue(llmfake.Turn{Error: tc.turn})
		}
		cfg := config(fake, tc.provider)
		cfg.APIKey = tc.key
		_, err := llm.ListModels(context.Background(), cfg)
		var pe *llm.ProviderError
		if !errors.As(err, &pe) || pe.StatusCode != tc.status || err.Error() != tc.msg {
			t.Errorf("%s key %q: err %v, want %d %q", tc.provider, tc.key, err, tc.status, tc.msg)
		}
	}
	if _, err := llm.ListModels(context.Background(), llm.Config{Provider: "gemini"}); err == nil {
		t.Error("unknown provider accepted")
	}
}
