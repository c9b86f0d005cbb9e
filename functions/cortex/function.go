// Package cortex is the "cortex" Cloud Function: the LLM assistant's routes
// (api.md §2.20, E52–E56, X11).
//
//   - E52 POST /api/cortex: chat, streamed. Site-wide (machineId
//     "__site__": every agent tool fans out to all online machines), relayed
//     to the machine's own local Cortex when it is live (legacy data-stream
//     lines), or run on the server for one machine (AI SDK UI message
//     stream, ≤ 10 steps). Agent tools go through the command queue
//     (shared/autonomous/relay); get_site_logs, get_system_presets and
//     deploy_software run here.
//   - E53 POST /api/cortex/autonomous: accept an autonomous investigation
//     (shared/autonomous.Accept); it runs from its job document in the
//     cortexinvestigation trigger, never after this response.
//   - E54 POST /api/cortex/provision-key: hand an LLM key to a machine's
//     local Cortex through the command queue, waiting 15 s.
//   - E55 POST / E56 GET /api/cortex/escalation: pending escalation e-mails
//     and slots of dead investigations (autonomous.Sweep, the same work as
//     the cortexescalation schedule).
//   - X11 POST /api/cortex/categorize: chat titles and categories with the
//     caller's cheap model.
//
// Browser routes take the session cookie only. The site check is G-CORTEX
// as DECISIONS §2 5.6 fixes it: the site must exist (404), and admins,
// the site's owner and assigned users pass (else 403); every failure is
// answered in JSON before a stream starts, never as a 500.
package cortex

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/autonomous/relay"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "cortex"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/cortex", "/api/cortex/**"},
	Timeout: 300 * time.Second,
	Config:  config.Session | config.LLM | config.Internal | config.Cron | config.Email,
}

// CortexSecretHeader carries CORTEX_INTERNAL_SECRET on E53 and E55.
const CortexSecretHeader = "X-Cortex-Secret"

// ChatDeadline is E52's request deadline: room for a 10-step run whose
// relayed tools wait up to 40 s each, inside the function's 300 s timeout
// (its Spec). A run still going ChatRunMargin before it ends its
// stream with an error part instead of being cut off.
const (
	ChatDeadline  = 285 * time.Second
	ChatRunMargin = 10 * time.Second
)

func init() { Spec.Serve() }

// sameTypeGap overrides the relay's same-type spacing (tests with
// time-scaled simulated agents).
var sameTypeGap time.Duration

// Register adds the group's routes.
func Register(rt *app.Router) {
	r := relay.New(rt.D.Firestore, rt.D.Now)
	r.Gap = sameTypeGap
	// One LLM HTTP client per instance (connections reused); no overall
	// timeout: answers stream, and every request has its deadline.
	h := &handlers{d: rt.D, relay: r, client: &http.Client{}}
	rt.Handle("POST /api/cortex", guard.Session, ratelimit.None, h.chat, app.WithDeadline(ChatDeadline))
	rt.Handle("POST /api/cortex/autonomous", guard.Internal(CortexSecretHeader), ratelimit.None, h.autonomous)
	rt.Handle("POST /api/cortex/provision-key", guard.Session, ratelimit.None, h.provisionKey)
	rt.Handle("POST /api/cortex/escalation", guard.Internal(CortexSecretHeader), ratelimit.None, h.escalations)
	rt.Handle("GET /api/cortex/escalation", guard.Cron, ratelimit.None, h.escalations)
	rt.Handle("POST /api/cortex/categorize", guard.Session, ratelimit.None, h.categorize, app.WithDeadline(CategorizeDeadline))
}

type handlers struct {
	d      *app.Deps
	relay  *relay.Relay
	client *http.Client
	lastMs atomic.Int64 // ids with a millisecond (provision_cortex_key_<ms>, deploy-<ms>)
}

// nextMs is now in ms, or one past the last id this instance made.
func (h *handlers) nextMs() int64 {
	now := h.d.Now().UnixMilli()
	for {
		last := h.lastMs.Load()
		ms := max(now, last+1)
		if h.lastMs.CompareAndSwap(last, ms) {
			return ms
		}
	}
}
