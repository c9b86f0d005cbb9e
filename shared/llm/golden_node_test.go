package llm_test

// Golden tests: the same model output, once through the real AI SDK
// (streamText with a mock model + toUIMessageStreamResponse, via
// tools/ai-uistream.mjs) and once through our stack (fake provider API →
// official Go SDK → provider → Run → uistream.Writer), must give the same
// bytes. Then the SDK's own client reader must turn our stream into the
// expected UIMessage.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/internal/aisdktest"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/llm/uistream"
)

type goldenScenario struct {
	name      string
	turns     []llmfake.Turn
	results   map[string]toolResult // by tool call id
	messageID string
	maxSteps  int
	errorText func(error) string // nil: SDK default
	sdkThrow  string             // first model call throws (HTTP error before output)
}

type toolResult struct {
	output json.RawMessage
	err    string
	delay  time.Duration
}

func goldenScenarios() []goldenScenario {
	return []goldenScenario{
		{
			name:  "text only",
			turns: []llmfake.Turn{{Text: []string{"Hello", " wörld", " <b>&amp;</b> \u2028 \"quoted\"\n"}}},
		},
		{
			name:      "one tool call and result",
			messageID: "msg-fixed-1",
			turns: []llmfake.Turn{
				{Text: []string{"Checking ", "the machine."}, ToolCalls: []llmfake.ToolCall{{ID: "call_1", Name: "get_system_info", Args: []string{`{"b":1,`, ` "a":2, "10":3}`}}}},
				{Text: []string{"CPU is ", "12.5%."}},
			},
			results: map[string]toolResult{"call_1": {output: json.RawMessage(`{"hostname":"WS-01","cpu":12.5,"10":"ten","gpu":{"temp":1e2}}`)}},
		},
		{
			name: "multi-step with a failing tool",
			turns: []llmfake.Turn{
				{ToolCalls: []llmfake.ToolCall{{ID: "call_1", Name: "get_system_info"}}},
				{Text: []string{"Restarting."}, ToolCalls: []llmfake.ToolCall{{ID: "call_2", Name: "restart_process", Args: []string{`{"process_name":`, `"TouchDesigner.exe"}`}}}},
				{Text: []string{"The restart ", "failed: access denied."}},
			},
			results: map[string]toolResult{
				"call_1": {output: json.RawMessage(`"plain text result"`)},
				"call_2": {err: "Access is denied. <code 5>"},
			},
		},
		{
			name: "two tool calls in one step",
			turns: []llmfake.Turn{
				{ToolCalls: []llmfake.ToolCall{
					{ID: "call_a", Name: "get_system_info", Args: []string{`{}`}},
					{ID: "call_b", Name: "restart_process", Args: []string{`{"process_name":"x.exe"}`}},
				}},
				{Text: []string{"Done."}},
			},
			results: map[string]toolResult{
				"call_a": {output: json.RawMessage(`{"ok":true}`)},
				"call_b": {output: json.RawMessage(`null`), delay: 80 * time.Millisecond},
			},
		},
		{
			name:     "max steps reached",
			maxSteps: 2,
			turns: []llmfake.Turn{
				{ToolCalls: []llmfake.ToolCall{{ID: "call_1", Name: "get_system_info"}}},
				{Text: []string{"Again."}, ToolCalls: []llmfake.ToolCall{{ID: "call_2", Name: "get_system_info"}}},
			},
			results: map[string]toolResult{
				"call_1": {output: json.RawMessage(`{"n":1}`)},
				"call_2": {output: json.RawMessage(`{"n":2}`)},
			},
		},
		{
			name:     "provider error before output",
			turns:    []llmfake.Turn{{Error: &llmfake.APIError{Status: 401, Message: "invalid x-api-key"}}},
			sdkThrow: "invalid x-api-key",
		},
		{
			name:      "provider error before output, message shown",
			turns:     []llmfake.Turn{{Error: &llmfake.APIError{Status: 429, Message: "Number of request tokens has exceeded your per-minute rate limit"}}},
			sdkThrow:  "Number of request tokens has exceeded your per-minute rate limit",
			errorText: llm.ProviderErrorText,
		},
		{
			name: "provider error in the second step",
			turns: []llmfake.Turn{
				{ToolCalls: []llmfake.ToolCall{{ID: "call_1", Name: "get_system_info"}}},
				{Error: &llmfake.APIError{Status: 429, Message: "rate limited"}},
			},
			results:  map[string]toolResult{"call_1": {output: json.RawMessage(`{"ok":1}`)}},
			sdkThrow: "rate limited",
		},
		{
			name:  "provider error mid-stream",
			turns: []llmfake.Turn{{Text: []string{"Partial ", "answer"}, StreamError: &llmfake.APIError{Type: "overloaded_error", Message: "Overloaded"}}},
		},
	}
}

// sdkSteps renders the turns as the LanguageModelV3 stream parts the real
// AI SDK providers would produce for the same API stream. OpenAI completes
// all tool calls at finish_reason; Anthropic closes each block in turn.
func sdkSteps(sc goldenScenario, provider string) []any {
	var steps []any
	textN := 0
	for _, turn := range sc.turns {
		if turn.Error != nil {
			steps = append(steps, map[string]any{"throw": sc.sdkThrow})
			continue
		}
		var parts []any
		if len(turn.Text) > 0 {
			id := fmt.Sprintf("txt-%d", textN)
			textN++
			parts = append(parts, map[string]any{"type": "text-start", "id": id})
			for _, d := range turn.Text {
				parts = append(parts, map[string]any{"type": "text-delta", "id": id, "delta": d})
			}
			if turn.StreamError != nil {
				parts = append(parts, map[string]any{"type": "error", "error": map[string]any{"message": turn.StreamError.Message}})
				steps = append(steps, parts)
				continue
			}
			parts = append(parts, map[string]any{"type": "text-end", "id": id})
		}
		var ends []any
		for _, c := range turn.ToolCalls {
			parts = append(parts, map[string]any{"type": "tool-input-start", "id": c.ID, "toolName": c.Name})
			for _, a := range c.Args {
				parts = append(parts, map[string]any{"type": "tool-input-delta", "id": c.ID, "delta": a})
			}
			input := strings.Join(c.Args, "")
			if input == "" {
				input = "{}"
			}
			end := []any{
				map[string]any{"type": "tool-input-end", "id": c.ID},
				map[string]any{"type": "tool-call", "toolCallId": c.ID, "toolName": c.Name, "input": input},
			}
			if provider == llm.OpenAI {
				ends = append(ends, end...)
			} else {
				parts = append(parts, end...)
			}
		}
		parts = append(parts, ends...)
		reason := "stop"
		if len(turn.ToolCalls) > 0 {
			reason = "tool-calls"
		}
		parts = append(parts, map[string]any{"type": "finish", "finishReason": reason})
		steps = append(steps, parts)
	}
	return steps
}

func sdkCommand(sc goldenScenario, provider string) map[string]any {
	results := map[string]any{}
	for id, r := range sc.results {
		if r.err != "" {
			results[id] = map[string]any{"error": r.err}
		} else {
			results[id] = map[string]any{"output": r.output}
		}
	}
	cmd := map[string]any{
		"op": "stream-text", "steps": sdkSteps(sc, provider), "results": results,
		"tools": []string{"get_system_info", "restart_process", "capture_screenshot"},
	}
	if sc.messageID != "" {
		cmd["messageId"] = sc.messageID
	}
	if sc.maxSteps > 0 {
		cmd["maxSteps"] = sc.maxSteps
	}
	if sc.errorText != nil {
		cmd["onError"] = "message"
	}
	return cmd
}

func counterIDs() func() string {
	n := 0
	return func() string {
		id := fmt.Sprintf("txt-%d", n)
		n++
		return id
	}
}

func executorFor(results map[string]toolResult) llm.Executor {
	return func(ctx context.Context, call llm.ToolCall) (any, error) {
		r, ok := results[call.ID]
		if !ok {
			return nil, fmt.Errorf("no scripted result for %s", call.ID)
		}
		if r.delay > 0 {
			select {
			case <-time.After(r.delay):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if r.err != "" {
			return nil, errors.New(r.err)
		}
		return r.output, nil
	}
}

// runOurs runs the scenario through our stack and returns the response.
func runOurs(t *testing.T, sc goldenScenario, provider string) *httptest.ResponseRecorder {
	t.Helper()
	fake := startFake(t)
	fake.Enqueue(sc.turns...)
	rec := httptest.NewRecorder()
	w := uistream.NewResponse(rec)
	w.NewID = counterIDs()
	_, err := llm.Run(context.Background(), llm.RunConfig{
		Provider:  providerFor(t, fake, provider),
		System:    "You are cortex.",
		Messages:  []llm.Message{llm.UserText("hi")},
		Tools:     testTools,
		Execute:   executorFor(sc.results),
		MaxSteps:  sc.maxSteps,
		Stream:    w,
		MessageID: sc.messageID,
		ErrorText: sc.errorText,
	})
	wantErr := sc.sdkThrow != "" || sc.turns[len(sc.turns)-1].StreamError != nil
	if (err != nil) != wantErr {
		t.Fatalf("Run error %v, want error: %v", err, wantErr)
	}
	if fake.Pending() != 0 {
		t.Errorf("%d scripted turns were not used", fake.Pending())
	}
	return rec
}

func providerFor(t *testing.T, fake *llmfake.Server, name string) llm.Provider {
	return provider(t, fake, name)
}

func TestRunStreamMatchesSDKBytes(t *testing.T) {
	scenarios := goldenScenarios()
	var cmds []any
	for _, sc := range scenarios {
		for _, p := range bothProviders {
			cmds = append(cmds, sdkCommand(sc, p))
		}
	}
	sdk := aisdktest.Responses(t, cmds...)
	i := 0
	for _, sc := range scenarios {
		for _, p := range bothProviders {
			want := sdk[i]
			i++
			t.Run(sc.name+"/"+p, func(t *testing.T) {
				rec := runOurs(t, sc, p)
				if got := rec.Body.String(); got != want.Body {
					t.Errorf("stream differs from the SDK's:\n%s\n--- ours:\n%s\n--- sdk:\n%s", aisdktest.FrameDiff(got, want.Body), got, want.Body)
				}
				for name, v := range want.Headers {
					if got := rec.Header().Get(name); got != v {
						t.Errorf("header %s = %q, SDK %q", name, got, v)
					}
				}
				if !rec.Flushed {
					t.Error("the response was never flushed")
				}
			})
		}
	}
}

// The SDK's client (DefaultChatTransport over real HTTP, then
// readUIMessageStream) reads our stream into the message the dashboard
// renders.
func TestSDKReadsRunStream(t *testing.T) {
	sc := goldenScenarios()[2] // multi-step with a failing tool
	sc.messageID = "msg-42"
	for _, p := range bothProviders {
		t.Run(p, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(sc.turns...)
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				var body struct {
					ID       string `json:"id"`
					Messages []any  `json:"messages"`
				}
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ID != "chat-1" || len(body.Messages) != 1 {
					http.Error(rw, "bad request body", http.StatusBadRequest)
					return
				}
				w := uistream.NewResponse(rw)
				llm.Run(r.Context(), llm.RunConfig{
					Provider: provider(t, fake, p), Messages: []llm.Message{llm.UserText("restart TD")},
					Tools: testTools, Execute: executorFor(sc.results), Stream: w, MessageID: sc.messageID,
				})
			}))
			defer srv.Close()
			got := aisdktest.Reads(t, map[string]any{"op": "read", "url": srv.URL})[0]
			if len(got.Errors) > 0 {
				t.Fatalf("SDK reader errors: %v", got.Errors)
			}
			want := `{"id":"msg-42","role":"assistant","parts":[
				{"type":"step-start"},
				{"type":"tool-get_system_info","toolCallId":"call_1","state":"output-available","input":{},"output":"plain text result"},
				{"type":"step-start"},
				{"type":"text","text":"Restarting.","state":"done"},
				{"type":"tool-restart_process","toolCallId":"call_2","state":"output-error","input":{"process_name":"TouchDesigner.exe"},"errorText":"Access is denied. <code 5>"},
				{"type":"step-start"},
				{"type":"text","text":"The restart failed: access denied.","state":"done"}]}`
			aisdktest.JSONEqual(t, got.Message, want)
		})
	}
}
