// Package processes is the "processes" Cloud Function: the process list of
// one machine — list, add, update, delete, launch mode with schedules
// (api.md §2.10, E25–E29).
//
// Documents (datamodel.md §2.7, §2.2): the list is the `processes` array of
// config/{siteId}/machines/{machineId}, a document the agent also replaces
// wholesale and the dashboard edits in transactions. Every change here runs
// in a Firestore transaction that reads the config document and the machine
// document, changes only `processes` (every other field, and every array
// element it does not touch, is written back exactly as read), and in the
// same commit sets `configChangeFlag: true` on the machine document — plus,
// for a launch-mode change, the status mirror
// `metrics.processes.<id>.{launch_mode, autolaunch, schedules, schedulePresetId}`
// — when that document exists. Concurrent edits of one machine never lose
// one another: within an instance they queue on a lock per machine, across
// instances the transaction retries.
//
// Every route is G-MEMBER: site owner, assigned user or admin, by session,
// API key or Bearer ID token (api.md §0.1).
package processes

import (
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "processes"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/processes", "/api/admin/processes/**"},
	Timeout: 60 * time.Second,
	Config:  config.Session,
}

// Launch modes (datamodel.md §2.7).
const (
	ModeOff       = "off"
	ModeAlways    = "always"
	ModeScheduled = "scheduled"
)

// Defaults of a process's fields as the API writes and lists them (api.md
// E25, E26): numeric-looking settings are strings.
const (
	DefaultPriority        = "Normal"
	DefaultVisibility      = "Show"
	DefaultTimeDelay       = "0"
	DefaultTimeToInit      = "10"
	DefaultRelaunchAttempt = "3"
)

// MaxBody bounds a request body: a process is a few hundred bytes, and the
// whole config document must stay under Firestore's 1 MiB.
const MaxBody = 256 << 10

// maxTxAttempts is how many times one change's transaction runs before the
// request gives up with a 503 (contention across instances only: within an
// instance changes of one machine queue on a lock).
const maxTxAttempts = 10

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := &handlers{d: rt.D, locks: newKeyedLock()}
	rt.Handle("GET /api/admin/processes", guard.Member, ratelimit.API, h.list)
	rt.Handle("POST /api/admin/processes", guard.Member, ratelimit.API, h.create)
	rt.Handle("PATCH /api/admin/processes/{processId}", guard.Member, ratelimit.API, h.update)
	rt.Handle("DELETE /api/admin/processes/{processId}", guard.Member, ratelimit.API, h.remove)
	rt.Handle("PATCH /api/admin/processes/{processId}/launch-mode", guard.Member, ratelimit.API, h.launchMode)
}

type handlers struct {
	d     *app.Deps
	locks *keyedLock
}

// configRef is the machine's config document (datamodel.md §2.7).
func (h *handlers) configRef(siteID, machineID string) *firestore.DocumentRef {
	return h.d.Firestore.Collection("config").Doc(siteID).Collection("machines").Doc(machineID)
}

// machineRef is the machine's status document (datamodel.md §2.2).
func (h *handlers) machineRef(siteID, machineID string) *firestore.DocumentRef {
	return h.d.Firestore.Collection("sites").Doc(siteID).Collection("machines").Doc(machineID)
}
