// Package machinemetrics is the "machinemetrics" Cloud Function, the
// original's onMetricsWrite (datamodel.md §7.3): a Firestore trigger on
// every write of sites/{siteId}/machines/{machineId}. On a heartbeat it
// appends a metrics-history sample (§2.5) at most every 55 s per machine,
// evaluates the site's threshold rules (settings/alerts, §2.13) with their
// cooldowns (alert_cooldowns, §2.14) and queues the threshold job itself
// (shared/fleetwatch, the code X09 runs); and when the heartbeat ends an
// outage the health check alerted, it queues the machine.online notice.
//
// Agents rewrite their machine document every 5–120 s, so this runs for
// every heartbeat of every machine and the common case must cost nothing:
//   - Decided from the event alone, without a read: a deleted document, a
//     document without metrics (the agents' whole-document flag writes), a
//     write that is not a metrics upload (metrics.timestamp unchanged: the
//     dashboard's mirror writes, the server's own fields), and the
//     machine.online notice (fleetwatch.Comeback reads the marker the
//     health check left on the document).
//   - Samples are timed by the heartbeat's own metrics.timestamp, not by
//     when the event is handled, so the event tells when the previous
//     heartbeat was: when it is ≥ 55 s back, no sample can be nearer and the
//     sample is written without a read.
//   - Otherwise the instance's memory decides (Handler, plan): it keeps,
//     per machine, the range the latest sample lies in as of the last
//     upload it handled, and carries it over uploads other instances
//     handled (none of them can have been sampled while they are < 55 s
//     after it). Only what it cannot decide costs one read of the day's
//     bucket (a query fetching meta.lastSampleTime alone), and that sample
//     is then written on the condition that the bucket did not change since.
//     Measured (TestInstances): with the events of a machine on one
//     instance, no bucket read at all; spread at random over 2 or 4
//     instances, about 0.36 or 0.66 reads per upload at a 30 s cadence.
//   - Rules are cached per site for 5 minutes; a rule in cooldown is
//     remembered until the cooldown ends, so a sustained breach costs no
//     read. An alert is one transaction: the cooldown document is read and
//     written, and the job created, together, so concurrent instances
//     alert once per cooldown (the original wrote the cooldown, then
//     POSTed X09).
//
// Sample times, meta.lastSampleTime and lastTriggered are epoch seconds of
// the heartbeat (the original used the handler's clock; the two differ by
// the event's delivery delay). The bucket is the heartbeat's UTC date. A
// repeated delivery of an upload appends the identical sample, which
// arrayUnion drops.
//
// Limit: the 55 s hold for events delivered in order. Eventarc does not
// promise order; one machine's uploads are ~30 s apart, so two of them
// handled out of order on different instances (a delivery backlog) can
// leave two samples closer than 55 s. The original had the same race
// between its read and its write.
package machinemetrics

import (
	"time"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/trigger"
)

// Name is the function's entry point, service name and local trigger id
// (functions/registry).
const Name = "machinemetrics"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.Firestore, Handle: Handle,
	EventType: "google.cloud.firestore.document.v1.written",
	Document:  Document, Retry: false,
	Timeout: 60 * time.Second,
	Config:  config.Email,
}

// Document is the trigger's path pattern.
const Document = "sites/{siteId}/machines/{machineId}"

// instance holds the caches of this function instance.
var instance = NewHandler()

func init() { Spec.Serve() }

// Handle is the trigger, with this instance's caches.
var Handle trigger.Handler = instance.Handle
