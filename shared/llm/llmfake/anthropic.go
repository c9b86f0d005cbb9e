package llmfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

func (s *Server) anthropicFail(w http.ResponseWriter, e APIError) {
	if e.Type == "" {
		e.Type = defaultErrType(e.Status, true)
	}
	var body anthropicError
	body.Type = "error"
	body.Error.Type = e.Type
	body.Error.Message = e.Message
	body.RequestID = fmt.Sprintf("req_fake_%d", s.nextID())
	w.Header().Set("Request-Id", body.RequestID)
	writeJSON(w, e.Status, body)
}

// anthropicAuth checks x-api-key like the real API.
func (s *Server) anthropicAuth(w http.ResponseWriter, key string) bool {
	ok, missing := s.keyOK(key)
	switch {
	case ok:
		return true
	case missing:
		s.anthropicFail(w, APIError{Status: http.StatusUnauthorized, Message: "x-api-key header is required"})
	default:
		s.anthropicFail(w, APIError{Status: http.StatusUnauthorized, Message: "invalid x-api-key"})
	}
	return false
}

// anthropic request body, as much as the fake reads.
type anthropicBody struct {
	Model     string          `json:"model"`
	MaxTokens int             `json:"max_tokens"`
	Stream    bool            `json:"stream"`
	System    json.RawMessage `json:"system"`
	Messages  []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
}

type anthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	IsError   bool            `json:"is_error"`
	Content   json.RawMessage `json:"content"`
	Source    struct {
		Type      string `json:"type"`
		URL       string `json:"url"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
	} `json:"source"`
}

// blocks reads content that is a string or an array of blocks.
func blocks(raw json.RawMessage) []anthropicBlock {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []anthropicBlock{{Type: "text", Text: s}}
	}
	var bs []anthropicBlock
	_ = json.Unmarshal(raw, &bs)
	return bs
}

func imageOf(b anthropicBlock) string {
	if b.Source.Type == "base64" {
		return "data:" + b.Source.MediaType + ";base64," + b.Source.Data
	}
	return b.Source.URL
}

func parseAnthropic(body []byte) (Request, error) {
	var b anthropicBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Request{}, err
	}
	req := Request{Provider: "anthropic", Model: b.Model, Stream: b.Stream, MaxTokens: b.MaxTokens, Body: body}
	if len(b.System) > 0 {
		var parts []string
		for _, bl := range blocks(b.System) {
			parts = append(parts, bl.Text)
		}
		req.System = strings.Join(parts, "\n")
	}
	for _, m := range b.Messages {
		msg := Message{Role: m.Role}
		for _, bl := range blocks(m.Content) {
			switch bl.Type {
			case "text":
				msg.Text += bl.Text
			case "image":
				msg.Images = append(msg.Images, imageOf(bl))
			case "tool_use":
				msg.ToolCalls = append(msg.ToolCalls, RecordedCall{ID: bl.ID, Name: bl.Name, Input: bl.Input})
			case "tool_result":
				tr := ToolResult{ID: bl.ToolUseID, IsError: bl.IsError}
				for _, c := range blocks(bl.Content) {
					switch c.Type {
					case "text":
						tr.Content += c.Text
					case "image":
						tr.Images = append(tr.Images, imageOf(c))
					}
				}
				msg.ToolResults = append(msg.ToolResults, tr)
			}
		}
		req.Messages = append(req.Messages, msg)
	}
	for _, t := range b.Tools {
		req.Tools = append(req.Tools, Tool{Name: t.Name, Description: t.Description, Schema: t.InputSchema})
	}
	return req, nil
}

func (s *Server) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	key := r.Header.Get("X-Api-Key")
	req, err := parseAnthropic(body)
	req.Method, req.Path, req.APIKey = r.Method, r.URL.Path, key
	req.AnthropicVersion = r.Header.Get("Anthropic-Version")
	s.record(req)
	if !s.anthropicAuth(w, key) {
		return
	}
	if err != nil {
		s.anthropicFail(w, APIError{Status: http.StatusBadRequest, Message: "invalid JSON body: " + err.Error()})
		return
	}
	if req.Model == "" || req.MaxTokens <= 0 || len(req.Messages) == 0 {
		s.anthropicFail(w, APIError{Status: http.StatusBadRequest, Message: "model, max_tokens and messages are required"})
		return
	}
	turn, scripted := s.next()
	if !scripted {
		turn = Default(req)
	}
	if turn.Error != nil {
		s.anthropicFail(w, *turn.Error)
		return
	}
	msgID := fmt.Sprintf("msg_fake_%d", s.nextID())
	for i := range turn.ToolCalls {
		if turn.ToolCalls[i].ID == "" {
			turn.ToolCalls[i].ID = fmt.Sprintf("toolu_fake_%d", s.nextID())
		}
	}
	stop := turn.StopReason
	if stop == "" {
		stop = "end_turn"
		if len(turn.ToolCalls) > 0 {
			stop = "tool_use"
		}
	}
	if !req.Stream {
		s.anthropicJSON(w, req, turn, msgID, stop)
		return
	}
	s.anthropicStream(w, r, req, turn, msgID, stop)
}

func (s *Server) anthropicJSON(w http.ResponseWriter, req Request, t Turn, id, stop string) {
	content := []map[string]any{}
	if len(t.Text) > 0 {
		content = append(content, map[string]any{"type": "text", "text": strings.Join(t.Text, "")})
	}
	for _, c := range t.ToolCalls {
		input := json.RawMessage(strings.Join(c.Args, ""))
		if !json.Valid(input) {
			input = json.RawMessage("{}")
		}
		content = append(content, map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": input})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": req.Model, "content": content,
		"stop_reason": stop, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": t.inputTokens(), "output_tokens": t.outputTokens()},
	})
}

// anthropicStream writes the documented event sequence: message_start,
// content_block_start, ping, content_block_delta…, content_block_stop per
// block, message_delta (stop_reason, usage), message_stop.
func (s *Server) anthropicStream(w http.ResponseWriter, r *http.Request, req Request, t Turn, id, stop string) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(event string, data any) bool {
		b, _ := json.Marshal(data)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	ok := send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": req.Model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": t.inputTokens(), "output_tokens": 1},
	}})
	index := 0
	if ok && len(t.Text) > 0 {
		ok = send("content_block_start", map[string]any{"type": "content_block_start", "index": index,
			"content_block": map[string]any{"type": "text", "text": ""}})
		ok = ok && send("ping", map[string]any{"type": "ping"})
		for _, d := range t.Text {
			if !ok {
				break
			}
			ok = send("content_block_delta", map[string]any{"type": "content_block_delta", "index": index,
				"delta": map[string]any{"type": "text_delta", "text": d}})
		}
		if ok && t.StreamError == nil && !t.Hold {
			ok = send("content_block_stop", map[string]any{"type": "content_block_stop", "index": index})
		}
		index++
	}
	if ok && t.StreamError != nil {
		e := *t.StreamError
		if e.Type == "" {
			e.Type = "overloaded_error"
		}
		send("error", map[string]any{"type": "error", "error": map[string]any{"type": e.Type, "message": e.Message}})
		return
	}
	if ok && t.Hold {
		s.hold(r)
		return
	}
	for _, c := range t.ToolCalls {
		if !ok {
			break
		}
		ok = send("content_block_start", map[string]any{"type": "content_block_start", "index": index,
			"content_block": map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": map[string]any{}}})
		ok = ok && send("content_block_delta", map[string]any{"type": "content_block_delta", "index": index,
			"delta": map[string]any{"type": "input_json_delta", "partial_json": ""}})
		for _, a := range c.Args {
			if !ok {
				break
			}
			ok = send("content_block_delta", map[string]any{"type": "content_block_delta", "index": index,
				"delta": map[string]any{"type": "input_json_delta", "partial_json": a}})
		}
		ok = ok && send("content_block_stop", map[string]any{"type": "content_block_stop", "index": index})
		index++
	}
	ok = ok && send("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": t.outputTokens()}})
	ok = ok && send("message_stop", map[string]any{"type": "message_stop"})
	if !ok {
		s.noteCanceled()
	}
}

// hold keeps a stream open until the client disconnects (or 30 s pass, so a
// forgotten client cannot pin the server).
func (s *Server) hold(r *http.Request) {
	select {
	case <-r.Context().Done():
		s.noteCanceled()
	case <-time.After(30 * time.Second):
	}
}

func (s *Server) anthropicModels(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Api-Key")
	s.record(Request{Provider: "anthropic", Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		APIKey: key, AnthropicVersion: r.Header.Get("Anthropic-Version")})
	if !s.anthropicAuth(w, key) {
		return
	}
	if t, ok := s.peekError(); ok {
		s.anthropicFail(w, t)
		return
	}
	data := []map[string]any{}
	s.mu.Lock()
	models := append([]AnthropicModel(nil), s.AnthropicModels...)
	s.mu.Unlock()
	for _, m := range models {
		data = append(data, map[string]any{"type": "model", "id": m.ID, "display_name": m.DisplayName,
			"created_at": "2025-01-01T00:00:00Z"})
	}
	first, last := "", ""
	if len(models) > 0 {
		first, last = models[0].ID, models[len(models)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "has_more": false, "first_id": first, "last_id": last})
}

// peekError takes the next scripted turn if it is an error (model listing
// has no turns of its own; an error turn lets tests fail it).
func (s *Server) peekError() (APIError, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.turns) > 0 && s.turns[0].Error != nil {
		e := *s.turns[0].Error
		s.turns = s.turns[1:]
		return e, true
	}
	return APIError{}, false
}
