package llm_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/llmfake"
)

const testKey = "sk-test-key-123456"

func startFake(t testing.TB) *llmfake.Server {
	t.Helper()
	s, err := llmfake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// config points a provider at the fake, without retries so error tests
// see each status once.
func config(fake *llmfake.Server, provider string) llm.Config {
	cfg := llm.Config{Provider: provider, APIKey: testKey, MaxRetries: -1}
	if provider == llm.Anthropic {
		cfg.BaseURL = fake.AnthropicURL()
	} else {
		cfg.BaseURL = fake.OpenAIURL()
	}
	return cfg
}

func provider(t testing.TB, fake *llmfake.Server, name string) llm.Provider {
	t.Helper()
	p, err := llm.New(config(fake, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var bothProviders = []string{llm.Anthropic, llm.OpenAI}

func collect(ctx context.Context, p llm.Provider, req llm.Request) []llm.Event {
	var evs []llm.Event
	for ev := range p.Stream(ctx, req) {
		evs = append(evs, ev)
	}
	return evs
}

var testTools = []llm.ToolDef{
	{Name: "get_system_info", Description: "System information", InputSchema: json.RawMessage(`{"type":"object","properties":{}}`)},
	{Name: "restart_process", Description: "Restart a process", InputSchema: json.RawMessage(`{"type":"object","properties":{"process_name":{"type":"string"}},"required":["process_name"]}`)},
	{Name: "capture_screenshot", Description: "Screenshot", InputSchema: json.RawMessage(`{"type":"object","properties":{"monitor":{"type":"integer"}}}`)},
}

func toolNames(tools []llmfake.Tool) []string {
	var out []string
	for _, t := range tools {
		out = append(out, t.Name)
	}
	return out
}
