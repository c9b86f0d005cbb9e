// Package deployments is the "deployments" Cloud Function: software
// deployments to a site's machines — list, create, status, delete, cancel one
// machine (api.md §2.11, E30–E34).
//
// Documents (datamodel.md §2.9, §2.3, §5.8, §5.9): the deployment is
// sites/{siteId}/deployments/deploy-<ms>; creating it queues one
// install_software command per target in that machine's commands/pending
// document; cancelling queues a cancel_installation command and marks the
// target cancelled. The deployment-status trigger (datamodel.md §7.1) and
// the sweeper (§7.2) derive everything after that from commands/completed.
//
// Every route is G-MEMBER: site owner, assigned user or admin, by session,
// API key or Bearer ID token (api.md §0.1).
package deployments

import (
	"time"

	"sync/atomic"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "deployments"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/deployments", "/api/admin/deployments/**"},
	Timeout: 60 * time.Second,
	Config:  config.Session,
}

const (
	// DefaultLimit and MaxLimit bound the list (api.md E30, datamodel §10).
	DefaultLimit = 20
	MaxLimit     = 100
	// MaxTargets bounds the machines of one deployment. The original had no
	// bound; ours keeps the deployment document far below Firestore's 1 MiB
	// so an oversized list is a 400, not a failed write.
	MaxTargets = 1000
	// maxWritesPerCommit keeps each commit well inside Firestore's limits.
	maxWritesPerCommit = 450
	// maxIDAttempts is how many deploy-<ms> ids a create tries (ms, ms+1, …)
	// before giving up (DECISIONS §2, 5.16).
	maxIDAttempts = 25
)

// Deployment and target statuses (api.md §2.11, datamodel.md §2.9).
const (
	StatusPending    = "pending"
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
	StatusPartial    = "partial"
	StatusCancelled  = "cancelled"
	// StatusUninstalled is a terminal target and deployment status.
	StatusUninstalled = "uninstalled"
)

// Command types this group queues (datamodel.md §5.8).
const (
	TypeInstall = "install_software"
	TypeCancel  = "cancel_installation"
)

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := &handlers{d: rt.D}
	rt.Handle("GET /api/admin/deployments", guard.Member, ratelimit.API, h.list)
	rt.Handle("POST /api/admin/deployments", guard.Member, ratelimit.API, h.create)
	rt.Handle("GET /api/admin/deployments/{deploymentId}", guard.Member, ratelimit.API, h.get)
	rt.Handle("DELETE /api/admin/deployments/{deploymentId}", guard.Member, ratelimit.API, h.remove)
	rt.Handle("POST /api/admin/deployments/{deploymentId}/cancel", guard.Member, ratelimit.API, h.cancel)
}

type handlers struct {
	d *app.Deps
	// lastMs is the last deploy-<ms> this instance allocated: ids of one
	// instance never collide, however many creates share a millisecond.
	lastMs atomic.Int64
	// beforeCommit, when set (tests), runs between a read and the
	// conditional write that depends on it.
	beforeCommit func()
}

func (h *handlers) deployments(siteID string) *firestore.CollectionRef {
	return h.d.Firestore.Collection("sites").Doc(siteID).Collection("deployments")
}

// pendingRef is a machine's pending command document (api.md §1.12).
func (h *handlers) pendingRef(siteID, machineID string) *firestore.DocumentRef {
	return h.d.Firestore.Collection("sites").Doc(siteID).Collection("machines").Doc(machineID).Collection("commands").Doc("pending")
}

// terminalTarget lists the target statuses after which nothing happens on
// the machine (api.md E34, datamodel.md §7.1).
var terminalTarget = map[string]bool{StatusCompleted: true, StatusFailed: true, StatusCancelled: true, StatusUninstalled: true}

// deletable lists the deployment statuses E33 allows deleting, in the order
// its 409 message names them.
var deletable = []string{StatusCompleted, StatusFailed, StatusPartial, StatusCancelled, StatusUninstalled}
