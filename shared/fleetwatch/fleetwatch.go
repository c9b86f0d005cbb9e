// Package fleetwatch is the server's watch over the fleet: the offline
// health check (E63 and its Cloud Scheduler job, datamodel.md §7.4), the
// machine.online notice when an alerted machine heartbeats again, and the
// threshold-alert job shared by X09 and the metrics trigger (§7.3). It
// delivers nothing itself: every e-mail and webhook is one
// notification_queue document (shared/notify).
//
// # Cost
//
// The health check never lists the fleet: one collection-group query finds
// the machines marked online whose lastHeartbeat is older than StaleAfter
// (index machines(online, lastHeartbeat), firestore.indexes.json), so a run
// costs one read per stale machine (one in all when none is), whatever the
// fleet's size. A machine already alerted within the hour is recognised from
// its own query result (Marker) and costs nothing more.
//
// # Documents
//
// sites/{siteId}/machine_health/{machineId} (server only; no client rule)
// holds a machine's offline-alert state, where the agents' whole-document
// rewrites of the machine document cannot wipe it (datamodel.md §0.6,
// §12.6):
//
//	siteId, machineId  echo of the path
//	lastAlertAt        time of the last offline alert (the cooldown, OfflineCooldown)
//	alertMarker        the commit time of that alert = the machine's marker
//	lastSeen           the machine's lastHeartbeat when it was alerted (null if none)
//	onlineOwed         true from an alert until its machine.online notice is settled
//	onlineAt           when the notice was settled
//
// sites/{siteId}/machines/{machineId}.health.lastCronAlertAt (the original's
// field, MarkerField) is the marker: the alert's commit time, written in the
// same transaction. It is a hint, never the authority: while the machine is
// dead nothing rewrites its document, so the next runs skip it without a
// read, and the first heartbeat after it (a masked update, which keeps it)
// carries it in the metrics trigger's event, so the trigger knows a
// machine.online notice is owed without reading anything (Comeback). The
// notice removes the marker. When an agent's rewrite wipes it anyway, the
// health check falls back to machine_health.
package fleetwatch

import (
	"strings"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/store"
)

// The health check's rules (datamodel.md §7.4, §10).
const (
	// StaleAfter: a machine marked online whose last heartbeat is older
	// is offline.
	StaleAfter = 3 * time.Minute
	// OfflineCooldown: at most one offline alert per machine per hour.
	OfflineCooldown = time.Hour
)

// HealthCollection is the per-site, server-only collection of offline-alert
// state, one document per machine.
const HealthCollection = "machine_health"

// MarkerField is the machine-document field holding the last alert's commit
// time (health.lastCronAlertAt).
const MarkerField = "health.lastCronAlertAt"

// Fields of a machine_health document.
const (
	fieldLastAlertAt = "lastAlertAt"
	fieldAlertMarker = "alertMarker"
	fieldLastSeen    = "lastSeen"
	fieldOnlineOwed  = "onlineOwed"
	fieldOnlineAt    = "onlineAt"
)

// DefaultOrigin is the base URL for links in mail that no request carries
// (the scheduled run, triggers): BASE_URL, else the original's production
// or development dashboard.
func DefaultOrigin(c *config.Config) string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	if c.Dev {
		return "https://dev.owlette.app"
	}
	return "https://owlette.app"
}

// Heartbeat is a machine document's lastHeartbeat (zero when absent or not
// a time; the agent writes a server timestamp).
func Heartbeat(doc map[string]any) time.Time { return timeOf(doc["lastHeartbeat"]) }

// Marker is a machine document's health.lastCronAlertAt (zero when absent).
func Marker(doc map[string]any) time.Time {
	h, _ := doc["health"].(map[string]any)
	return timeOf(h["lastCronAlertAt"])
}

// timeOf reads a polymorphic stored time (datamodel.md §0.9).
func timeOf(v any) time.Time {
	if t, ok := v.(time.Time); ok {
		return t
	}
	if ms, ok := store.Millis(v); ok {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}

// HealthRef is a machine's machine_health document.
func HealthRef(fs *firestore.Client, site, machine string) *firestore.DocumentRef {
	return fs.Collection("sites").Doc(site).Collection(HealthCollection).Doc(machine)
}

// MachineRef is a machine document.
func MachineRef(fs *firestore.Client, site, machine string) *firestore.DocumentRef {
	return fs.Collection("sites").Doc(site).Collection("machines").Doc(machine)
}

// machineOf returns the site and machine ids of a sites/{s}/machines/{m}
// document; ok is false for any other "machines" collection (the
// collection group also holds config/{s}/machines/{m}).
func machineOf(ref *firestore.DocumentRef) (site, machine string, ok bool) {
	col := ref.Parent
	if col == nil || col.ID != "machines" || col.Parent == nil {
		return "", "", false
	}
	siteRef := col.Parent
	if siteRef.Parent == nil || siteRef.Parent.ID != "sites" || siteRef.Parent.Parent != nil {
		return "", "", false
	}
	return siteRef.ID, ref.ID, true
}

// data returns a snapshot's data, nil when it does not exist.
func data(s *firestore.DocumentSnapshot) map[string]any {
	if s == nil || !s.Exists() {
		return nil
	}
	return s.Data()
}

// siteName is the site's display name, or its id (api.md §1.13).
func siteName(id string, site map[string]any) string {
	if n, _ := site["name"].(string); n != "" {
		return n
	}
	return id
}
