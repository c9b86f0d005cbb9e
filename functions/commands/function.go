// Package commands is the "commands" Cloud Function: commands sent to a
// machine's agent through its command queue, optionally waiting for the
// result, and clearing the queue (api.md §2.8, E22–E23; §1.12); the tool
// registry and running one tool the same way (X04, X05; shared/tools).
//
// A command is a field of sites/{s}/machines/{m}/commands/pending (one
// document per machine, datamodel.md §2.3); the agent polls that document
// every 2–5 s, merges its result into commands/completed and removes the
// pending key. A waiting send listens to completed with a Firestore snapshot
// listener, so it answers as soon as the agent writes, and removes the
// result it consumed (shared/cmdqueue). Waits last at most 50 s
// (cmdqueue.MaxWait: Firebase Hosting ends rewritten requests after 60 s),
// under a 55 s request deadline.
package commands

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/cmdqueue"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "commands"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/commands/**", "/api/admin/tools", "/api/admin/tools/**"},
	Timeout: 60 * time.Second,
	Config:  config.Session,
}

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := &handlers{d: rt.D}
	rt.Handle("POST /api/admin/commands/send", guard.AdminSite, ratelimit.API, h.send, app.WithDeadline(cmdqueue.WaitDeadline))
	rt.Handle("DELETE /api/admin/commands/clear", guard.Member, ratelimit.API, h.clear)
	rt.Handle("GET /api/admin/tools", guard.Admin, ratelimit.API, h.listTools)
	rt.Handle("POST /api/admin/tools/execute", guard.AdminSite, ratelimit.API, h.execute, app.WithDeadline(cmdqueue.WaitDeadline))
}

type handlers struct{ d *app.Deps }
