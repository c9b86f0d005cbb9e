package main

import (
	"net/http"

	"github.com/owlette/server/functions/agentauth"
	"github.com/owlette/server/functions/alerts"
	"github.com/owlette/server/functions/apikeys"
	"github.com/owlette/server/functions/commands"
	"github.com/owlette/server/functions/cortex"
	"github.com/owlette/server/functions/deployments"
	"github.com/owlette/server/functions/events"
	"github.com/owlette/server/functions/installers"
	"github.com/owlette/server/functions/inventory"
	"github.com/owlette/server/functions/llmsettings"
	"github.com/owlette/server/functions/logs"
	"github.com/owlette/server/functions/machines"
	"github.com/owlette/server/functions/mfa"
	"github.com/owlette/server/functions/passkeys"
	"github.com/owlette/server/functions/processes"
	"github.com/owlette/server/functions/screenshots"
	"github.com/owlette/server/functions/session"
	"github.com/owlette/server/functions/setup"
	"github.com/owlette/server/functions/sites"
	"github.com/owlette/server/functions/tokens"
	"github.com/owlette/server/functions/utilities"
	"github.com/owlette/server/functions/webhooks"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/routes"
	"github.com/owlette/server/shared/web"
)

// groups maps each implemented function (by routes table name) to its
// route registration. A test keeps it in step with functions/.
var groups = map[string]app.Register{
	session.Name:     session.Register,
	sites.Name:       sites.Register,
	apikeys.Name:     apikeys.Register,
	setup.Name:       setup.Register,
	agentauth.Name:   agentauth.Register,
	alerts.Name:      alerts.Register,
	screenshots.Name: screenshots.Register,
	tokens.Name:      tokens.Register,
	utilities.Name:   utilities.Register,
	deployments.Name: deployments.Register,
	installers.Name:  installers.Register,
	mfa.Name:         mfa.Register,
	passkeys.Name:    passkeys.Register,
	processes.Name:   processes.Register,
	inventory.Name:   inventory.Register,
	logs.Name:        logs.Register,
	machines.Name:    machines.Register,
	commands.Name:    commands.Register,
	events.Name:      events.Register,
	webhooks.Name:    webhooks.Register,
	llmsettings.Name: llmsettings.Register,
	cortex.Name:      cortex.Register,
}

// NewRouter dispatches each request to its function's handler, chosen by
// the Hosting rewrite table. Each function gets its own router, as each is
// its own service in production.
func NewRouter(d *app.Deps) http.Handler {
	handlers := map[string]http.Handler{}
	for name, reg := range groups {
		handlers[name] = app.Build(d, reg)
	}
	notFound := web.Middleware(d.Log, d.WebOptions(), web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return web.NotFound("Not found")
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn, ok := routes.Lookup(r.URL.Path)
		if !ok {
			notFound.ServeHTTP(w, r)
			return
		}
		h, ok := handlers[fn.Name]
		if !ok {
			_ = web.JSON(w, http.StatusNotImplemented, web.M{"error": "Function " + fn.Name + " is not implemented yet"})
			return
		}
		h.ServeHTTP(w, r)
	})
}
