package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/webhook"
)

// parallelTargets bounds the webhook deliveries of one job in flight.
const parallelTargets = 8

// target is one webhook document as delivery reads it.
type target struct {
	URL       string    `firestore:"url"`
	Secret    string    `firestore:"secret"`
	Enabled   bool      `firestore:"enabled"`
	FailCount int       `firestore:"failCount"`
	Last      time.Time `firestore:"lastTriggered"`
}

// webhooks delivers the due targets of job's webhook part, records each
// target's outcome in job.Webhook.Targets and returns the delivery records
// to commit with the job.
func (d *Deliverer) webhooks(ctx context.Context, jobID string, job *notify.Job, now time.Time) []write {
	part := job.Webhook
	log := logging.From(ctx)
	coll := d.o.FS.Collection("sites").Doc(job.SiteID).Collection("webhooks")
	docs := map[string]*firestore.DocumentSnapshot{}
	if part.Targets == nil {
		// First attempt: the subscribers now. Later attempts keep this set,
		// so a webhook added afterwards does not get an old event.
		snaps, err := coll.Where("enabled", "==", true).Where("events", "array-contains-any", webhook.Aliases(part.Event)).
			Documents(ctx).GetAll()
		if err != nil {
			log.Warn("webhook subscribers not read: will retry", "error", err.Error())
			part.Status = notify.StatusRetry
			return nil
		}
		part.Targets = map[string]*notify.Outcome{}
		for _, s := range snaps {
			part.Targets[s.Ref.ID] = &notify.Outcome{Status: notify.OutcomePending, UpdatedAt: now}
			docs[s.Ref.ID] = s
		}
	}
	var dueIDs []string
	for id, o := range part.Targets {
		if due(o, now) {
			dueIDs = append(dueIDs, id)
		}
	}
	// Retries read their target again: it may have been edited, disabled
	// or deleted since.
	var refs []*firestore.DocumentRef
	for _, id := range dueIDs {
		if docs[id] == nil {
			refs = append(refs, coll.Doc(id))
		}
	}
	if len(refs) > 0 {
		snaps, err := d.o.FS.GetAll(ctx, refs)
		if err != nil {
			log.Warn("webhook targets not read: will retry", "error", err.Error())
			for _, id := range dueIDs {
				o := part.Targets[id]
				o.Status, o.NextAttemptAt, o.UpdatedAt = notify.OutcomeRetry, now.Add(webhook.NextRetry(max(o.Attempts, 1))), now
			}
			part.Status, _ = summarize(part.Targets)
			return nil
		}
		for _, s := range snaps {
			docs[s.Ref.ID] = s
		}
	}

	var (
		mu     sync.Mutex
		writes []write
		wg     sync.WaitGroup
		slots  = make(chan struct{}, parallelTargets)
	)
	for _, id := range dueIDs {
		o, snap := part.Targets[id], docs[id]
		var t target
		if snap == nil || !snap.Exists() || snap.DataTo(&t) != nil || !t.Enabled || t.URL == "" {
			o.Status, o.Error, o.NextAttemptAt, o.UpdatedAt = notify.OutcomeSkipped, "webhook deleted or disabled", time.Time{}, now
			continue
		}
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			res := webhook.Deliver(ctx, d.hooks, webhook.Attempt{
				URL: t.URL, Secret: t.Secret, Event: part.Event,
				MessageID: jobID + ":" + id,
				Site:      webhook.Site{ID: part.Site.ID, Name: part.Site.Name},
				Data:      part.Data, Timestamp: job.CreatedAt, Now: now,
			})
			o.Attempts++
			o.LastStatus, o.UpdatedAt = res.Status, now
			final := true
			switch {
			case res.OK():
				o.Status, o.Error, o.NextAttemptAt = notify.OutcomeSent, "", time.Time{}
			case refused(res.Err):
				// A target that is, or resolves to, a non-public address (or
				// is not a valid target): no retry can change that.
				o.Status, o.NextAttemptAt = notify.OutcomeFailed, time.Time{}
				o.Error = failure(res)
			case webhook.NextRetry(o.Attempts) > 0:
				o.Status, o.NextAttemptAt, final = notify.OutcomeRetry, now.Add(webhook.NextRetry(o.Attempts)), false
				o.Error = failure(res)
			default:
				o.Status, o.NextAttemptAt = notify.OutcomeFailed, time.Time{}
				o.Error = failure(res)
			}
			d.bookkeep(ctx, coll.Doc(id), t, res, final, now)
			rec := map[string]any{
				"jobId": jobID, "event": part.Event, "attempt": o.Attempts, "status": res.Status, "ok": res.OK(),
				"durationMs": res.Duration.Milliseconds(), "at": now, "outcome": o.Status,
				// TTL, like the job's.
				"expireAt": now.Add(Retention),
			}
			if o.Error != "" {
				rec["error"] = o.Error
			}
			ref := coll.Doc(id).Collection("deliveries").Doc(fmt.Sprintf("%s_%d", jobID, o.Attempts))
			mu.Lock()
			writes = append(writes, func(b *firestore.WriteBatch) { b.Set(ref, rec) })
			mu.Unlock()
			if !res.OK() {
				log.Warn("webhook not delivered", "webhookId", id, "attempt", o.Attempts, "status", res.Status, "error", o.Error, "outcome", o.Status)
			}
		})
	}
	wg.Wait()
	part.Status, _ = summarize(part.Targets)
	return writes
}

// bookkeep updates the webhook document: lastTriggered and lastStatus on
// every attempt; failCount and the auto-disable only once per event (on
// delivery or when giving up, see webhook.Bookkeep). A webhook deleted in
// the meantime is left deleted.
func (d *Deliverer) bookkeep(ctx context.Context, ref *firestore.DocumentRef, t target, res webhook.Result, final bool, now time.Time) {
	prev := webhook.State{Enabled: t.Enabled, FailCount: t.FailCount, LastTriggered: t.Last}
	next := webhook.RecordAttempt(prev, res, now)
	ups := []firestore.Update{{Path: "lastTriggered", Value: now}, {Path: "lastStatus", Value: next.LastStatus}}
	if final {
		next = webhook.Bookkeep(prev, res, now)
		ups = append(ups, firestore.Update{Path: "failCount", Value: next.FailCount})
		if !next.Enabled {
			ups = append(ups, firestore.Update{Path: "enabled", Value: false})
		}
	}
	if _, err := ref.Update(context.WithoutCancel(ctx), ups); err != nil && !store.NotFound(err) {
		logging.From(ctx).Warn("webhook bookkeeping not written", "webhookId", ref.ID, "error", err.Error())
	}
}

func refused(err error) bool {
	return errors.Is(err, webhook.ErrBlockedAddress) || errors.Is(err, webhook.ErrInvalidTarget)
}

func failure(res webhook.Result) string {
	if res.Err != nil {
		return res.Err.Error()
	}
	return fmt.Sprintf("HTTP %d", res.Status)
}
