// Package alerts is the "alerts" Cloud Function: alerts an agent raises about
// its machine (E17, api.md §2.5) and metric-rule alerts raised internally
// (X09, api.md §3). Neither sends anything itself: each writes one
// notification_queue document (shared/notify) that a trigger delivers as
// e-mails, webhooks and autonomous Cortex runs (DECISIONS §2 5.15, §4).
package alerts

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "alerts"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/agent/alert", "/api/alerts/trigger"},
	Timeout: 60 * time.Second,
	Config:  config.Internal | config.Email,
}

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := handlers{rt.D}
	rt.Handle("POST /api/agent/alert", guard.Agent, ratelimit.AgentAlert, h.agentAlert)
	rt.Handle("POST /api/alerts/trigger", guard.Internal(InternalSecretHeader), ratelimit.None, h.trigger)
}

type handlers struct{ d *app.Deps }
