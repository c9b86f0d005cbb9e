// Package tokens is the "tokens" Cloud Function: admins list and revoke
// agents' refresh tokens (api.md §2.14, E40–E41). G-ADMIN has no site check
// here: admins see and revoke the tokens of every site (the contract).
package tokens

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "tokens"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/tokens/**"},
	Timeout: 30 * time.Second,
	Config:  config.Session,
}

// Collection holds agent refresh tokens, keyed by the SHA-256 hex of the token.
const Collection = "agent_refresh_tokens"

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := handlers{rt.D}
	rt.Handle("GET /api/admin/tokens/list", guard.Admin, ratelimit.None, h.list)
	rt.Handle("POST /api/admin/tokens/revoke", guard.Admin, ratelimit.API, h.revoke)
}

type handlers struct{ d *app.Deps }
