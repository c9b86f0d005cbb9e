// Package healthcheck is the "healthcheck" Cloud Function: the offline
// health check (datamodel.md §7.4, api.md E63), called by Cloud Scheduler
// every 5 minutes (functions/registry). Machines marked online whose last
// heartbeat is older than 3 minutes alert, at most once an hour each: one
// e-mail job per site, one machine.offline webhook job per machine
// (shared/fleetwatch does the work; E63 in functions/utilities runs the
// same code).
//
// It is an HTTP function of its own, not an /api route: Scheduler calls its
// URL, authenticated by guard.Cron (the job's OIDC token, or X-Cron-Secret
// for the local scheduler and manual runs); anything else gets 401. It
// answers like E63: {"ok":true, "sitesChecked", "machinesChecked",
// "alertsSent", "webhooksQueued", "offlineMachines"?}.
package healthcheck

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point, service name and scheduler job id
// (functions/registry).
const Name = "healthcheck"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.Scheduled, Register: Register,
	Cron: "*/5 * * * *", Method: "POST",
	Timeout: 120 * time.Second,
	Config:  config.Cron | config.Scheduler | config.Email,
}

func init() { Spec.Serve() }

// deadline stays inside the function's 120 s timeout (the scheduled job is
// not behind Hosting's 60 s).
const deadline = 100 * time.Second

// Register adds the check's route: any path, GET or POST.
func Register(rt *app.Router) {
	h := fleetwatch.ScheduledHandler(rt.D)
	rt.Handle("GET /", guard.Cron, ratelimit.None, h, app.WithDeadline(deadline))
	rt.Handle("POST /", guard.Cron, ratelimit.None, h, app.WithDeadline(deadline))
}
