// Package apikeys is the "apikeys" Cloud Function: an admin's API keys —
// list, create, revoke (api.md §1.7, §2.18, E48–E50).
package apikeys

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "apikeys"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/keys", "/api/admin/keys/**"},
	Timeout: 30 * time.Second,
	Config:  config.Session,
}

// MaxKeysPerUser bounds how many keys one user may hold.
const MaxKeysPerUser = 50

// QuotaCollection holds one server-only document per user, {count}: how many
// keys the user holds. Creating and revoking a key update it in the same
// transaction as the key, so the limit holds under parallel creates
// (DECISIONS §3: check-then-create counts are atomic). A missing document
// is rebuilt by counting the user's keys.
const QuotaCollection = "api_key_quota"

// MaxNameLength bounds a key's display name.
const MaxNameLength = 100

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := handlers{rt.D}
	rt.Handle("GET /api/admin/keys", guard.Admin, ratelimit.API, h.list)
	rt.Handle("POST /api/admin/keys/create", guard.Admin, ratelimit.API, h.create)
	rt.Handle("DELETE /api/admin/keys/revoke", guard.Admin, ratelimit.API, h.revoke)
}

type handlers struct{ d *app.Deps }
