package web

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/owlette/server/shared/logging"
)

// DefaultDeadline is a route's request deadline unless it declares another:
// Firebase Hosting ends a rewritten request after 60 s, so an answer must
// come before that.
const DefaultDeadline = 50 * time.Second

// deadlineGrace is how long a handler whose context has ended may take to
// render its own error before the watchdog answers for it.
var deadlineGrace = 2 * time.Second

// Deadline gives every request of next a context that ends after d, so every
// Firestore call made for it carries a deadline. If next has still not
// returned shortly after d (a call that ignores its context), the request is
// answered 504 with a JSON error and whatever next writes later is dropped:
// a request ends with an answer, never silence.
func Deadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := w.(*Recorder)
		if !ok {
			rec = NewRecorder(w)
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		r = r.WithContext(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						return
					}
					logging.From(ctx).Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					if !rec.Written() {
						RenderError(rec, r, Internal(fmt.Errorf("panic: %v", p)))
					}
				}
			}()
			next.ServeHTTP(rec, r)
		}()
		timer := time.NewTimer(d + deadlineGrace)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			if rec.Abort(http.StatusGatewayTimeout, "The request took too long: please try again") {
				logging.From(ctx).Error("request deadline passed without an answer: answered 504", "deadline", d.String())
			} else {
				logging.From(ctx).Error("request deadline passed while streaming: response ended", "deadline", d.String())
			}
		}
	})
}
