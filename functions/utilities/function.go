// Package utilities is the "utilities" Cloud Function: small endpoints that
// belong to no other group (api.md §2.22 and §3): X10 bug reports and
// feedback, E64 test e-mails, E65 the new-signup notification, E66
// unsubscribe links, X08 the e-mail configuration, X07 TouchDesigner builds,
// X14 the OpenAPI document and the interactive API reference (/api/docs).
package utilities

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "utilities"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/cron/**", "/api/test-email", "/api/webhooks/user-created", "/api/unsubscribe", "/api/bug-report", "/api/openapi", "/api/admin/fetch-td-version", "/api/admin/email/config", DocsPath, DocsPath + "/**"},
	Timeout: 60 * time.Second,
	Config:  config.Session | config.Cron | config.Email | config.TouchDesigner,
}

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := handlers{d: rt.D, td: newTDCache()}
	rt.Handle("POST /api/bug-report", guard.SessionOrIDToken, ratelimit.User, h.bugReport)
	m := newMailHandlers(rt.D)
	rt.Handle("POST /api/test-email", guard.Admin, ratelimit.None, m.testEmail)
	rt.Handle("POST /api/webhooks/user-created", guard.SessionOrIDToken, ratelimit.None, m.userCreated)
	rt.Handle("GET /api/unsubscribe", guard.Public, ratelimit.None, h.unsubscribe)
	rt.Handle("GET /api/admin/email/config", guard.Admin, ratelimit.None, h.emailConfig)
	rt.Handle("GET /api/admin/fetch-td-version", guard.Admin, ratelimit.API, h.tdVersion)
	rt.Handle("GET /api/cron/health-check", guard.Cron, ratelimit.None, fleetwatch.Handler(rt.D))
	rt.Handle("GET /api/openapi", guard.Public, ratelimit.None, h.openAPI)
	rt.Handle("GET "+DocsPath, guard.Public, ratelimit.None, h.docs)
	rt.Handle("GET "+DocsPath+"/{asset...}", guard.Public, ratelimit.None, h.docs)
}

type handlers struct {
	d  *app.Deps
	td *tdCache // X07's upstream lookups, per instance
}
