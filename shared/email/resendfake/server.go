package resendfake

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/owlette/server/shared/web"
)

// Message is one accepted e-mail, as the request carried it.
type Message struct {
	ID             string
	From           string
	To             []string
	CC             []string
	BCC            []string
	ReplyTo        []string
	Subject        string
	HTML           string
	Text           string
	Headers        map[string]string
	Tags           []Tag
	ScheduledAt    string
	IdempotencyKey string
	CreatedAt      time.Time
}

// Tag is a Resend e-mail tag.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (m Message) clone() Message {
	m.To, m.CC, m.BCC, m.ReplyTo = slices.Clone(m.To), slices.Clone(m.CC), slices.Clone(m.BCC), slices.Clone(m.ReplyTo)
	m.Tags = slices.Clone(m.Tags)
	if m.Headers != nil {
		h := make(map[string]string, len(m.Headers))
		for k, v := range m.Headers {
			h[k] = v
		}
		m.Headers = h
	}
	return m
}

// Server is the fake. The zero value is not usable: call New or Start.
type Server struct {
	apiKey string
	now    func() time.Time
	log    *slog.Logger

	mu       sync.Mutex
	msgs     []Message // in arrival order
	byID     map[string]int
	idem     map[string]idemEntry
	failN    int
	failCode int
	changed  chan struct{} // closed and replaced on every accepted mail

	mux *http.ServeMux
	hs  *http.Server
	url string
}

// idemEntry is the first answer to an idempotency key.
type idemEntry struct {
	hash [32]byte
	body []byte
}

// Option configures a Server.
type Option func(*Server)

// WithAPIKey makes the fake accept only this key (else any non-empty
// Bearer token); a wrong key gets Resend's 401 "API key is invalid".
func WithAPIKey(key string) Option { return func(s *Server) { s.apiKey = key } }

// WithClock sets the clock of created_at.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithLogger logs every caught mail (for `make dev`); silent by default.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New returns a fake that is not listening: serve Handler() yourself.
func New(opts ...Option) *Server {
	s := &Server{now: time.Now, byID: map[string]int{}, idem: map[string]idemEntry{}, changed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.routes()
	return s
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves.
func Start(addr string, opts ...Option) (*Server, error) {
	s := New(opts...)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.url = "http://" + ln.Addr().String()
	s.hs = web.NewServer(s.mux)
	go func() {
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && s.log != nil {
			s.log.Error("resendfake: serve", "err", err)
		}
	}()
	return s, nil
}

// URL is the base URL to give email.NewSender ("" unless started).
func (s *Server) URL() string { return s.url }

// Close stops a started server.
func (s *Server) Close() error {
	if s.hs == nil {
		return nil
	}
	return s.hs.Close()
}

// Handler serves the API and the inbox pages.
func (s *Server) Handler() http.Handler { return s.mux }

// Messages returns copies of the accepted mails in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.clone()
	}
	return out
}

// WaitFor returns the first accepted mail for which pred is true, waiting
// for it to arrive until ctx ends.
func (s *Server) WaitFor(ctx context.Context, pred func(Message) bool) (Message, error) {
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if pred(m) {
				s.mu.Unlock()
				return m.clone(), nil
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Message{}, ctx.Err()
		case <-ch:
		}
	}
}

// Reset forgets every mail, idempotency key and pending failure.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs, s.byID, s.idem = nil, map[string]int{}, map[string]idemEntry{}
	s.failN, s.failCode = 0, 0
}

// FailNext makes the next n send requests (POST /emails and
// /emails/batch, after auth) fail with status and Resend's error body for
// it (429 with rate-limit headers). Status 0 drops the connection
// without an answer, a network error for the client.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, status
}

// takeFailure consumes one injected failure.
func (s *Server) takeFailure() (status int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN <= 0 {
		return 0, false
	}
	s.failN--
	return s.failCode, true
}

// store adds m and wakes WaitFor; s.mu must be held.
func (s *Server) store(m Message) {
	s.byID[m.ID] = len(s.msgs)
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	if s.log != nil {
		s.log.Info("resendfake: caught mail", "id", m.ID, "to", m.To, "subject", m.Subject)
	}
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /emails", s.send)
	s.mux.HandleFunc("POST /emails/batch", s.batch)
	s.mux.HandleFunc("GET /emails", s.list)
	s.mux.HandleFunc("GET /emails/{id}", s.get)
	s.mux.HandleFunc("GET /{$}", s.inbox)
	s.mux.HandleFunc("GET /view/{id}", s.view)
}
