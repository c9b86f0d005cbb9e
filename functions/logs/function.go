// Package logs is the "logs" Cloud Function: a site's event log, newest first,
// filtered by action, level, machine and time (api.md §2.15, E42).
//
// Documents (datamodel.md §2.11): sites/{siteId}/logs/{uuid}, written by the
// agents (timestamp is a server Timestamp). The route is G-ADMIN-SITE.
//
// Every filter combination works. The equality filters run in Firestore
// where firestore.indexes.json has the composite index for them (it lists
// every combination of action, level and machineId with timestamp
// descending; `since` is a range on timestamp, which the same indexes
// serve). Should Firestore still refuse a query for want of an index (an
// index not deployed or still building), the query is retried with fewer
// filters — first without level, then with none — and the dropped filters
// are applied in memory, page by page, so the answer is the same.
package logs

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "logs"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/logs"},
	Timeout: 30 * time.Second,
	Config:  config.Session,
}

const (
	// DefaultLimit and MaxLimit bound the list (api.md E42, datamodel §10).
	DefaultLimit = 50
	MaxLimit     = 200
	// pageSize is the page read when some filters run in memory.
	pageSize = 300
	// MaxScan bounds the documents one request reads when some filters run
	// in memory (only while an index is missing): past it the answer holds
	// the matches found so far.
	MaxScan = 6000
)

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) { register(rt, nil) }

// register adds the routes; indexMissing, when set (tests), makes Firestore
// queries with those equality fields fail as if their index were missing.
func register(rt *app.Router, indexMissing func(fields []string) bool) {
	h := &handlers{d: rt.D, indexMissing: indexMissing}
	rt.Handle("GET /api/admin/logs", guard.AdminSite, ratelimit.API, h.list)
}

type handlers struct {
	d            *app.Deps
	indexMissing func(fields []string) bool
}
