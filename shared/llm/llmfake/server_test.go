package llmfake

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func post(t *testing.T, h http.Handler, path string, headers map[string]string, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type sseEvent struct {
	name string
	data map[string]any
	raw  string
}

func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	var evs []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.raw != "" {
				evs = append(evs, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.raw = strings.TrimPrefix(line, "data: ")
			if cur.raw != "[DONE]" {
				if err := json.Unmarshal([]byte(cur.raw), &cur.data); err != nil {
					t.Fatalf("bad data %q: %v", cur.raw, err)
				}
			}
		}
	}
	return evs
}

const anthropicReq = `{"model":"claude-sonnet-4-6","max_tokens":100,"stream":true,"system":"sys",
	"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"get_system_info","input_schema":{"type":"object"}}]}`

func TestAnthropicStreamEventSequence(t *testing.T) {
	s := New()
	s.Enqueue(Turn{Text: []string{"a", "b"}, ToolCalls: []ToolCall{{ID: "toolu_1", Name: "get_system_info", Args: []string{`{"x"`, `:1}`}}}})
	rec := post(t, s.Handler(), "/v1/messages", map[string]string{"x-api-key": "k", "anthropic-version": "2023-06-01"}, anthropicReq)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var names []string
	for _, ev := range parseSSE(t, rec.Body.String()) {
		names = append(names, ev.name)
		if ev.data["type"] != ev.name {
			t.Errorf("event %s carries type %v", ev.name, ev.data["type"])
		}
		if ev.name == "message_delta" {
			delta := ev.data["delta"].(map[string]any)
			if delta["stop_reason"] != "tool_use" || ev.data["usage"].(map[string]any)["output_tokens"] == nil {
				t.Errorf("message_delta %s", ev.raw)
			}
		}
	}
	want := []string{"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if !slices.Equal(names, want) {
		t.Errorf("events %v\nwant   %v", names, want)
	}
	r := s.Requests()[0]
	if r.APIKey != "k" || r.System != "sys" || r.Model != "claude-sonnet-4-6" || r.LastUserText() != "hi" || len(r.Tools) != 1 || r.AnthropicVersion != "2023-06-01" {
		t.Errorf("recorded %+v", r)
	}
}

func TestAnthropicNonStreaming(t *testing.T) {
	s := New()
	s.Enqueue(Turn{Text: []string{"he", "llo"}, ToolCalls: []ToolCall{{ID: "toolu_1", Name: "t", Args: []string{`{"a":1}`}}}})
	rec := post(t, s.Handler(), "/v1/messages", map[string]string{"x-api-key": "k"}, strings.Replace(anthropicReq, `"stream":true`, `"stream":false`, 1))
	var msg struct {
		Type       string `json:"type"`
		StopReason string `json:"stop_reason"`
		Content    []struct {
			Type  string          `json:"type"`
			Text  string          `json:"text"`
			Input json.RawMessage `json:"input"`
		} `json:"content"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &msg); err != nil || msg.Type != "message" || msg.StopReason != "tool_use" ||
		len(msg.Content) != 2 || msg.Content[0].Text != "hello" || string(msg.Content[1].Input) != `{"a":1}` {
		t.Errorf("body %s (%v)", rec.Body.String(), err)
	}
}

func TestAuthErrorsInProviderShape(t *testing.T) {
	s := New()
	rec := post(t, s.Handler(), "/v1/messages", nil, anthropicReq)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"type":"error"`) ||
		!strings.Contains(rec.Body.String(), `"authentication_error"`) || !strings.Contains(rec.Body.String(), "x-api-key header is required") {
		t.Errorf("anthropic %d %s", rec.Code, rec.Body.String())
	}
	rec = post(t, s.Handler(), "/v1/chat/completions", nil, `{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}]}`)
	var oe struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if rec.Code != 401 || json.Unmarshal(rec.Body.Bytes(), &oe) != nil || oe.Error.Type != "invalid_request_error" || oe.Error.Message == "" {
		t.Errorf("openai %d %s", rec.Code, rec.Body.String())
	}
	// The models list is told apart by its auth header.
	req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
	req.Header.Set("Authorization", "Bearer k")
	mrec := httptest.NewRecorder()
	s.Handler().ServeHTTP(mrec, req)
	if mrec.Code != 200 || !strings.Contains(mrec.Body.String(), `"object":"list"`) {
		t.Errorf("openai models %d %s", mrec.Code, mrec.Body.String())
	}
}

func TestOpenAIStreamChunks(t *testing.T) {
	s := New()
	s.Enqueue(Turn{Text: []string{"Hi"}, ToolCalls: []ToolCall{{ID: "call_1", Name: "get_system_info", Args: []string{`{"a"`, `:1}`}}}})
	rec := post(t, s.Handler(), "/v1/chat/completions", map[string]string{"Authorization": "Bearer k"},
		`{"model":"gpt-4.1","stream":true,"messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"}]}`)
	evs := parseSSE(t, rec.Body.String())
	if last := evs[len(evs)-1]; last.raw != "[DONE]" {
		t.Fatalf("last frame %q", last.raw)
	}
	var content, args string
	var finish []string
	var sawID bool
	for _, ev := range evs[:len(evs)-1] {
		if ev.data["object"] != "chat.completion.chunk" {
			t.Errorf("object %v", ev.data["object"])
		}
		for _, c := range ev.data["choices"].([]any) {
			ch := c.(map[string]any)
			d := ch["delta"].(map[string]any)
			if s, ok := d["content"].(string); ok {
				content += s
			}
			if tcs, ok := d["tool_calls"].([]any); ok {
				tc := tcs[0].(map[string]any)
				if tc["id"] == "call_1" {
					sawID = tc["function"].(map[string]any)["name"] == "get_system_info"
				}
				args += tc["function"].(map[string]any)["arguments"].(string)
			}
			if f, ok := ch["finish_reason"].(string); ok {
				finish = append(finish, f)
			}
		}
	}
	if content != "Hi" || args != `{"a":1}` || !sawID || !slices.Equal(finish, []string{"tool_calls"}) {
		t.Errorf("content %q args %q id+name %v finish %v", content, args, sawID, finish)
	}
	if u := evs[len(evs)-2].data["usage"]; u == nil {
		t.Error("no usage chunk before [DONE]")
	}
	if r := s.Requests()[0]; r.System != "sys" || r.APIKey != "k" {
		t.Errorf("recorded %+v", r)
	}
}

func TestDefaultBehaviour(t *testing.T) {
	tools := []Tool{{Name: "get_system_info"}, {Name: "restart_process"}}
	echo := Default(Request{Provider: "anthropic", Model: "m", Messages: []Message{{Role: "user", Text: "hello there"}}, Tools: tools})
	if got := strings.Join(echo.Text, ""); got != "(owlette fake anthropic model m) You said: hello there" || len(echo.ToolCalls) != 0 {
		t.Errorf("echo %q %v", got, echo.ToolCalls)
	}
	if len(echo.Text) < 3 {
		t.Errorf("echo is not streamed in pieces: %q", echo.Text)
	}
	call := Default(Request{Messages: []Message{{Role: "user", Text: "run restart_process please"}}, Tools: tools})
	if len(call.ToolCalls) != 1 || call.ToolCalls[0].Name != "restart_process" {
		t.Errorf("call %+v", call)
	}
	answer := Default(Request{Messages: []Message{
		{Role: "user", Text: "run get_system_info"},
		{Role: "assistant", ToolCalls: []RecordedCall{{ID: "c1", Name: "get_system_info"}}},
		{Role: "tool", ToolResults: []ToolResult{{ID: "c1", Content: `{"host":"WS"}`}}},
	}, Tools: tools})
	if got := strings.Join(answer.Text, ""); !strings.Contains(got, `get_system_info: {"host":"WS"}`) || len(answer.ToolCalls) != 0 {
		t.Errorf("answer %q", got)
	}
}

func TestStartServesOverTCP(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || s.OpenAIURL() != s.URL()+"/v1" {
		t.Fatalf("URLs %q %q", s.URL(), s.OpenAIURL())
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/models?limit=100", nil)
	req.Header.Set("x-api-key", "k")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"display_name":"Claude Sonnet 4.6"`) {
		t.Errorf("%d %s", res.StatusCode, b)
	}
}
