// Package deploymentstatus is the "deploymentstatus" Cloud Function, the
// original's onCommandCompleted (datamodel.md §7.1): a Firestore trigger on
// every write of sites/{siteId}/machines/{machineId}/commands/completed that
// keeps each deployment's targets and overall status in step with the
// agents' command completions. Clients never need to write deployment
// status: this trigger is the authority (DECISIONS §2, 12.18) and it
// tolerates the dashboard's own roll-up writes, correcting the overall
// status whenever it handles an event for that deployment.
//
// Rules (§7.1):
//   - Changed entries are the keys of the new completed document that are
//     new or whose status or progress changed; only entries with a
//     deployment_id count. They are grouped by deployment_id.
//   - For each deployment, the machine's latest entry for it decides, read
//     from the completed document inside the transaction and ordered by the
//     entry's own server timestamps (the later of completedAt and
//     updatedAt). With in-order delivery that is the spec's "last changed
//     entry of the group"; unlike it, out-of-order or repeated deliveries
//     (Eventarc guarantees neither order nor exactly-once) converge to the
//     same result.
//   - Mapping: completed → uninstalled for uninstall_software, else every
//     status passes through (deploystatus.FromCommand).
//   - Terminal guard: a terminal target (completed, failed, cancelled,
//     uninstalled) only changes to another terminal status.
//   - No write when neither the target's status nor its progress changes
//     (progress does not count once terminal, so redeliveries are no-ops).
//     Otherwise status, progress (if present), error (if truthy); on a
//     terminal status progress is removed and cancelledAt | uninstalledAt |
//     completedAt is stamped.
//   - The deployment's status is re-aggregated from its targets
//     (deploystatus.Aggregate) and written when it differs, with updatedAt
//     and, the first time it is terminal, completedAt.
//
// Each deployment is updated in a transaction that reads both the deployment
// and the completed document, so concurrent completions for one deployment
// (several machines) serialize instead of losing updates.
package deploymentstatus

import (
	"time"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
)

// Name is the function's entry point, service name and local trigger id
// (functions/registry).
const Name = "deploymentstatus"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.Firestore, Handle: Handle,
	EventType: "google.cloud.firestore.document.v1.written",
	Document:  Document, Retry: true,
	Timeout: 60 * time.Second,
	Config:  config.None,
}

// Document is the trigger's path pattern.
const Document = "sites/{siteId}/machines/{machineId}/commands/completed"

func init() { Spec.Serve() }
