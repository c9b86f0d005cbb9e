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

// reserveAttempt counts this code attempt against the user and the client
// address before the code is verified (DECISIONS §3: atomic failed-attempt
// limits), answering 429 when either has used up its attempts. A verified
// code gives the attempt back (release); a wrong one keeps it counted.
func (h handlers) reserveAttempt(w http.ResponseWriter, r *http.Request, uid string) (*ratelimit.Reservation, error) {
	res, err := ratelimit.Reserve(r.Context(),
		ratelimit.Attempt{F: h.userFails, Key: uid},
		ratelimit.Attempt{F: h.ipFails, Key: web.ClientIP(r)})
	if until, blocked := ratelimit.IsBlocked(err); blocked {
		return nil, tooMany(w, until, h.d.Now())
	}
	if err != nil {
		// Contention on the counters (many attempts at once) is not a
		// reason to verify without counting.
		return nil, web.Unavailable("Too many verification attempts at once: please try again", err)
	}
	return res, nil
}

// release gives back the attempt of a verified code.
func release(ctx context.Context, res *ratelimit.Reservation) {
	if err := res.Release(ctx); err != nil {
		logging.From(ctx).Warn("verified MFA attempt not given back", "error", err.Error())
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
