package llmfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func (s *Server) openaiFail(w http.ResponseWriter, e APIError) {
	if e.Type == "" {
		e.Type = defaultErrType(e.Status, false)
	}
	writeJSON(w, e.Status, map[string]any{"error": map[string]any{
		"message": e.Message, "type": e.Type, "param": nil, "code": nil,
	}})
}

// openaiAuth checks Authorization: Bearer like the real API.
func (s *Server) openaiAuth(w http.ResponseWriter, key string) bool {
	ok, missing := s.keyOK(key)
	switch {
	case ok:
		return true
	case missing:
		s.openaiFail(w, APIError{Status: http.StatusUnauthorized, Message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."})
	default:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"message": "Incorrect API key provided: " + redact(key) + ". You can find your API key at https://platform.openai.com/account/api-keys.",
			"type":    "invalid_request_error", "param": nil, "code": "invalid_api_key",
		}})
	}
	return false
}

func redact(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:3] + "*****" + key[len(key)-4:]
}

type openaiBody struct {
	Model               string `json:"model"`
	Stream              bool   `json:"stream"`
	MaxCompletionTokens int    `json:"max_completion_tokens"`
	Messages            []struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"tool_call_id"`
		ToolCalls  []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	} `json:"tools"`
}

func parseOpenAI(body []byte) (Request, error) {
	var b openaiBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Request{}, err
	}
	req := Request{Provider: "openai", Model: b.Model, Stream: b.Stream, MaxTokens: b.MaxCompletionTokens, Body: body}
	for _, m := range b.Messages {
		var text string
		var images []string
		var str string
		if json.Unmarshal(m.Content, &str) == nil {
			text = str
		} else {
			var parts []struct {
				Type     string `json:"type"`
				Text     string `json:"text"`
				ImageURL struct {
					URL string `json:"url"`
				} `json:"image_url"`
			}
			_ = json.Unmarshal(m.Content, &parts)
			for _, p := range parts {
				switch p.Type {
				case "text":
					text += p.Text
				case "image_url":
					images = append(images, p.ImageURL.URL)
				}
			}
		}
		switch m.Role {
		case "system", "developer":
			if req.System != "" {
				req.System += "\n"
			}
			req.System += text
			req.Messages = append(req.Messages, Message{Role: "system", Text: text})
		case "tool":
			req.Messages = append(req.Messages, Message{Role: "tool", ToolResults: []ToolResult{{ID: m.ToolCallID, Content: text}}})
		default:
			msg := Message{Role: m.Role, Text: text, Images: images}
			for _, c := range m.ToolCalls {
				msg.ToolCalls = append(msg.ToolCalls, RecordedCall{ID: c.ID, Name: c.Function.Name, Input: json.RawMessage(c.Function.Arguments)})
			}
			req.Messages = append(req.Messages, msg)
		}
	}
	for _, t := range b.Tools {
		req.Tools = append(req.Tools, Tool{Name: t.Function.Name, Description: t.Function.Description, Schema: t.Function.Parameters})
	}
	return req, nil
}

func (s *Server) openaiChat(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	key := bearer(r)
	req, err := parseOpenAI(body)
	req.Method, req.Path, req.APIKey = r.Method, r.URL.Path, key
	s.record(req)
	if !s.openaiAuth(w, key) {
		return
	}
	if err != nil {
		s.openaiFail(w, APIError{Status: http.StatusBadRequest, Message: "We could not parse the JSON body of your request: " + err.Error()})
		return
	}
	if req.Model == "" || len(req.Messages) == 0 {
		s.openaiFail(w, APIError{Status: http.StatusBadRequest, Message: "model and messages are required"})
		return
	}
	turn, scripted := s.next()
	if !scripted {
		turn = Default(req)
	}
	if turn.Error != nil {
		s.openaiFail(w, *turn.Error)
		return
	}
	for i := range turn.ToolCalls {
		if turn.ToolCalls[i].ID == "" {
			turn.ToolCalls[i].ID = fmt.Sprintf("call_fake_%d", s.nextID())
		}
	}
	finish := turn.StopReason
	if finish == "" {
		finish = "stop"
		if len(turn.ToolCalls) > 0 {
			finish = "tool_calls"
		}
	}
	id := fmt.Sprintf("chatcmpl-fake%d", s.nextID())
	usage := map[string]any{"prompt_tokens": turn.inputTokens(), "completion_tokens": turn.outputTokens(),
		"total_tokens": turn.inputTokens() + turn.outputTokens()}
	if !req.Stream {
		msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil}
		if len(turn.Text) > 0 {
			msg["content"] = strings.Join(turn.Text, "")
		}
		if len(turn.ToolCalls) > 0 {
			var calls []map[string]any
			for _, c := range turn.ToolCalls {
				calls = append(calls, map[string]any{"id": c.ID, "type": "function",
					"function": map[string]any{"name": c.Name, "arguments": strings.Join(c.Args, "")}})
			}
			msg["tool_calls"] = calls
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "chat.completion", "created": time.Now().Unix(),
			"model": req.Model, "choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
			"usage": usage})
		return
	}
	s.openaiStream(w, r, req, turn, id, finish, usage)
}

// openaiStream writes chat.completion.chunk frames: a role chunk, content
// deltas, tool_calls deltas (id, type and name first, arguments after), a
// finish_reason chunk, the usage chunk (stream_options.include_usage) and
// `data: [DONE]`.
func (s *Server) openaiStream(w http.ResponseWriter, r *http.Request, req Request, t Turn, id, finish string, usage map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	created := time.Now().Unix()
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	chunk := func(delta map[string]any, finishReason any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_fake", "choices": []any{map[string]any{
				"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finishReason}}}
	}
	ok := send(chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil))
	for _, d := range t.Text {
		if !ok {
			break
		}
		ok = send(chunk(map[string]any{"content": d}, nil))
	}
	if ok && t.StreamError != nil {
		e := *t.StreamError
		if e.Type == "" {
			e.Type = "server_error"
		}
		send(map[string]any{"error": map[string]any{"message": e.Message, "type": e.Type, "param": nil, "code": nil}})
		return
	}
	if ok && t.Hold {
		s.hold(r)
		return
	}
	for i, c := range t.ToolCalls {
		if !ok {
			break
		}
		ok = send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": c.ID, "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": ""}}}}, nil))
		for _, a := range c.Args {
			if !ok {
				break
			}
			ok = send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i,
				"function": map[string]any{"arguments": a}}}}, nil))
		}
	}
	ok = ok && send(chunk(map[string]any{}, finish))
	ok = ok && send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
		"system_fingerprint": "fp_fake", "choices": []any{}, "usage": usage})
	if ok {
		_, err := fmt.Fprint(w, "data: [DONE]\n\n")
		ok = err == nil && rc.Flush() == nil
	}
	if !ok {
		s.noteCanceled()
	}
}

func (s *Server) openaiModels(w http.ResponseWriter, r *http.Request) {
	key := bearer(r)
	s.record(Request{Provider: "openai", Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, APIKey: key})
	if !s.openaiAuth(w, key) {
		return
	}
	if e, ok := s.peekError(); ok {
		s.openaiFail(w, e)
		return
	}
	s.mu.Lock()
	ids := append([]string(nil), s.OpenAIModels...)
	s.mu.Unlock()
	data := []map[string]any{}
	for _, m := range ids {
		data = append(data, map[string]any{"id": m, "object": "model", "created": 1700000000, "owned_by": "openai"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}
