// Package mfa is the "mfa" Cloud Function: TOTP enrolment and the second
// sign-in step (api.md §1.10, §2.2, E04–E06), enforced by the server
// (DECISIONS.md §3).
//
//   - E04 POST /api/mfa/setup: a 160-bit secret and its QR code; the
//     secret waits, encrypted, in mfa_pending/{uid} for 10 minutes. A
//     second call within 5 minutes, before enrolment, answers the same
//     secret without a write (the setup page calls it twice).
//   - E05 POST /api/mfa/verify-setup: a code from the new secret enrols the
//     user (encrypted secret, hashed backup codes) and revokes the user's
//     other sessions.
//   - E06 POST /api/mfa/verify-login: a TOTP code or a single-use backup code
//     completes a pending session. The only MFA route a pending session may
//     call.
//
// A TOTP code is accepted once: the last accepted time step is kept per user
// in mfa_state/{uid} (server-only), and a code of that step or an earlier
// one is refused. Wrong codes are counted per user and per client IP
// (ratelimit.Failures); past the limit the routes answer 429 until the
// window ends.
package mfa

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "mfa"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/mfa/**"},
	Timeout: 30 * time.Second,
	Config:  config.Session | config.MFA,
}

// Firestore collections of the group.
const (
	PendingCollection = "mfa_pending" // setups awaiting their first code
	StateCollection   = "mfa_state"   // last accepted TOTP step per user
)

// PendingTTL is how long a started setup may be completed.
const PendingTTL = 10 * time.Minute

// Failed-attempt limits for codes (DECISIONS.md §3): per user and per IP.
var (
	UserFailures = ratelimit.FailurePolicy{Name: "mfa-user", Limit: 5, Window: 15 * time.Minute}
	IPFailures   = ratelimit.FailurePolicy{Name: "mfa-ip", Limit: 20, Window: 15 * time.Minute}
)

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := handlers{
		d:         rt.D,
		userFails: ratelimit.NewFailures(rt.D.Firestore, UserFailures, rt.D.Now),
		ipFails:   ratelimit.NewFailures(rt.D.Firestore, IPFailures, rt.D.Now),
	}
	rt.Handle("POST /api/mfa/setup", guard.Self, ratelimit.Auth, h.setup)
	rt.Handle("POST /api/mfa/verify-setup", guard.Self, ratelimit.Auth, h.verifySetup)
	rt.Handle("POST /api/mfa/verify-login", guard.Self.AllowPendingMFA(), ratelimit.Auth, h.verifyLogin)
}

type handlers struct {
	d                  *app.Deps
	userFails, ipFails *ratelimit.Failures
}
