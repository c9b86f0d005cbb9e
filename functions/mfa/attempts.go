package mfa

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/web"
)

// checkAttempts answers 429 when the user or the client IP has used up its
// failed attempts.
func (h handlers) checkAttempts(w http.ResponseWriter, r *http.Request, uid string) error {
	ctx := r.Context()
	var until time.Time
	for _, c := range []struct {
		f   *ratelimit.Failures
		key string
	}{{h.userFails, uid}, {h.ipFails, ratelimit.ClientIP(r)}} {
		blocked, u, err := c.f.Blocked(ctx, c.key)
		if err != nil {
			return web.Internal(err)
		}
		if blocked && u.After(until) {
			until = u
		}
	}
	if until.IsZero() {
		return nil
	}
	return tooMany(w, until, h.d.Now())
}

// failed counts a wrong code against the user and the client IP.
func (h handlers) failed(ctx context.Context, r *http.Request, uid string) {
	for _, c := range []struct {
		f   *ratelimit.Failures
		key string
	}{{h.userFails, uid}, {h.ipFails, ratelimit.ClientIP(r)}} {
		if _, _, err := c.f.Failure(context.WithoutCancel(ctx), c.key); err != nil {
			logging.From(ctx).Warn("failed MFA attempt not counted", "error", err.Error())
		}
	}
}

func tooMany(w http.ResponseWriter, until, now time.Time) error {
	secs := int64(until.Sub(now)+time.Second-1) / int64(time.Second)
	secs = max(secs, 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return web.Errorf(http.StatusTooManyRequests, "Too many failed verification attempts: try again in %d seconds", secs).With("retryAfter", secs)
}

// acceptStep records step as the user's last accepted TOTP step inside tx,
// refusing a step that is not newer than the last one (a replayed code).
func acceptStep(tx *firestore.Transaction, ref *firestore.DocumentRef, step int64, now time.Time, enrol bool) error {
	snap, err := tx.Get(ref)
	if err != nil && (snap == nil || snap.Exists()) {
		return err
	}
	if snap.Exists() && !enrol {
		if last, ok := snap.Data()["lastStep"].(int64); ok && step <= last {
			return errReplayed
		}
	}
	return tx.Set(ref, map[string]any{"lastStep": step, "updatedAt": now})
}

var (
	errReplayed   = web.BadRequest("This code has already been used: wait for the next code from your authenticator app")
	errWrongCode  = web.BadRequest("Invalid verification code")
	errWrongBcode = web.BadRequest("Invalid backup code")
)
