package llm_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/llm/uistream"
)

// API errors come back as *ProviderError with the provider's status, type
// and message.
func TestProviderErrorMapping(t *testing.T) {
	cases := []struct {
		name       string
		key        string // "" = no key
		restrict   bool   // fake accepts only another key
		turn       *llmfake.APIError
		status     int
		anthropicT string
		anthropicM string
		openaiT    string
		openaiM    string
	}{
		{name: "401 missing key", key: "", status: 401,
			anthropicT: "authentication_error", anthropicM: "x-api-key header is required",
			openaiT: "invalid_request_error", openaiM: "You didn't provide an API key."},
		{name: "401 wrong key", key: "sk-wrong-key-0000", restrict: true, status: 401,
			anthropicT: "authentication_error", anthropicM: "invalid x-api-key",
			openaiT: "invalid_request_error", openaiM: "Incorrect API key provided: sk-*****0000."},
		{name: "429", key: testKey, turn: &llmfake.APIError{Status: 429, Message: "Rate limit reached for requests"}, status: 429,
			anthropicT: "rate_limit_error", anthropicM: "Rate limit reached for requests",
			openaiT: "requests", openaiM: "Rate limit reached for requests"},
		{name: "500", key: testKey, turn: &llmfake.APIError{Status: 500, Message: "Internal server error"}, status: 500,
			anthropicT: "api_error", anthropicM: "Internal server error",
			openaiT: "server_error", openaiM: "Internal server error"},
		{name: "529 overloaded", key: testKey, turn: &llmfake.APIError{Status: 529, Message: "Overloaded"}, status: 529,
			anthropicT: "overloaded_error", anthropicM: "Overloaded",
			openaiT: "overloaded_error", openaiM: "Overloaded"},
	}
	for _, tc := range cases {
		for _, name := range bothProviders {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				fake := startFake(t)
				if tc.restrict {
					fake.SetKeys(testKey)
				}
				if tc.turn != nil {
					fake.Enqueue(llmfake.Turn{Error: tc.turn})
				}
				cfg := config(fake, name)
				cfg.APIKey = tc.key
				p, _ := llm.New(cfg)
				evs := collect(context.Background(), p, llm.Request{Messages: []llm.Message{llm.UserText("hi")}})
				if len(evs) != 1 || evs[0].Type != llm.EventError {
					t.Fatalf("events %+v, want one error", evs)
				}
				var pe *llm.ProviderError
				if !errors.As(evs[0].Err, &pe) {
					t.Fatalf("error %T %v, want *ProviderError", evs[0].Err, evs[0].Err)
				}
				wantT, wantM := tc.anthropicT, tc.anthropicM
				if name == llm.OpenAI {
					wantT, wantM = tc.openaiT, tc.openaiM
				}
				if pe.StatusCode != tc.status || pe.Type != wantT || !strings.HasPrefix(pe.Error(), wantM) || pe.Provider != name {
					t.Errorf("got status %d type %q message %q, want %d %q %q…", pe.StatusCode, pe.Type, pe.Error(), tc.status, wantT, wantM)
				}
				if n := len(fake.Requests()); n != 1 {
					t.Errorf("%d requests with retries off", n)
				}
			})
		}
	}
}

// Run surfaces a provider error as the error part and returns it.
func TestRunProviderErrorStream(t *testing.T) {
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(llmfake.Turn{Error: &llmfake.APIError{Status: 401, Message: "invalid x-api-key"}})
			var buf bytes.Buffer
			res, err := llm.Run(context.Background(), llm.RunConfig{
				Provider:  provider(t, fake, name),
				Messages:  []llm.Message{llm.UserText("hi")},
				Stream:    uistream.New(&buf),
				ErrorText: llm.ProviderErrorText,
			})
			var pe *llm.ProviderError
			if !errors.As(err, &pe) || pe.StatusCode != 401 {
				t.Fatalf("err %v, want the 401 ProviderError", err)
			}
			want := "data: {\"type\":\"start\"}\n\ndata: {\"type\":\"error\",\"errorText\":\"invalid x-api-key\"}\n\ndata: [DONE]\n\n"
			if buf.String() != want {
				t.Errorf("stream %q\nwant   %q", buf.String(), want)
			}
			if res.FinishReason != llm.FinishError || len(res.Messages) != 1 {
				t.Errorf("result %+v", res)
			}
		})
	}
}

// An error event inside the stream keeps the text said so far.
func TestRunMidStreamError(t *testing.T) {
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(llmfake.Turn{Text: []string{"Partial"}, StreamError: &llmfake.APIError{Type: "overloaded_error", Message: "Overloaded"}})
			res, err := llm.Run(context.Background(), llm.RunConfig{
				Provider: provider(t, fake, name),
				Messages: []llm.Message{llm.UserText("hi")},
			})
			var pe *llm.ProviderError
			if !errors.As(err, &pe) || pe.Error() != "Overloaded" || pe.Type != "overloaded_error" {
				t.Fatalf("err %#v", err)
			}
			if len(res.Messages) != 2 || res.Messages[1].TextContent() != "Partial" {
				t.Errorf("history %+v", res.Messages)
			}
		})
	}
}

// With retries on, a 500 is retried by the SDK and the run succeeds.
func TestProviderRetriesServerErrors(t *testing.T) {
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(llmfake.Turn{Error: &llmfake.APIError{Status: 500, Message: "oops"}}, llmfake.Turn{Text: []string{"fine"}})
			cfg := config(fake, name)
			cfg.MaxRetries = 1
			p, _ := llm.New(cfg)
			res, err := llm.Run(context.Background(), llm.RunConfig{Provider: p, Messages: []llm.Message{llm.UserText("hi")}})
			if err != nil || res.Text != "fine" || len(fake.Requests()) != 2 {
				t.Errorf("err %v text %q requests %d", err, res.Text, len(fake.Requests()))
			}
		})
	}
}
