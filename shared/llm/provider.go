package llm

import (
	"context"
	"fmt"
	"iter"
	"net/http"
)

// Provider names, as stored in settings/llm.provider.
const (
	Anthropic = "anthropic"
	OpenAI    = "openai"
)

// Default and cheap (X11 categorisation) models per provider (api.md §2.20).
const (
	DefaultAnthropicModel = "claude-sonnet-4-6"
	DefaultOpenAIModel    = "gpt-4.1"
	CheapAnthropicModel   = "claude-haiku-4-5"
	CheapOpenAIModel      = "gpt-4.1-nano"
)

// DefaultModel returns the model used when settings/llm.model is empty.
func DefaultModel(provider string) string {
	if provider == OpenAI {
		return DefaultOpenAIModel
	}
	return DefaultAnthropicModel
}

// CheapModel returns the small model used for chat titles and categories.
func CheapModel(provider string) string {
	if provider == OpenAI {
		return CheapOpenAIModel
	}
	return CheapAnthropicModel
}

// Config selects and authenticates a provider.
type Config struct {
	Provider string // Anthropic or OpenAI
	APIKey   string
	Model    string // "" = DefaultModel(Provider)

	// BaseURL overrides the API root the way each SDK names it: for
	// Anthropic the host ("https://api.anthropic.com"), for OpenAI the
	// versioned root ("https://api.openai.com/v1"). Tests and `make dev`
	// point it at llmfake.
	BaseURL    string
	HTTPClient *http.Client // nil = the SDK's default

	// MaxTokens caps each response (Anthropic requires one; 0 = 8192 there,
	// unset for OpenAI).
	MaxTokens int
	// MaxRetries for 408/409/429/5xx and connection errors, with the SDKs'
	// backoff: 0 = the SDK default (2), negative = none.
	MaxRetries int
}

// New returns the provider cfg names.
func New(cfg Config) (Provider, error) {
	switch cfg.Provider {
	case Anthropic:
		return NewAnthropic(cfg), nil
	case OpenAI:
		return NewOpenAI(cfg), nil
	}
	return nil, fmt.Errorf("llm: unknown provider %q", cfg.Provider)
}

// Request is one model call: a system prompt, the conversation and the
// tools the model may call.
type Request struct {
	System   string
	Messages []Message
	Tools    []ToolDef
}

// Provider streams one model response.
type Provider interface {
	// Name is Anthropic or OpenAI.
	Name() string
	// Model is the model id requests use.
	Model() string
	// Stream sends req and yields the response as events. The last event is
	// EventFinish or EventError; breaking out of the loop ends the request.
	Stream(ctx context.Context, req Request) iter.Seq[Event]
}

// EventType says which fields of an Event are set.
type EventType int

// Normalised stream events.
const (
	EventTextDelta      EventType = iota + 1 // Text
	EventToolCallStart                       // ToolCall.ID, ToolCall.Name
	EventToolInputDelta                      // ToolCall.ID, Text (a piece of the input JSON)
	EventToolCallEnd                         // ToolCall (ID, Name, complete Input)
	EventFinish                              // FinishReason, Usage
	EventError                               // Err (a *ProviderError for API errors)
)

// Event is one normalised piece of a streamed response.
type Event struct {
	Type         EventType
	Text         string
	ToolCall     ToolCall
	FinishReason FinishReason
	Usage        Usage
	Err          error
}

// FinishReason is why a response ended, in the AI SDK's unified terms.
type FinishReason string

// Finish reasons.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool-calls"
	FinishContentFilter FinishReason = "content-filter"
	FinishError         FinishReason = "error"
	FinishOther         FinishReason = "other"
)

// Usage counts tokens.
type Usage struct {
	InputTokens  int64
	OutputTokens int64
}

// Add returns u + v.
func (u Usage) Add(v Usage) Usage {
	return Usage{InputTokens: u.InputTokens + v.InputTokens, OutputTokens: u.OutputTokens + v.OutputTokens}
}

func (c Config) model() string {
	if c.Model != "" {
		return c.Model
	}
	return DefaultModel(c.Provider)
}
