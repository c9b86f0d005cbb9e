// Package machines is the "machines" Cloud Function: a site's machines —
// list, status, agent self-update (api.md §2.7, E19–E21).
//
// Machine documents (datamodel.md §2.2) are written by the agents, which
// replace them wholesale on flag writes (§12.6, §13): every field may be
// missing, and lastHeartbeat is a Firestore timestamp (or, from older
// writers, ms or an ISO string). Reading one never fails a request (api.md
// §5.2): lastHeartbeat is rendered ISO, or null.
//
// List and status need the admin role (G-ADMIN-SITE); update is open to
// site members (G-MEMBER), as in the original (api.md §0.1).
package machines

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "machines"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/machines", "/api/admin/machines/**"},
	Timeout: 60 * time.Second,
	Config:  config.Session,
}

// MaxTargets bounds the machineIds of one update request (the original had
// no bound; every id costs a write).
const MaxTargets = 1000

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := &handlers{d: rt.D}
	rt.Handle("GET /api/admin/machines", guard.AdminSite, ratelimit.API, h.list)
	rt.Handle("GET /api/admin/machines/status", guard.AdminSite, ratelimit.API, h.status)
	rt.Handle("POST /api/admin/machines/update", guard.Member, ratelimit.API, h.update)
}

type handlers struct{ d *app.Deps }
