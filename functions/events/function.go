// Package events is the "events" Cloud Function: simulated alert events
// (E43, api.md §2.16), with which an admin checks that e-mails and webhooks
// arrive. Like the agent's own alerts (functions/alerts) it sends nothing
// itself: it queues one notification_queue document (shared/notify) that a
// trigger delivers (DECISIONS §2 5.15, §4).
package events

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "events"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/events/**"},
	Timeout: 60 * time.Second,
	Config:  config.Session | config.Email,
}

func init() { Spec.Serve() }

// Register adds the group's routes. E43 spends the agent-alert budget,
// shared with E17 (api.md §1.6).
func Register(rt *app.Router) {
	h := handlers{rt.D}
	rt.Handle("POST /api/admin/events/simulate", guard.AdminSite, ratelimit.AgentAlert, h.simulate)
}

type handlers struct{ d *app.Deps }
