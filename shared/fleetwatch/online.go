package fleetwatch

import (
	"context"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
)

// ComebackWindow bounds how long after its marker a heartbeat still ends
// the outage the marker stands for. While a machine stays dead the health
// check renews the marker every OfflineCooldown, so a real comeback is
// always within it; an older marker (left by the original server, or by an
// outage that ended in a clean stop) announces nothing.
const ComebackWindow = OfflineCooldown + time.Hour

// Comeback reports whether a machine-document change is the heartbeat that
// ends an alerted outage, from the change alone (no read): the machine is
// marked online, its lastHeartbeat changed and is later than its marker
// (written in the alert's commit, so any heartbeat committed after the
// alert is later), within ComebackWindow. marker identifies the outage;
// lastSeen is the new heartbeat. Until OnlineNotice removes the marker,
// every later heartbeat reports it again, so a failed notice is retried by
// the next heartbeat.
func Comeback(before, after map[string]any) (marker, lastSeen time.Time, ok bool) {
	if after["online"] != true {
		return time.Time{}, time.Time{}, false
	}
	marker, hb := Marker(after), Heartbeat(after)
	if marker.IsZero() || !hb.After(marker) || hb.Sub(marker) > ComebackWindow || hb.Equal(Heartbeat(before)) {
		return time.Time{}, time.Time{}, false
	}
	return marker, hb, true
}

// OnlineNotice settles the outage marker identifies on a machine that
// heartbeated again at lastSeen: a machine.online webhook job (data
// {machine:{id, name, lastSeen}}) when the site has a webhook subscribed to
// machine.online, keyed by the outage so a repeated event cannot queue it
// twice; its machine_health state (onlineOwed false) and the removal of the
// marker, in the same commit. Reads: the webhook count, and the site's name
// when there is a webhook. It reports whether a job was queued.
func OnlineNotice(ctx context.Context, fs *firestore.Client, site, machine string, marker, lastSeen, now time.Time, origin string) (bool, error) {
	hooks, err := HookCount(ctx, fs, site, notify.EventMachineOnline)
	if err != nil {
		return false, err
	}
	var job *notify.Job
	if hooks > 0 {
		snap, err := fs.Collection("sites").Doc(site).Get(ctx)
		if err != nil && !store.NotFound(err) {
			return false, err
		}
		job = stateJob(site, siteName(site, data(snap)), machine, notify.EventMachineOnline, store.ISO(lastSeen), origin,
			notify.DedupeKey(notify.KindMachineState, notify.EventMachineOnline, site, machine, store.ISO(marker)))
		job.Prepare(now)
	}
	settle := func(job *notify.Job, clearMarker bool) error {
		b := fs.Batch()
		if job != nil {
			notify.Enqueue(b, fs, job)
		}
		b.Set(HealthRef(fs, site, machine), map[string]any{fieldOnlineOwed: false, fieldOnlineAt: now}, firestore.MergeAll)
		if clearMarker {
			b.Update(MachineRef(fs, site, machine), []firestore.Update{{Path: MarkerField, Value: firestore.Delete}})
		}
		_, err := b.Commit(ctx)
		return err
	}
	err = settle(job, true)
	switch {
	case err == nil:
		return job != nil, nil
	case store.AlreadyExists(err):
		// Queued by an earlier delivery of the same heartbeat: settle only.
		return false, settle(nil, true)
	case store.NotFound(err):
		// The machine was deleted meanwhile: nothing to unmark.
		return false, settle(job, false)
	}
	return false, err
}
