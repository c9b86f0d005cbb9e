// Package routes is the one table that maps every public /api path to the
// Cloud Function serving it. Firebase Hosting's rewrites (firebase.json) are
// generated from it and the local dev server routes with it, so a path behaves
// the same locally and in production.
package routes

import "strings"

// Function is one deployable HTTP Cloud Function and the Hosting globs it owns.
type Function struct {
	// Name is both the Cloud Run service name and the registered entry point.
	Name string
	// Package is the Go import path, relative to the module, of the function.
	Package string
	// Paths are Hosting rewrite sources ("**" matches any rest of the path).
	Paths []string
	// Timeout is the request timeout in seconds for deploy.
	Timeout int
}

// Functions lists every HTTP function in the order Hosting evaluates them.
// More specific globs must come before broader ones.
var Functions = []Function{
	{Name: "session", Package: "functions/session", Paths: []string{"/api/auth/session"}, Timeout: 30},
	{Name: "mfa", Package: "functions/mfa", Paths: []string{"/api/mfa/**"}, Timeout: 30},
	{Name: "passkeys", Package: "functions/passkeys", Paths: []string{"/api/passkeys/**"}, Timeout: 30},
	{Name: "agentauth", Package: "functions/agentauth", Paths: []string{"/api/agent/auth/**", "/api/agent/generate-installer"}, Timeout: 60},
	{Name: "alerts", Package: "functions/alerts", Paths: []string{"/api/agent/alert", "/api/alerts/trigger"}, Timeout: 60},
	{Name: "screenshots", Package: "functions/screenshots", Paths: []string{"/api/agent/screenshot", "/api/admin/screenshots"}, Timeout: 60},
	{Name: "machines", Package: "functions/machines", Paths: []string{"/api/admin/machines", "/api/admin/machines/**"}, Timeout: 60},
	{Name: "commands", Package: "functions/commands", Paths: []string{"/api/admin/commands/**", "/api/admin/tools", "/api/admin/tools/**"}, Timeout: 180},
	{Name: "inventory", Package: "functions/inventory", Paths: []string{"/api/admin/software-inventory"}, Timeout: 60},
	{Name: "processes", Package: "functions/processes", Paths: []string{"/api/admin/processes", "/api/admin/processes/**"}, Timeout: 60},
	{Name: "deployments", Package: "functions/deployments", Paths: []string{"/api/admin/deployments", "/api/admin/deployments/**"}, Timeout: 60},
	{Name: "installers", Package: "functions/installers", Paths: []string{"/api/admin/installer/**"}, Timeout: 60},
	{Name: "sites", Package: "functions/sites", Paths: []string{"/api/admin/sites"}, Timeout: 30},
	{Name: "tokens", Package: "functions/tokens", Paths: []string{"/api/admin/tokens/**"}, Timeout: 30},
	{Name: "logs", Package: "functions/logs", Paths: []string{"/api/admin/logs"}, Timeout: 30},
	{Name: "events", Package: "functions/events", Paths: []string{"/api/admin/events/**"}, Timeout: 60},
	{Name: "webhooks", Package: "functions/webhooks", Paths: []string{"/api/admin/webhooks", "/api/webhooks/test"}, Timeout: 60},
	{Name: "apikeys", Package: "functions/apikeys", Paths: []string{"/api/admin/keys", "/api/admin/keys/**"}, Timeout: 30},
	{Name: "setup", Package: "functions/setup", Paths: []string{"/api/setup/**"}, Timeout: 30},
	{Name: "cortex", Package: "functions/cortex", Paths: []string{"/api/cortex", "/api/cortex/**"}, Timeout: 300},
	{Name: "llmsettings", Package: "functions/llmsettings", Paths: []string{"/api/settings/**"}, Timeout: 60},
	{Name: "utilities", Package: "functions/utilities", Paths: []string{
		"/api/cron/**", "/api/test-email", "/api/webhooks/user-created", "/api/unsubscribe",
		"/api/bug-report", "/api/openapi", "/api/admin/fetch-td-version", "/api/admin/email/config",
		"/api/docs", "/api/docs/**",
	}, Timeout: 60},
}

// Lookup returns the function whose glob first matches path, as Hosting does.
func Lookup(path string) (Function, bool) {
	for _, f := range Functions {
		for _, g := range f.Paths {
			if Match(g, path) {
				return f, true
			}
		}
	}
	return Function{}, false
}

// ByName returns the function with the given name.
func ByName(name string) (Function, bool) {
	for _, f := range Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Match reports whether path matches a Hosting-style glob: "*" matches within
// one segment, "**" matches the rest of the path (one or more segments).
func Match(glob, path string) bool {
	gs := strings.Split(strings.Trim(glob, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	for i, g := range gs {
		if g == "**" {
			return len(ps) > i
		}
		if i >= len(ps) {
			return false
		}
		if g != "*" && g != ps[i] {
			return false
		}
	}
	return len(gs) == len(ps)
}
