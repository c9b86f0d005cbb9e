// Package deploymentsweeper is the "deploymentsweeper" Cloud Function, the
// original's sweepStaleDeployments (datamodel.md §7.2): called by Cloud
// Scheduler every 5 minutes (functions/registry), it fails deployment targets
// that are stuck: still pending 15 minutes after the deployment was created
// (the agent never started) or still downloading, installing or
// uninstalling after 30 minutes, and re-aggregates the deployment's status.
//
// It is an HTTP function of its own, not an /api route: Scheduler calls its
// URL directly, authenticated by guard.Cron (the job's OIDC token, or
// X-Cron-Secret for the local scheduler and manual runs); anything else gets
// 401 {"error":"Unauthorized"}. A successful sweep answers 200
// {"success":true, "sitesScanned", "deploymentsChecked",
// "deploymentsUpdated", "targetsTimedOut", "deploymentsWithoutCreatedAt"}.
package deploymentsweeper

import (
	"time"

	"net/http"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/web"
)

// Name is the function's entry point, service name and scheduler job id
// (functions/registry).
const Name = "deploymentsweeper"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.Scheduled, Register: Register,
	Cron: "*/5 * * * *", Method: "POST",
	Timeout: 60 * time.Second,
	Config:  config.Cron | config.Scheduler,
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
	// The route's deadline (web.DefaultDeadline) leaves room inside the 60 s
	// function timeout.
	ctx := r.Context()
	res, err := Sweep(ctx, h.d, h.d.Now())
	if err != nil {
		// Partial progress is kept; the next run retries the rest.
		return web.Internal(err)
	}
	return web.OK(w, map[string]any{
		"success": true, "sitesScanned": res.Sites, "deploymentsChecked": res.Checked,
		"deploymentsUpdated": res.Updated, "targetsTimedOut": res.TimedOut,
		"deploymentsWithoutCreatedAt": res.Unparseable,
	})
}
