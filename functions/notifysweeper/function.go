// Package notifysweeper is the "notifysweeper" Cloud Function, called by
// Cloud Scheduler every minute (functions/registry): it finds notification
// jobs that need a worker — retries that are due (webhook backoff, Resend
// outages), leases of workers that died, jobs whose trigger never fired —
// and processes them (shared/delivery). Callers authenticate with
// guard.Cron (the job's OIDC token, or X-Cron-Secret).
package notifysweeper

import (
	"time"

	"net/http"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/delivery"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/web"
)

// Name is the function's entry point, service name and scheduler job id.
const Name = "notifysweeper"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.Scheduled, Register: Register,
	Cron: "*/1 * * * *", Method: "POST",
	Timeout: 120 * time.Second,
	Config:  config.Cron | config.Scheduler | config.Email | config.Webhooks,
}

func init() { Spec.Serve() }

// Register adds the sweep route: any path, GET or POST. Its deadline stays
// inside the function's 120 s timeout.
func Register(rt *app.Router) {
	h := handler{rt.D}
	rt.Handle("GET /", guard.Cron, ratelimit.None, h.sweep, app.WithDeadline(delivery.SweepDeadline))
	rt.Handle("POST /", guard.Cron, ratelimit.None, h.sweep, app.WithDeadline(delivery.SweepDeadline))
}

type handler struct{ d *app.Deps }

func (h handler) sweep(w http.ResponseWriter, r *http.Request) error {
	res, err := delivery.For(h.d).Sweep(r.Context())
	if err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true, "due": res.Due, "stale": res.Stale, "missed": res.Missed,
		"processed": res.Processed, "errors": res.Errors})
}
