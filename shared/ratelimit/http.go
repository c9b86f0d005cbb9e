package ratelimit

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ClientIP is the rate-limit identifier of a request (api.md §1.6): the first
// comma-separated entry of X-Forwarded-For (trimmed), else X-Real-IP, else
// X-Railway-IP, else "unknown". An empty candidate falls through to the next.
func ClientIP(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if ip := strings.TrimSpace(first); ip != "" {
			return ip
		}
	}
	for _, h := range []string{"X-Real-IP", "X-Railway-IP"} {
		if ip := strings.TrimSpace(r.Header.Get(h)); ip != "" {
			return ip
		}
	}
	return "unknown"
}

// Middleware limits next by class c, keyed by ClientIP. It runs before next,
// so unauthenticated and invalid calls spend budget too.
//
// Allowed: the response (whatever next writes, 4xx/5xx included) carries
// X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (ms epoch) and
// the IETF draft headers RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset
// (seconds until reset) and RateLimit-Policy ("<limit>;w=<window seconds>").
// When the limiter failed open (Decision.Limit == 0) no headers are set.
//
// Rejected: 429 with the original JSON body, Retry-After and the same headers;
// next is not called. Class None returns next unchanged. An unknown class
// panics (a wiring error, caught at startup).
func (l *Limiter) Middleware(c Class, next http.Handler) http.Handler {
	if c == None {
		return next
	}
	cfg := l.cfg[c]
	if cfg == nil {
		panic("ratelimit: unknown class " + strconv.Quote(string(c)))
	}
	policy := strconv.Itoa(cfg.limit) + ";w=" + strconv.FormatInt(cfg.windowMs/1000, 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := l.Allow(r.Context(), c, ClientIP(r))
		if d.Limit == 0 {
			next.ServeHTTP(w, r)
			return
		}
		secs := secondsUntil(d.Reset, l.now())
		h := w.Header()
		limit, remaining := strconv.Itoa(d.Limit), strconv.Itoa(d.Remaining)
		h.Set("X-RateLimit-Limit", limit)
		h.Set("X-RateLimit-Remaining", remaining)
		h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.UnixMilli(), 10))
		h.Set("RateLimit-Limit", limit)
		h.Set("RateLimit-Remaining", remaining)
		h.Set("RateLimit-Reset", strconv.FormatInt(secs, 10))
		h.Set("RateLimit-Policy", policy)
		if d.Allowed {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"error":"Rate limit exceeded","retryAfter":%d,"message":"Too many requests. Please try again in %d seconds."}`, secs, secs)
	})
}

// secondsUntil is ceil((reset − now) / 1 s), at least 0.
func secondsUntil(reset, now time.Time) int64 {
	ms := reset.UnixMilli() - now.UnixMilli()
	if ms <= 0 {
		return 0
	}
	return (ms + 999) / 1000
}
