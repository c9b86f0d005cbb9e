// Package agentauth is the "agentauth" Cloud Function: how agents obtain and
// keep their credentials (api.md §1.8, §2.4, §3 X01–X03; datamodel.md §4).
//
//   - E14 POST /api/agent/auth/exchange: registration code → tokens (legacy)
//   - E15 POST /api/agent/auth/refresh: refresh token → new access token
//   - E16 POST /api/agent/generate-installer: a member creates a registration code
//   - X01 POST /api/agent/auth/device-code: an agent starts pairing
//   - X02 POST /api/agent/auth/device-code/authorize: a member approves a phrase
//   - X03 POST /api/agent/auth/device-code/poll: the agent collects its tokens once
//
// Access tokens are Firebase ID tokens minted by shared/agenttoken. Upstream
// failures never surface as 401/403 (agents wipe their credentials on those):
// they are 503 when transient, else 500.
package agentauth

import (
	"context"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/pairphrase"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "agentauth"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/agent/auth/**", "/api/agent/generate-installer"},
	Timeout: 60 * time.Second,
	Config:  config.Session | config.AgentTokens,
}

const (
	// DeviceCodeTTL is how long a pair phrase can be authorized and polled.
	DeviceCodeTTL = 10 * time.Minute
	// PollInterval is the polling interval told to agents, in seconds.
	PollInterval = 5
	// PhraseDraws is how many phrases X01 tries before giving up.
	PhraseDraws = 5
	// PlaceholderExpiresIn is the expiresIn X03 reports for a token bound to
	// a placeholder machine id: well under the agent's 300 s refresh lead, so
	// it refreshes at once and E15 rebinds the token to its hostname.
	PlaceholderExpiresIn = 60
	// conflictRetries bounds the read → conditional write loops.
	conflictRetries = 3
)

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) { register(rt, agenttoken.New(rt.D)) }

func register(rt *app.Router, m *agenttoken.Minter) {
	route(rt, &handlers{d: rt.D, m: m, phrase: pairphrase.Generate})
}

func route(rt *app.Router, h *handlers) {
	rt.Handle("POST /api/agent/auth/exchange", guard.Public, ratelimit.TokenExchange, h.exchange)
	// Refresh and poll are limited per token / device (the handler charges
	// the budget once the secret checks out) behind a generous per-address
	// ceiling, so a fleet behind one NAT keeps working (DECISIONS §3).
	rt.Handle("POST /api/agent/auth/refresh", guard.Public, ratelimit.TokenRefresh, h.refresh, app.AddressCeiling(AddressCeiling))
	rt.Handle("POST /api/agent/generate-installer", guard.SessionSite, ratelimit.None, h.generateInstaller)
	rt.Handle("POST /api/agent/auth/device-code", guard.Public, ratelimit.TokenExchange, h.deviceCode)
	rt.Handle("POST /api/agent/auth/device-code/authorize", guard.SessionSite, ratelimit.TokenExchange, h.authorize)
	rt.Handle("POST /api/agent/auth/device-code/poll", guard.Public, ratelimit.API, h.poll, app.AddressCeiling(AddressCeiling))
}

// AddressCeiling multiplies the per-address budgets of refresh and poll.
// A valid refresh is charged to its token and its machine (120 an hour
// each), never to its address, so a fleet behind one NAT refreshes freely;
// the address counts only failed refreshes, up to 120 × AddressCeiling an
// hour before a flood of guessed tokens is refused.
const AddressCeiling = 20

type handlers struct {
	d *app.Deps
	m *agenttoken.Minter
	// phrase draws a pair phrase (tests make it collide).
	phrase func() (string, error)
}

// fail renders an upstream failure: 503 with Retry-After when transient,
// else 500; *web.Error values pass through.
func fail(w http.ResponseWriter, what string, err error) error {
	e := agenttoken.HTTPError(what, err)
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	return e
}

// secret marks a response that carries credentials as not cacheable.
func secret(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// cleanup runs a compensating or housekeeping write that must happen even if
// the client went away.
func cleanup(r *http.Request, what string, f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := f(ctx); err != nil && !store.NotFound(err) {
		logging.From(r.Context()).Warn(what+" failed", "error", err.Error())
	}
}

// dropExpired deletes an expired device document (only if unchanged since it
// was read) together with the refresh token it may hold undelivered, so no
// orphaned, never-delivered refresh token stays valid.
func (h *handlers) dropExpired(r *http.Request, snap *firestore.DocumentSnapshot) {
	cleanup(r, "deleting an expired device code", func(ctx context.Context) error {
		b := h.d.Firestore.Batch()
		b.Delete(snap.Ref, firestore.LastUpdateTime(snap.UpdateTime))
		if rt := str(snap.Data()["refreshToken"]); rt != "" {
			b.Delete(agenttoken.RefreshRef(h.d.Firestore, rt))
		}
		_, err := b.Commit(ctx)
		if conflict(err) {
			return nil // changed or gone meanwhile: not ours to delete
		}
		return err
	})
}

// str returns v when it is a non-empty string.
func str(v any) string { s, _ := v.(string); return s }

// expired reports whether a stored expiry (timestamp or ms) is past; a
// missing or unreadable one counts as expired when required.
func expired(v any, now time.Time, required bool) bool {
	ms, ok := store.Millis(v)
	if !ok {
		return required
	}
	return now.UnixMilli() > ms
}

func checkMachine(field, machineID, version string) error {
	if len(machineID) > agenttoken.MaxMachineIDLen {
		return web.Errorf(http.StatusBadRequest, "Field %q is too long (at most %d characters)", field, agenttoken.MaxMachineIDLen)
	}
	if len(version) > agenttoken.MaxVersionLen {
		return web.Errorf(http.StatusBadRequest, "Field \"version\" is too long (at most %d characters)", agenttoken.MaxVersionLen)
	}
	return nil
}
