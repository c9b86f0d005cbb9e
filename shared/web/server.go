package web

import (
	"net/http"
	"time"
)

// Timeouts of every HTTP server this repository runs itself (the dev server,
// the trigger relay, the local fakes): a client that sends its headers or
// body slowly, or a body shorter than its Content-Length, cannot hold a
// connection open. There is no write timeout: streaming answers (cortex)
// and long waits (commands) end by their request deadline instead.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = DefaultBodyTimeout + ReadHeaderTimeout
	IdleTimeout       = 2 * time.Minute
)

// NewServer returns an http.Server for h with those timeouts. Errors Go's
// server writes before any handler runs (a malformed request line, headers
// over MaxHeaderBytes) stay plain text: net/http gives no hook for them;
// everything a handler sees is answered in JSON (an over-long URL within
// the header limit gets a JSON 414 from CheckInput).
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    http.DefaultMaxHeaderBytes,
	}
}
