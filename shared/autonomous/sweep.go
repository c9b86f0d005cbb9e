package autonomous

import (
	"context"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
)

// Per-run bounds of Sweep: what is left is taken by the next run.
const (
	MaxEscalationsPerRun = 100
	MaxReclaimsPerRun    = 100
	sweepParallelism     = 4
)

// SweepResult counts what a sweep did.
type SweepResult struct {
	// Processed counts escalations whose e-mail was queued (E55's
	// `processed`: "events whose e-mail went out").
	Processed int
	// Errors counts events and jobs that failed (they are retried by the
	// next run).
	Errors int
	// Reclaimed counts jobs abandoned and slots given back.
	Reclaimed int
}

// Sweep is the cortexescalation schedule and E55/E56: pending escalations
// become e-mail jobs, and slots of dead investigations come back.
//
// Escalations are found with one collection-group query (cortex-events
// where escalationPending == true; its index is in firestore.indexes.json),
// not by scanning every site. Each is marked processed (escalationPending
// false, escalationSent, escalationProcessedAt) in the transaction that
// queues its e-mail, after checking it is still pending, so concurrent or
// repeated runs queue one e-mail per event. Unlike the original, an event
// is marked processed even when nobody can be e-mailed (escalationSent
// false), and a Windows time-zone name cannot make it fail (the sender maps
// it): nothing stays pending forever.
//
// Reclaim: jobs holding a slot (slotHeldAt) for longer than ReclaimAfter —
// their investigation's instance died, or their trigger never came — are
// abandoned, their slot given back and their event, if still
// investigating, marked failed.
func Sweep(ctx context.Context, d *app.Deps) (SweepResult, error) {
	var res SweepResult
	var mu sync.Mutex
	count := func(f func(*SweepResult)) { mu.Lock(); f(&res); mu.Unlock() }
	log := logging.From(ctx)

	snaps, err := d.Firestore.CollectionGroup("cortex-events").Where("escalationPending", "==", true).
		Limit(MaxEscalationsPerRun).Documents(ctx).GetAll()
	if err != nil {
		return res, fmt.Errorf("pending escalations: %w", err)
	}
	sites := newSiteCache()
	each(snaps, func(s *firestore.DocumentSnapshot) {
		queued, err := escalate(ctx, d, sites, s)
		if err != nil {
			log.Error("escalation not processed", "event", s.Ref.Path, "error", err.Error())
			count(func(r *SweepResult) { r.Errors++ })
			return
		}
		if queued {
			count(func(r *SweepResult) { r.Processed++ })
		}
	})

	cutoff := d.Now().Add(-ReclaimAfter)
	jobs, err := d.Firestore.Collection(JobsCollection).Where("slotHeldAt", "<", cutoff).
		Limit(MaxReclaimsPerRun).Documents(ctx).GetAll()
	if err != nil {
		return res, fmt.Errorf("stale investigations: %w", err)
	}
	each(jobs, func(s *firestore.DocumentSnapshot) {
		done, err := reclaim(ctx, d, s.Ref.ID)
		if err != nil {
			log.Error("investigation slot not reclaimed", "eventId", s.Ref.ID, "error", err.Error())
			count(func(r *SweepResult) { r.Errors++ })
			return
		}
		if done {
			log.Warn("investigation abandoned: its slot was held too long", "eventId", s.Ref.ID)
			count(func(r *SweepResult) { r.Reclaimed++ })
		}
	})
	return res, nil
}

// each runs f over snaps, a few at a time.
func each(snaps []*firestore.DocumentSnapshot, f func(*firestore.DocumentSnapshot)) {
	sem := make(chan struct{}, sweepParallelism)
	var wg sync.WaitGroup
	for _, s := range snaps {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(s)
		})
	}
	wg.Wait()
}

// escalate queues one pending escalation's e-mail and marks the event
// processed. queued reports whether an e-mail job was queued by this call
// or an earlier one for the same event.
func escalate(ctx context.Context, d *app.Deps, sites *siteCache, snap *firestore.DocumentSnapshot) (queued bool, err error) {
	siteRef := snap.Ref.Parent.Parent
	if siteRef == nil || siteRef.Parent == nil || siteRef.Parent.ID != "sites" || siteRef.Parent.Parent != nil {
		return false, fmt.Errorf("%s is not a site's cortex event", snap.Ref.Path)
	}
	siteID := siteRef.ID
	ev := snap.Data()
	str := func(k string) string { s, _ := ev[k].(string); return s }
	mail, err := escalationJob(ctx, d, sites, siteID, EscalationEvent{
		ID: snap.Ref.ID, MachineID: str("machineId"), MachineName: str("machineName"),
		ProcessName: str("processName"), Summary: str("summary"),
	})
	if err != nil {
		return false, err
	}
	fs := d.Firestore
	err = fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		queued = false
		cur, err := tx.Get(snap.Ref)
		if err != nil {
			if store.NotFound(err) {
				return nil
			}
			return err
		}
		if cur.Data()["escalationPending"] != true {
			return nil // another run got there first
		}
		if mail != nil {
			ref := notify.Ref(fs, mail)
			m, err := tx.Get(ref)
			if err != nil && !store.NotFound(err) {
				return err
			}
			if m == nil || !m.Exists() {
				if err := tx.Create(ref, mail); err != nil {
					return err
				}
			}
			queued = true
		}
		return tx.Update(snap.Ref, []firestore.Update{
			{Path: "escalationPending", Value: false},
			{Path: "escalationSent", Value: mail != nil},
			{Path: "escalationProcessedAt", Value: firestore.ServerTimestamp},
		})
	})
	return queued, err
}

// reclaim abandons the job eventID if it still holds its slot past
// ReclaimAfter; done reports whether it did.
func reclaim(ctx context.Context, d *app.Deps, eventID string) (done bool, err error) {
	fs := d.Firestore
	ref := JobRef(fs, eventID)
	err = fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		done = false
		snap, err := tx.Get(ref)
		if err != nil {
			if store.NotFound(err) {
				return nil
			}
			return err
		}
		var j Job
		if err := snap.DataTo(&j); err != nil {
			return err
		}
		now := d.Now()
		held, _ := snap.Data()["slotHeldAt"].(time.Time)
		if held.IsZero() || !held.Before(now.Add(-ReclaimAfter)) || !store.ValidID(j.SiteID) {
			return nil
		}
		summary := "The investigation stopped before it finished (its function instance ended) and was abandoned."
		if j.Status == JobPending {
			summary = "The investigation did not start in time and was abandoned."
		}
		done = true
		return abandon(tx, fs, &j, now, summary)
	})
	return done, err
}
