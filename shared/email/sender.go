package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/resend/resend-go/v3"
)

// DefaultFrom is the sender when RESEND_FROM_EMAIL is unset (api.md §1.14).
const DefaultFrom = "onboarding@resend.dev"

// DefaultTimeout bounds one send when the caller passes no *http.Client.
const DefaultTimeout = 30 * time.Second

// maxIdempotencyKey is Resend's limit on Idempotency-Key (1–256 chars).
const maxIdempotencyKey = 256

// Message is one e-mail to send.
type Message struct {
	From    string   // optional; the Sender's address when empty
	To      []string // at least one
	CC      []string
	Subject string
	HTML    string
	Text    string
	// Headers are extra MIME headers (e.g. List-Unsubscribe).
	Headers map[string]string
	// IdempotencyKey makes a retried send deliver at most once: Resend
	// answers a repeated key (within 24 h) with the first send's id.
	// Keys longer than Resend's 256 characters are hashed.
	IdempotencyKey string
}

// Sender sends through the Resend Go SDK.
type Sender struct {
	client *resend.Client
	from   string
}

// NewSender builds a Sender. from defaults to DefaultFrom; baseURL is the
// API root ("" = Resend's production API; a resendfake URL in tests and
// `make dev`); hc defaults to a client with DefaultTimeout. hc is not
// modified: the Sender uses a copy whose transport records each answer's
// status, which the SDK's errors do not carry.
func NewSender(apiKey, from, baseURL string, hc *http.Client) (*Sender, error) {
	apiKey = strings.TrimSpace(apiKey)
	if apiKey == "" {
		return nil, errors.New("email: RESEND_API_KEY is not configured")
	}
	if strings.TrimSpace(from) == "" {
		from = DefaultFrom
	}
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		c.Timeout = DefaultTimeout
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = statusTransport{base: base}

	client := resend.NewCustomClient(&c, apiKey)
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("email: invalid Resend base URL %q", baseURL)
		}
		// The SDK resolves "emails" against BaseURL: without a trailing
		// slash the last path segment would be replaced.
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		client.BaseURL = u
	}
	return &Sender{client: client, from: from}, nil
}

// From is the default sender address.
func (s *Sender) From() string { return s.from }

// Send sends m and returns Resend's id for it. A failure is an *Error (or
// wraps ErrInvalidMessage); IsPermanent tells whether to retry.
func (s *Sender) Send(ctx context.Context, m Message) (string, error) {
	req, err := s.request(m)
	if err != nil {
		return "", err
	}
	// Never a nil *SendEmailOptions: the SDK stores it in an interface and
	// calls a value method on it (panic). An empty key sends no header.
	opts := &resend.SendEmailOptions{IdempotencyKey: idempotencyKey(m.IdempotencyKey)}
	rec := &answer{}
	resp, err := s.client.Emails.SendWithOptions(withAnswer(ctx, rec), req, opts)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "[ERROR]: ")
		if rec.status >= 200 && rec.status < 300 {
			// The mail went out but its answer did not decode: report it
			// as transient; the idempotency key makes the retry harmless.
			rec.status = 0
		}
		return "", &Error{Status: rec.status, Message: msg, Err: err}
	}
	return resp.Id, nil
}

func (s *Sender) request(m Message) (*resend.SendEmailRequest, error) {
	from := strings.TrimSpace(m.From)
	if from == "" {
		from = s.from
	}
	to := addresses(m.To, nil)
	cc := addresses(m.CC, to)
	subject := CleanSubject(m.Subject)
	switch {
	case len(to) == 0:
		return nil, fmt.Errorf("%w: no recipient", ErrInvalidMessage)
	case subject == "":
		return nil, fmt.Errorf("%w: empty subject", ErrInvalidMessage)
	case m.HTML == "" && m.Text == "":
		return nil, fmt.Errorf("%w: empty body", ErrInvalidMessage)
	case hasLineBreak(from) || anyLineBreak(to) || anyLineBreak(cc):
		return nil, fmt.Errorf("%w: line break in an address", ErrInvalidMessage)
	}
	var headers map[string]string
	for k, v := range m.Headers {
		if k == "" || hasLineBreak(k) || hasLineBreak(v) || strings.ContainsRune(k, ':') {
			return nil, fmt.Errorf("%w: invalid header %q", ErrInvalidMessage, k)
		}
		if headers == nil {
			headers = make(map[string]string, len(m.Headers))
		}
		headers[k] = v
	}
	return &resend.SendEmailRequest{
		From: from, To: to, Cc: cc, Subject: subject,
		Html: m.HTML, Text: m.Text, Headers: headers,
	}, nil
}

// addresses trims list, drops empties and duplicates (case-insensitive)
// and anything already in exclude: a CC that is also a To is sent once.
func addresses(list, exclude []string) []string {
	seen := make(map[string]bool, len(list)+len(exclude))
	for _, a := range exclude {
		seen[strings.ToLower(a)] = true
	}
	var out []string
	for _, a := range list {
		a = strings.TrimSpace(a)
		if a == "" || seen[strings.ToLower(a)] {
			continue
		}
		seen[strings.ToLower(a)] = true
		out = append(out, a)
	}
	return out
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }

func anyLineBreak(list []string) bool {
	for _, s := range list {
		if hasLineBreak(s) {
			return true
		}
	}
	return false
}

// idempotencyKey keeps keys within Resend's limit; a longer key becomes
// its SHA-256 (stable, so a retry still carries the same key).
func idempotencyKey(k string) string {
	k = strings.TrimSpace(k)
	if len(k) <= maxIdempotencyKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// answer receives the status of the HTTP response a send got.
type answer struct{ status int }

type answerKey struct{}

func withAnswer(ctx context.Context, a *answer) context.Context {
	return context.WithValue(ctx, answerKey{}, a)
}

// statusTransport records the response status in the request's answer,
// because the SDK turns most non-2xx answers into plain strings.
type statusTransport struct{ base http.RoundTripper }

func (t statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if a, ok := r.Context().Value(answerKey{}).(*answer); ok && resp != nil {
		a.status = resp.StatusCode
	}
	return resp, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (t statusTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
