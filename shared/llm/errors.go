package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
	openaisse "github.com/openai/openai-go/v3/packages/ssestream"
)

// ProviderError is an error answered by the provider's API. Error() is the
// provider's own message (X12/X13 return it; "invalid x-api-key" tells a
// user more than a status code).
type ProviderError struct {
	Provider   string // Anthropic or OpenAI
	StatusCode int    // HTTP status; 200 for an error event inside a stream
	Type       string // provider error type, e.g. authentication_error, rate_limit_error
	Message    string // the provider's message
	Err        error  // the SDK error
}

func (e *ProviderError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Type != "" {
		return e.Provider + ": " + e.Type
	}
	return e.Provider + ": " + http.StatusText(e.StatusCode)
}

func (e *ProviderError) Unwrap() error { return e.Err }

// wrapError turns SDK errors into *ProviderError; context errors and
// transport failures pass through unchanged.
func wrapError(provider string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		pe := &ProviderError{Provider: provider, StatusCode: ae.StatusCode, Type: string(ae.Type()), Message: ae.Message, Err: err}
		if pe.Message == "" {
			pe.Message = ae.RawJSON()
		}
		return pe
	}
	var oe *openai.Error
	if errors.As(err, &oe) {
		pe := &ProviderError{Provider: provider, StatusCode: oe.StatusCode, Type: oe.Type, Message: oe.Message, Err: err}
		if pe.Message == "" {
			pe.Message = oe.RawJSON()
		}
		return pe
	}
	var se *openaisse.StreamError
	if errors.As(err, &se) {
		var body struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
			} `json:"error"`
		}
		pe := &ProviderError{Provider: provider, StatusCode: http.StatusOK, Message: se.Message, Err: err}
		if json.Unmarshal(se.Event.Data, &body) == nil && body.Error.Message != "" {
			pe.Message, pe.Type = body.Error.Message, body.Error.Type
		}
		return pe
	}
	return err
}
