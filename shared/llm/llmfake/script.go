package llmfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Turn is one scripted model response, provider-neutral: the fake renders it
// in the wire format of the API that was called.
type Turn struct {
	// Text is streamed as one text block, one delta per element.
	Text []string
	// ToolCalls follow the text, each as its own block / tool_calls index.
	ToolCalls []ToolCall
	// StopReason overrides the provider's stop reason (Anthropic
	// stop_reason or OpenAI finish_reason); by default tool calls end with
	// tool_use / tool_calls, text with end_turn / stop.
	StopReason string
	// InputTokens and OutputTokens are reported in usage (defaults 10 and
	// the number of deltas).
	InputTokens, OutputTokens int

	// Error answers the request with an HTTP error in the provider's shape
	// instead of a response.
	Error *APIError
	// StreamError is sent inside the stream after the text (an `error`
	// event for Anthropic, an `{"error":…}` chunk for OpenAI), ending it.
	StreamError *APIError
	// Hold keeps the stream open after the text until the client goes away
	// (cancellation tests).
	Hold bool
}

// ToolCall is a scripted tool call; Args are the argument JSON text split
// into the pieces the stream delivers. ID "" draws one.
type ToolCall struct {
	ID   string
	Name string
	Args []string
}

// APIError is an error the fake answers with.
type APIError struct {
	Status  int    // HTTP status (ignored for StreamError)
	Type    string // e.g. rate_limit_error; defaults by status
	Message string
}

// Request is a recorded model or model-list request, normalised across the
// two APIs.
type Request struct {
	Provider         string // "anthropic" or "openai"
	Method, Path     string
	APIKey           string // from x-api-key (Anthropic) or Authorization: Bearer (OpenAI)
	AnthropicVersion string
	Query            string
	Model            string
	Stream           bool
	MaxTokens        int
	System           string
	Messages         []Message
	Tools            []Tool
	Body             []byte
}

// Message is a normalised conversation message.
type Message struct {
	Role        string // user, assistant, tool (OpenAI tool messages), system
	Text        string // text parts, concatenated
	Images      []string
	ToolCalls   []RecordedCall
	ToolResults []ToolResult
}

// RecordedCall is a tool call the client sent back in an assistant turn.
type RecordedCall struct {
	ID, Name string
	Input    json.RawMessage
}

// ToolResult is a tool result the client sent.
type ToolResult struct {
	ID      string
	Content string // text content
	Images  []string
	IsError bool
}

// Tool is a tool definition the client offered.
type Tool struct {
	Name        string
	Description string
	Schema      json.RawMessage
}

// LastUserText returns the text of the last user message.
func (r Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" && r.Messages[i].Text != "" {
			return r.Messages[i].Text
		}
	}
	return ""
}

func defaultErrType(status int, anthropic bool) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		if anthropic {
			return "authentication_error"
		}
		return "invalid_request_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusTooManyRequests:
		if anthropic {
			return "rate_limit_error"
		}
		return "requests"
	case 529:
		return "overloaded_error"
	}
	if anthropic {
		return "api_error"
	}
	return "server_error"
}

// Default is the reply when no turn is scripted, good enough for `make dev`:
// after tool results it reports them; when the last user message names an
// offered tool it calls that tool (arguments {}); otherwise it echoes.
func Default(req Request) Turn {
	if n := len(req.Messages); n > 0 {
		last := req.Messages[n-1]
		if len(last.ToolResults) > 0 || last.Role == "tool" {
			var b strings.Builder
			b.WriteString("Here is what the tools returned:")
			for i := n - 1; i >= 0 && (len(req.Messages[i].ToolResults) > 0 || req.Messages[i].Role == "tool"); i-- {
				for _, r := range req.Messages[i].ToolResults {
					c := r.Content
					if len(c) > 400 {
						c = c[:400] + "…"
					}
					status := ""
					if r.IsError {
						status = " (error)"
					}
					fmt.Fprintf(&b, "\n- %s%s: %s", nameOf(req, r.ID), status, c)
				}
			}
			return Turn{Text: words(b.String())}
		}
	}
	user := req.LastUserText()
	for _, t := range req.Tools {
		if t.Name != "" && strings.Contains(user, t.Name) {
			return Turn{
				Text:      words("Let me run " + t.Name + "."),
				ToolCalls: []ToolCall{{Name: t.Name, Args: []string{"{", "}"}}},
			}
		}
	}
	return Turn{Text: words("(owlette fake " + req.Provider + " model " + req.Model + ") You said: " + user)}
}

// nameOf finds the tool name of a call id in the conversation.
func nameOf(req Request, id string) string {
	for _, m := range req.Messages {
		for _, c := range m.ToolCalls {
			if c.ID == id {
				return c.Name
			}
		}
	}
	return id
}

// words splits s into deltas of one word each (with the following space),
// so streams look like streams.
func words(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexAny(s, " \n")
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

func (t Turn) outputTokens() int {
	if t.OutputTokens > 0 {
		return t.OutputTokens
	}
	n := len(t.Text)
	for _, c := range t.ToolCalls {
		n += len(c.Args) + 1
	}
	return max(n, 1)
}

func (t Turn) inputTokens() int {
	if t.InputTokens > 0 {
		return t.InputTokens
	}
	return 10
}
