// Package inventory is the "inventory" Cloud Function: the software installed
// on one machine, as its agent last reported it (api.md §2.9, E24).
//
// Documents (datamodel.md §2.4): sites/{siteId}/machines/{machineId}/
// installed_software/{name_version}, written by the agent (a full resync
// deletes and rewrites them). The route is G-MEMBER: site owner, assigned
// user or admin, by session, API key or Bearer ID token (api.md §0.1).
package inventory

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "inventory"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/software-inventory"},
	Timeout: 60 * time.Second,
	Config:  config.Session,
}

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := &handlers{d: rt.D}
	rt.Handle("GET /api/admin/software-inventory", guard.Member, ratelimit.API, h.list)
}

type handlers struct{ d *app.Deps }
