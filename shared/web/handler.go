package web

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/owlette/server/shared/logging"
)

// HandlerFunc is an HTTP handler that returns its failure instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h to http.Handler: an error is rendered by RenderError unless
// the handler already wrote a response.
func Handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*Recorder)
		if !ok {
			rec = NewRecorder(w)
			w = rec
		}
		if err := h(w, r); err != nil {
			if rec.Written() {
				logging.From(r.Context()).Error("handler failed after writing its response", "error", err.Error())
				return
			}
			RenderError(w, r, err)
		}
	})
}

// RenderError is the one place errors become responses: the public message
// and status go to the client, the cause goes to the log.
func RenderError(w http.ResponseWriter, r *http.Request, err error) {
	e := AsError(err)
	log := logging.From(r.Context())
	attrs := []any{"status", e.Status, "public", e.Message}
	if e.Cause != nil {
		attrs = append(attrs, "cause", e.Cause.Error())
	}
	if e.Status >= 500 {
		log.Error("request failed", attrs...)
	} else {
		log.Info("request rejected", attrs...)
	}
	body := M{"error": e.Message}
	for k, v := range e.Fields {
		body[k] = v
	}
	_ = JSON(w, e.Status, body)
}

// Recorder remembers the status written through it. Its methods are safe
// for concurrent use, so a deadline watchdog (Deadline) can answer for a
// handler that is still running.
type Recorder struct {
	http.ResponseWriter
	Status int
	Bytes  int
	// BeforeWrite, when set, runs once before the header is sent and may
	// replace the status (returning a different code) – used by the
	// authorization backstop and the failed-attempt limits.
	BeforeWrite func(status int) int

	mu      sync.Mutex
	blocked bool // status replaced by BeforeWrite: the handler's body is dropped
	closed  bool // answered by Abort: everything the handler writes is dropped
}

func NewRecorder(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

// Written reports whether a status has been sent.
func (r *Recorder) Written() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.Status != 0 }

func (r *Recorder) WriteHeader(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeHeader(code)
}

func (r *Recorder) writeHeader(code int) {
	if r.Status != 0 || r.closed {
		return
	}
	if r.BeforeWrite != nil {
		if c := r.BeforeWrite(code); c != code {
			r.Status = c
			r.blocked = true
			h := r.ResponseWriter.Header()
			for k := range h {
				if strings.HasPrefix(k, "X-Ratelimit") || strings.HasPrefix(k, "Ratelimit") || strings.HasPrefix(k, "Access-Control") || securityHeader[k] {
					continue
				}
				h.Del(k)
			}
			h.Set("Content-Type", "application/json")
			r.ResponseWriter.WriteHeader(c)
			fmt.Fprintf(r.ResponseWriter, `{"error":%q}`, http.StatusText(c))
			return
		}
	}
	r.Status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *Recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, http.ErrHandlerTimeout
	}
	if r.Status == 0 {
		r.writeHeader(http.StatusOK)
	}
	if r.blocked {
		return len(b), nil
	}
	n, err := r.ResponseWriter.Write(b)
	r.Bytes += n
	return n, err
}

// Flush supports streaming responses.
func (r *Recorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.ResponseWriter.(http.Flusher); ok && !r.blocked && !r.closed {
		f.Flush()
	}
}

// Abort answers with a JSON error when nothing has been sent yet, and from
// then on drops whatever the handler still writes. It reports whether it
// answered.
func (r *Recorder) Abort(status int, msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.closed = true
	if r.Status != 0 {
		return false
	}
	r.Status = status
	r.ResponseWriter.Header().Set("Content-Type", "application/json")
	r.ResponseWriter.WriteHeader(status)
	n, _ := fmt.Fprintf(r.ResponseWriter, `{"error":%q}`, msg)
	r.Bytes += n
	return true
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

var securityHeader = map[string]bool{
	"X-Frame-Options": true, "X-Content-Type-Options": true, "Referrer-Policy": true,
	"Permissions-Policy": true, "X-Xss-Protection": true, "X-Request-Id": true,
}

// Options configure Middleware.
type Options struct {
	// Project is the Cloud project id, for trace correlation in logs.
	Project string
	// Client says how to find the client address (see ClientAddr).
	Client ClientAddr
	// BodyTimeout bounds the time to receive the request body, so a body
	// shorter than its Content-Length cannot hold a request open; 0 means
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
}

// DefaultBodyTimeout is the time a client has to send its request body
// (a 15 MB screenshot on a slow uplink included).
const DefaultBodyTimeout = 60 * time.Second

// Middleware wraps every function: request id, client address, request
// logger with trace correlation, a body read deadline, panic recovery,
// security headers, CORS for /api/admin and an access log line.
func Middleware(base *slog.Logger, o Options, next http.Handler) http.Handler {
	bodyTimeout := o.BodyTimeout
	if bodyTimeout <= 0 {
		bodyTimeout = DefaultBodyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := requestID(r)
		ip := o.Client.Resolve(r)
		log := base.With("requestId", rid, "method", r.Method, "path", strings.ToValidUTF8(r.URL.Path, "\uFFFD"), "clientIp", ip)
		if t := traceID(r); t != "" && o.Project != "" {
			log = log.With("logging.googleapis.com/trace", "projects/"+o.Project+"/traces/"+t)
		}
		r = r.WithContext(WithClientIP(logging.With(r.Context(), log), ip))
		// Not every server supports it (httptest does not); where it does,
		// a stalled body read fails instead of waiting forever.
		_ = http.NewResponseController(w).SetReadDeadline(start.Add(bodyTimeout))
		rec := NewRecorder(w)
		h := rec.Header()
		h.Set("X-Request-Id", rid)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		h.Set("X-XSS-Protection", "1; mode=block")
		if strings.HasPrefix(r.URL.Path, "/api/admin/") {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, x-api-key, Authorization")
			h.Set("Access-Control-Max-Age", "86400")
		}
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.Written() {
					RenderError(rec, r, Internal(fmt.Errorf("panic: %v", p)))
				}
			}
			log.Info("request", "status", rec.Status, "bytes", rec.Bytes, "latencyMs", time.Since(start).Milliseconds())
		}()
		if r.Method == http.MethodOptions {
			rec.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(rec, r)
	})
}

func requestID(r *http.Request) string {
	if v := r.Header.Get("X-Request-Id"); v != "" && len(v) <= 128 {
		return v
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// traceID extracts the trace id from X-Cloud-Trace-Context or traceparent.
func traceID(r *http.Request) string {
	if v := r.Header.Get("X-Cloud-Trace-Context"); v != "" {
		t, _, _ := strings.Cut(v, "/")
		return t
	}
	if v := r.Header.Get("traceparent"); v != "" {
		if parts := strings.Split(v, "-"); len(parts) == 4 {
			return parts[1]
		}
	}
	return ""
}
