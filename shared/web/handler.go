package web

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
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

// Recorder remembers the status written through it.
type Recorder struct {
	http.ResponseWriter
	Status int
	Bytes  int
	// BeforeWrite, when set, runs once before the header is sent and may
	// replace the status (returning a different code) – used by the
	// authorization backstop.
	BeforeWrite func(status int) int
	blocked     bool
}

func NewRecorder(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

func (r *Recorder) Written() bool { return r.Status != 0 }

func (r *Recorder) WriteHeader(code int) {
	if r.Status != 0 {
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
	if r.Status == 0 {
		r.WriteHeader(http.StatusOK)
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
	if f, ok := r.ResponseWriter.(http.Flusher); ok && !r.blocked {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

var securityHeader = map[string]bool{
	"X-Frame-Options": true, "X-Content-Type-Options": true, "Referrer-Policy": true,
	"Permissions-Policy": true, "X-Xss-Protection": true, "X-Request-Id": true,
}

// Middleware wraps every function: request id, request logger with trace
// correlation, panic recovery, security headers, CORS for /api/admin and an
// access log line.
func Middleware(base *slog.Logger, project string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := requestID(r)
		log := base.With("requestId", rid, "method", r.Method, "path", r.URL.Path)
		if t := traceID(r); t != "" && project != "" {
			log = log.With("logging.googleapis.com/trace", "projects/"+project+"/traces/"+t)
		}
		r = r.WithContext(logging.With(r.Context(), log))
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
