// Package cortexescalation is the "cortexescalation" Cloud Function, the
// schedule the original never had (datamodel.md §7.5, §12 item 17): called
// by Cloud Scheduler every 5 minutes (functions/registry), it runs
// autonomous.Sweep —
//   - events a machine's local Cortex flagged escalationPending (one
//     collection-group query, not a scan of every site) become escalation
//     e-mail jobs (notification_queue, healthAlerts recipients, summary cut
//     to 2,000 characters) and are marked processed, once each;
//   - investigations that have held a concurrency slot for longer than the
//     investigation function's timeout (their instance died, or their
//     trigger never came) are abandoned, their event marked failed and
//     their slot given back.
//
// E55 and E56 (functions/cortex) run the same sweep on demand.
//
// Like every scheduled function it is an HTTP function of its own,
// authenticated by guard.Cron (the job's OIDC token, X-Cron-Secret, or
// Authorization: Bearer with CRON_SECRET); anything else gets 401. A sweep
// answers 200 {"success":true, "processed", "errors", "reclaimed"}.
package cortexescalation

import (
	"net/http"
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/autonomous"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/web"
)

// Name is the function's entry point, service name and scheduler job id
// (functions/registry).
const Name = "cortexescalation"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.Scheduled, Register: Register,
	Cron: "*/5 * * * *", Method: "POST",
	Timeout: 120 * time.Second,
	Config:  config.Cron | config.Scheduler | config.Email,
}

func init() { Spec.Serve() }

// Register adds the sweep route: any path, GET or POST.
func Register(rt *app.Router) {
	h := &handler{d: rt.D}
	rt.Handle("GET /", guard.Cron, ratelimit.None, h.sweep)
	rt.Handle("POST /", guard.Cron, ratelimit.None, h.sweep)
}

type handler struct{ d *app.Deps }

func (h *handler) sweep(w http.ResponseWriter, r *http.Request) error {
	// The route's deadline (web.DefaultDeadline) fits the 120 s function
	// timeout; what a run leaves is taken by the next.
	res, err := autonomous.Sweep(r.Context(), h.d)
	if err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true, "processed": res.Processed, "errors": res.Errors, "reclaimed": res.Reclaimed})
}
