// Package llmfake is an in-process stand-in for the Anthropic and OpenAI
// APIs, speaking their real wire formats so the official SDKs (and package
// llm) can be tested, and `make dev` can run cortex, without a key or the
// network.
//
// One server answers both APIs:
//
//	Anthropic: POST /v1/messages (streaming SSE or JSON), GET /v1/models
//	OpenAI:    POST /v1/chat/completions (streaming SSE or JSON), GET /v1/models
//
// GET /v1/models tells the two apart by the auth header (x-api-key vs
// Authorization: Bearer), as the real hosts would by name. Point Anthropic
// clients at URL() and OpenAI clients at URL()+"/v1" (OpenAIURL).
//
// For `make dev`: start one server in the local stack (llmfake.Start with a
// fixed loopback port) and give the cortex functions its URLs as the LLM
// base URLs (llm.Config.BaseURL); any stored key works, and the default
// behaviour answers without a real model.
//
// Replies come from the queue of scripted Turns (Enqueue) and, when it is
// empty, from the default behaviour (see Default). Every request is
// recorded (Requests). Auth is checked like the real APIs: a missing key is
// a 401 in the provider's error shape; with Keys set, so is an unknown one.
package llmfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/owlette/server/shared/web"
)

// Server is the fake API server. The zero value is not usable; use New or
// Start.
type Server struct {
	mu       sync.Mutex
	turns    []Turn
	requests []Request
	seq      int
	canceled int

	keys map[string]bool // nil: any non-empty key

	// AnthropicModels and OpenAIModels are what GET /v1/models lists.
	AnthropicModels []AnthropicModel
	OpenAIModels    []string

	ln   net.Listener
	srv  *http.Server
	mux  *http.ServeMux
	base string
}

// AnthropicModel is one entry of the Anthropic model list.
type AnthropicModel struct {
	ID          string
	DisplayName string
}

// New returns a server that is not listening; use Handler with your own
// listener or httptest.
func New() *Server {
	s := &Server{
		AnthropicModels: []AnthropicModel{
			{"claude-sonnet-4-6", "Claude Sonnet 4.6"},
			{"claude-haiku-4-5", "Claude Haiku 4.5"},
			{"claude-opus-4-1-20250805", "Claude Opus 4.1"},
			{"claude-3-5-haiku-20241022", "Claude Haiku 3.5"},
			{"claude-2.1", "Claude 2.1"},
		},
		OpenAIModels: []string{
			"gpt-4.1", "gpt-4.1-nano", "gpt-4o", "gpt-4o-realtime-preview", "gpt-4o-audio-preview",
			"gpt-4o-search-preview", "o3-mini", "o4-mini", "chatgpt-4o-latest", "gpt-3.5-turbo",
			"dall-e-3", "text-embedding-3-small", "whisper-1",
		},
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v1/messages", s.anthropicMessages)
	s.mux.HandleFunc("POST /v1/chat/completions", s.openaiChat)
	s.mux.HandleFunc("GET /v1/models", s.models)
	return s
}

// Start listens on addr ("127.0.0.1:0" for any free port) and serves.
func Start(addr string) (*Server, error) {
	s := New()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.base = "http://" + ln.Addr().String()
	s.srv = web.NewServer(s.mux)
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("llmfake:", err)
		}
	}()
	return s, nil
}

// Handler returns the HTTP handler (for httptest or a shared mux).
func (s *Server) Handler() http.Handler { return s.mux }

// URL is the server's root, e.g. http://127.0.0.1:41234 (the Anthropic base
// URL). Empty unless started with Start.
func (s *Server) URL() string { return s.base }

// AnthropicURL is the base URL for Anthropic clients.
func (s *Server) AnthropicURL() string { return s.base }

// OpenAIURL is the base URL for OpenAI clients (the /v1 root).
func (s *Server) OpenAIURL() string { return s.base + "/v1" }

// Close stops the server, ending open streams.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

// SetKeys restricts the accepted API keys (nil or none: any non-empty key).
func (s *Server) SetKeys(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = nil
	if len(keys) > 0 {
		s.keys = map[string]bool{}
		for _, k := range keys {
			s.keys[k] = true
		}
	}
}

// Enqueue appends scripted turns; each model request takes the next one.
func (s *Server) Enqueue(turns ...Turn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.turns = append(s.turns, turns...)
}

// Pending returns how many scripted turns are left.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.turns)
}

// Requests returns the recorded requests, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Reset forgets recorded requests and pending turns.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.turns, s.canceled = nil, nil, 0
}

// Canceled counts streams whose client went away before the stream ended.
func (s *Server) Canceled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

func (s *Server) next() (Turn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.turns) == 0 {
		return Turn{}, false
	}
	t := s.turns[0]
	s.turns = s.turns[1:]
	return t, true
}

func (s *Server) nextID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

func (s *Server) noteCanceled() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.canceled++
}

// keyOK reports whether key is accepted and, if not, whether it was
// missing (as opposed to unknown).
func (s *Server) keyOK(key string) (ok, missing bool) {
	if key == "" {
		return false, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys == nil || s.keys[key], false
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if k, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Api-Key") != "" || r.Header.Get("Anthropic-Version") != "" {
		s.anthropicModels(w, r)
		return
	}
	s.openaiModels(w, r)
}
