// Package registry is the one list of the server's Cloud Functions: every
// HTTP function (a route group behind Firebase Hosting), Firestore trigger
// and scheduled function, each with its code and deploy settings
// (shared/fn). Hosting's rewrites, the dev server, the deploy tool and the
// tests all read it, so a function exists in each exactly when it is here,
// and is here only if its package exists (a Spec is a value of the package).
package registry

import (
	"github.com/owlette/server/functions/agentauth"
	"github.com/owlette/server/functions/alerts"
	"github.com/owlette/server/functions/apikeys"
	"github.com/owlette/server/functions/commands"
	"github.com/owlette/server/functions/cortex"
	"github.com/owlette/server/functions/cortexescalation"
	"github.com/owlette/server/functions/cortexinvestigation"
	"github.com/owlette/server/functions/deployments"
	"github.com/owlette/server/functions/deploymentstatus"
	"github.com/owlette/server/functions/deploymentsweeper"
	"github.com/owlette/server/functions/events"
	"github.com/owlette/server/functions/healthcheck"
	"github.com/owlette/server/functions/installers"
	"github.com/owlette/server/functions/inventory"
	"github.com/owlette/server/functions/llmsettings"
	"github.com/owlette/server/functions/logs"
	"github.com/owlette/server/functions/machinemetrics"
	"github.com/owlette/server/functions/machines"
	"github.com/owlette/server/functions/mfa"
	"github.com/owlette/server/functions/notifications"
	"github.com/owlette/server/functions/notifysweeper"
	"github.com/owlette/server/functions/passkeys"
	"github.com/owlette/server/functions/processes"
	"github.com/owlette/server/functions/screenshots"
	"github.com/owlette/server/functions/session"
	"github.com/owlette/server/functions/setup"
	"github.com/owlette/server/functions/sites"
	"github.com/owlette/server/functions/tokens"
	"github.com/owlette/server/functions/utilities"
	"github.com/owlette/server/functions/webhooks"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/routes"
)

// All lists every function. HTTP functions come in the order Hosting
// evaluates their rewrites: more specific globs before broader ones.
var All = []fn.Spec{
	session.Spec,
	mfa.Spec,
	passkeys.Spec,
	agentauth.Spec,
	alerts.Spec,
	screenshots.Spec,
	machines.Spec,
	commands.Spec,
	inventory.Spec,
	processes.Spec,
	deployments.Spec,
	installers.Spec,
	sites.Spec,
	tokens.Spec,
	logs.Spec,
	events.Spec,
	webhooks.Spec,
	apikeys.Spec,
	setup.Spec,
	cortex.Spec,
	llmsettings.Spec,
	utilities.Spec,

	deploymentstatus.Spec,
	notifications.Spec,
	machinemetrics.Spec,
	cortexinvestigation.Spec,

	deploymentsweeper.Spec,
	notifysweeper.Spec,
	healthcheck.Spec,
	cortexescalation.Spec,
}

// Of returns the functions of one kind, in registry order.
func Of(k fn.Kind) []fn.Spec {
	var out []fn.Spec
	for _, s := range All {
		if s.Kind == k {
			out = append(out, s)
		}
	}
	return out
}

// ByName returns the function called name.
func ByName(name string) (fn.Spec, bool) {
	for _, s := range All {
		if s.Name == name {
			return s, true
		}
	}
	return fn.Spec{}, false
}

// Lookup returns the HTTP function whose glob first matches path, as
// Hosting's rewrites do.
func Lookup(path string) (fn.Spec, bool) {
	for _, s := range All {
		if s.Kind != fn.HTTP {
			continue
		}
		for _, g := range s.Paths {
			if routes.Match(g, path) {
				return s, true
			}
		}
	}
	return fn.Spec{}, false
}
