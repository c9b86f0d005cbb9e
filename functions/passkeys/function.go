// Package passkeys is the "passkeys" Cloud Function: WebAuthn registration,
// passkey sign-in and passkey management (api.md §1.11, §2.3, E07–E13),
// with github.com/go-webauthn/webauthn.
//
//   - E07/E08 register options/verify: a signed-in user adds a passkey.
//   - E09/E10 authenticate options/verify: pre-login; a discoverable passkey
//     signs the user in with a new session that counts as MFA-complete, plus
//     a Firebase custom token.
//   - E11 list, E12 rename, E13 delete.
//
// Challenges live in webauthn_challenges/{id} for 10 minutes and are
// consumed (read and deleted in one transaction) before they are checked, so
// each is used at most once. The library's session data is kept with the
// challenge, so what was requested at the start (user verification,
// extensions, algorithms) is what the finish step verifies. Verification
// requires user verification and a signature counter that increases when
// either side is non-zero, as the original's library does; the new counter is
// stored on every sign-in.
//
// MFA (DECISIONS.md §3): a session still waiting for its second factor may
// list passkeys, and anyone may sign in with one (E09/E10 are pre-login), but
// registering, renaming and deleting passkeys need a complete session: a
// password alone must not be enough to add a passkey, which would then sign
// in as MFA-complete.
package passkeys

import (
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "passkeys"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/passkeys/**"},
	Timeout: 30 * time.Second,
	Config:  config.Session | config.Passkeys,
}

const (
	// ChallengeCollection holds outstanding ceremonies.
	ChallengeCollection = "webauthn_challenges"
	// ChallengeTTL is how long a ceremony may take.
	ChallengeTTL = 10 * time.Minute
	// MaxNameLength bounds a passkey's friendly name.
	MaxNameLength = 50
	// DefaultName names a passkey registered without a name.
	DefaultName = "Passkey"
	// SessionDuration is the lifetime of a passkey sign-in (api.md §1.4).
	SessionDuration = 7 * 24 * time.Hour
	// RPName is the relying party's display name.
	RPName = "Owlette"
	// ceremonyTimeout is the client-side timeout sent in the options.
	ceremonyTimeout = 60 * time.Second
)

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := &handlers{d: rt.D}
	h.wa, h.waErr = newWebAuthn(rt.D)
	if h.waErr != nil {
		rt.D.Log.Error("passkeys are not configured", "error", h.waErr.Error())
	}
	rt.Handle("POST /api/passkeys/register/options", guard.Self, ratelimit.Auth, h.registerOptions)
	rt.Handle("POST /api/passkeys/register/verify", guard.Self, ratelimit.Auth, h.registerVerify)
	rt.Handle("POST /api/passkeys/authenticate/options", guard.Public, ratelimit.Auth, h.authenticateOptions)
	rt.Handle("POST /api/passkeys/authenticate/verify", guard.Public, ratelimit.Auth, h.authenticateVerify)
	rt.Handle("GET /api/passkeys/list", guard.Self.AllowPendingMFA(), ratelimit.Auth, h.list)
	rt.Handle("PATCH /api/passkeys/{credentialId}", guard.Self, ratelimit.Auth, h.rename)
	rt.Handle("DELETE /api/passkeys/{credentialId}", guard.Self, ratelimit.Auth, h.remove)
}

type handlers struct {
	d     *app.Deps
	wa    *webauthn.WebAuthn
	waErr error
}

// newWebAuthn configures the relying party from the configuration
// (WEBAUTHN_RP_ID, WEBAUTHN_ORIGINS, or the defaults of api.md §1.11).
func newWebAuthn(d *app.Deps) (*webauthn.WebAuthn, error) {
	rpID, origins := d.Config.WebAuthn()
	no := false
	return webauthn.New(&webauthn.Config{
		RPID:                  rpID,
		RPDisplayName:         RPName,
		RPOrigins:             origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementPreferred,
			RequireResidentKey: &no,
			UserVerification:   protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
			Registration: webauthn.TimeoutConfig{Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
		},
	})
}
