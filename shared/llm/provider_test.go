package llm_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/llmfake"
)

func TestProviderStreamsText(t *testing.T) {
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(llmfake.Turn{Text: []string{"Hel", "lo ", "wörld <3"}, InputTokens: 42, OutputTokens: 7})
			p := provider(t, fake, name)
			evs := collect(context.Background(), p, llm.Request{
				System:   "You are cortex.",
				Messages: []llm.Message{llm.UserText("hi")},
				Tools:    testTools,
			})
			var text strings.Builder
			for _, ev := range evs[:len(evs)-1] {
				if ev.Type != llm.EventTextDelta {
					t.Fatalf("unexpected event %+v", ev)
				}
				text.WriteString(ev.Text)
			}
			if text.String() != "Hello wörld <3" {
				t.Errorf("text %q", text.String())
			}
			if len(evs) != 4 {
				t.Errorf("%d events, want 3 deltas and finish: %+v", len(evs), evs)
			}
			last := evs[len(evs)-1]
			if last.Type != llm.EventFinish || last.FinishReason != llm.FinishStop || last.Usage != (llm.Usage{InputTokens: 42, OutputTokens: 7}) {
				t.Errorf("last event %+v, want finish stop with usage 42/7", last)
			}

			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.Provider != name || r.APIKey != testKey || !r.Stream || r.Model != llm.DefaultModel(name) {
				t.Errorf("request provider %q key %q stream %v model %q", r.Provider, r.APIKey, r.Stream, r.Model)
			}
			if r.System != "You are cortex." || r.LastUserText() != "hi" {
				t.Errorf("system %q, user %q", r.System, r.LastUserText())
			}
			if got := toolNames(r.Tools); !slices.Equal(got, []string{"get_system_info", "restart_process", "capture_screenshot"}) {
				t.Errorf("tools %v", got)
			}
			var schema map[string]any
			json.Unmarshal(r.Tools[1].Schema, &schema)
			if req, _ := schema["required"].([]any); len(req) != 1 || req[0] != "process_name" || schema["type"] != "object" {
				t.Errorf("restart_process schema %s", r.Tools[1].Schema)
			}
			if name == llm.Anthropic && r.MaxTokens != 8192 {
				t.Errorf("max_tokens %d, want the 8192 default", r.MaxTokens)
			}
		})
	}
}

// Tool call arguments arrive split over many chunks; the provider reports
// start, every piece and the complete input, after the text.
func TestProviderToolCallSplitOverChunks(t *testing.T) {
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(llmfake.Turn{
				Text: []string{"Restarting."},
				ToolCalls: []llmfake.ToolCall{
					{ID: "call_A", Name: "restart_process", Args: []string{`{"proc`, `ess_name"`, `: "Touch`, `Designer.exe"}`}},
					{ID: "call_B", Name: "get_system_info", Args: nil},
				},
			})
			evs := collect(context.Background(), provider(t, fake, name), llm.Request{Messages: []llm.Message{llm.UserText("restart it")}, Tools: testTools})
			var kinds []string
			var deltas []string
			var ends []llm.ToolCall
			for _, ev := range evs {
				switch ev.Type {
				case llm.EventTextDelta:
					kinds = append(kinds, "text")
				case llm.EventToolCallStart:
					kinds = append(kinds, "start:"+ev.ToolCall.ID+":"+ev.ToolCall.Name)
				case llm.EventToolInputDelta:
					deltas = append(deltas, ev.Text)
					if ev.ToolCall.ID != "call_A" {
						t.Errorf("delta for %q", ev.ToolCall.ID)
					}
				case llm.EventToolCallEnd:
					kinds = append(kinds, "end:"+ev.ToolCall.ID)
					ends = append(ends, ev.ToolCall)
				case llm.EventFinish:
					kinds = append(kinds, "finish:"+string(ev.FinishReason))
				case llm.EventError:
					t.Fatalf("error %v", ev.Err)
				}
			}
			// Anthropic closes each block before the next starts; OpenAI
			// completes all calls at finish_reason.
			want := []string{"text", "start:call_A:restart_process", "end:call_A", "start:call_B:get_system_info", "end:call_B", "finish:tool-calls"}
			if name == llm.OpenAI {
				want = []string{"text", "start:call_A:restart_process", "start:call_B:get_system_info", "end:call_A", "end:call_B", "finish:tool-calls"}
			}
			if !slices.Equal(kinds, want) {
				t.Errorf("events %v\nwant   %v", kinds, want)
			}
			if strings.Join(deltas, "") != `{"process_name": "TouchDesigner.exe"}` || len(deltas) != 4 {
				t.Errorf("deltas %q", deltas)
			}
			if len(ends) != 2 || string(ends[0].Input) != `{"process_name": "TouchDesigner.exe"}` || string(ends[1].Input) != `{}` {
				t.Errorf("complete inputs %+v", ends)
			}
		})
	}
}

// The conversation goes out in each API's own shape: assistant tool calls,
// tool results (with is_error), images by URL and data URL.
func TestProviderSendsConversation(t *testing.T) {
	conv := []llm.Message{
		llm.UserMessage(llm.Text("what is on screen?"), llm.ImageURL("https://storage.googleapis.com/b/s.jpg", "image/jpeg")),
		{Role: llm.RoleAssistant, Content: []llm.Part{
			llm.Text("Let me look."),
			{Type: llm.PartToolCall, ToolCallID: "c1", ToolName: "capture_screenshot", Input: json.RawMessage(`{"monitor":0}`)},
			{Type: llm.PartToolCall, ToolCallID: "c2", ToolName: "get_system_info", Input: json.RawMessage(`{}`)},
		}},
		{Role: llm.RoleTool, Content: []llm.Part{
			{Type: llm.PartToolResult, ToolCallID: "c1", ToolName: "capture_screenshot", Output: json.RawMessage(`{"url":"https://x/y.png"}`),
				Images: []llm.Image{{URL: "https://x/y.png", MediaType: "image/png"}}},
			{Type: llm.PartToolResult, ToolCallID: "c2", ToolName: "get_system_info", Output: json.RawMessage(`"machine offline"`), IsError: true},
		}},
		llm.UserMessage(llm.Text("and now?"), llm.ImageURL("data:image/png;base64,iVBORw0KGgo=", "image/png")),
	}
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(llmfake.Turn{Text: []string{"ok"}})
			collect(context.Background(), provider(t, fake, name), llm.Request{Messages: conv, Tools: testTools})
			r := fake.Requests()[0]
			var calls []llmfake.RecordedCall
			var results []llmfake.ToolResult
			var images []string
			for _, m := range r.Messages {
				calls = append(calls, m.ToolCalls...)
				results = append(results, m.ToolResults...)
				images = append(images, m.Images...)
				for _, tr := range m.ToolResults {
					images = append(images, tr.Images...)
				}
			}
			if len(calls) != 2 || calls[0].ID != "c1" || calls[0].Name != "capture_screenshot" || string(calls[0].Input) != `{"monitor":0}` {
				t.Errorf("tool calls %+v", calls)
			}
			if len(results) != 2 || results[0].Content != `{"url":"https://x/y.png"}` || results[1].Content != "machine offline" {
				t.Errorf("tool results %+v", results)
			}
			wantImages := []string{"https://storage.googleapis.com/b/s.jpg", "https://x/y.png", "data:image/png;base64,iVBORw0KGgo="}
			slices.Sort(images)
			slices.Sort(wantImages)
			if !slices.Equal(images, wantImages) {
				t.Errorf("images %v, want %v", images, wantImages)
			}
			if name == llm.Anthropic {
				if !results[1].IsError || results[0].IsError {
					t.Errorf("is_error flags %+v", results)
				}
				// user, assistant, user (tool results), merged with the next user turn
				roles := []string{}
				for _, m := range r.Messages {
					roles = append(roles, m.Role)
				}
				if !slices.Equal(roles, []string{"user", "assistant", "user"}) {
					t.Errorf("roles %v: Anthropic needs alternating turns", roles)
				}
			}
		})
	}
}
