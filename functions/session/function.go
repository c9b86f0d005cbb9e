// Package session is the "session" Cloud Function: sign-in session create,
// status and sign-out (api.md §2.1, E01–E03), with the server-side session
// record and MFA state of DECISIONS.md §3.
package session

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "session"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/auth/session"},
	Timeout: 30 * time.Second,
	Config:  config.Session,
}

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := handlers{rt.D}
	rt.Handle("POST /api/auth/session", guard.Public, ratelimit.Auth, h.create)
	rt.Handle("DELETE /api/auth/session", guard.Public, ratelimit.None, h.destroy)
	rt.Handle("GET /api/auth/session", guard.Public, ratelimit.None, h.status)
}

type handlers struct{ d *app.Deps }
