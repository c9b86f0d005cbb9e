// Package utilities is the "utilities" Cloud Function: small endpoints that
// belong to no other group (api.md §2.22 and §3). So far: X10 bug reports
// and feedback.
package utilities

import (
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (shared/routes).
const Name = "utilities"

func init() {
	app.MustStartOnCloudRun()
	functions.HTTP(Name, app.Function(Register))
}

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := handlers{rt.D}
	rt.Handle("POST /api/bug-report", guard.SessionOrIDToken, ratelimit.User, h.bugReport)
}

type handlers struct{ d *app.Deps }
