// Package delivery turns notification_queue jobs (shared/notify) into what
// they promise: e-mails through Resend, webhook deliveries, and the
// autonomous-investigation hand-off (DECISIONS §4: an endpoint queues, a
// trigger delivers, a scheduled sweep retries).
//
// # One job, one worker at a time
//
// Process claims a job with a lease (status "processing", leaseUntil) in a
// transaction, works on every part that is due outside it, then records the
// outcomes and releases the lease in one commit. A redelivered event, or
// the sweep, finds the job leased (skipped), finished (skipped), not yet
// due (skipped) or free (processed again). Only the parts still pending or
// due for retry are worked on, so redelivery and out-of-order delivery never
// repeat a finished part; a worker that dies mid-job leaves a lease that
// expires, and the sweep takes the job up again.
//
// # Parts
//
//   - E-mail: one message per recipient (or one to all, Email.Single), each
//     with Resend's Idempotency-Key "<jobId>:<uid>", so a send repeated after
//     a crash is not a second e-mail. Transient failures (network, 429,
//     5xx) are retried with backoff; permanent ones (other 4xx) fail.
//   - Webhooks: the site's enabled webhooks subscribed to the event are
//     resolved once and kept in webhook.targets; each is delivered with a
//     stable webhook-id "<jobId>:<webhookId>" (receivers can dedupe a
//     repeat). Every attempt is recorded under the webhook
//     (sites/{s}/webhooks/{w}/deliveries/{jobId}_{n}); failures are retried
//     with webhook.NextRetry's backoff up to webhook.MaxAttempts; the
//     webhook's failCount counts events, not attempts, so 10 consecutive
//     failed events auto-disable it, as in the original.
//   - Autonomous: handed to Options.Accept (shared/autonomous), recorded as
//     accepted or refused with its reason.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/email"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/webhook"
)

// Lease is how long a worker holds a job: longer than the notifications
// function's timeout, so a live worker is never overtaken.
const Lease = 150 * time.Second

// Retention is how long a finished job stays (expireAt, a Firestore TTL).
const Retention = 30 * 24 * time.Hour

// MaxEmailAttempts bounds the tries of one e-mail (transient failures).
const MaxEmailAttempts = 8

// AcceptFunc hands an agent alert's autonomous part to the investigation
// gates (E53's): it reports whether an investigation was accepted, the
// reason when refused, and the event id.
type AcceptFunc func(ctx context.Context, body map[string]any) (accepted bool, reason, eventID string, err error)

// Options configure a Deliverer.
type Options struct {
	FS     *firestore.Client
	Config *config.Config
	Now    func() time.Time
	Log    *slog.Logger
	// Accept starts autonomous investigations; nil leaves the part pending.
	Accept AcceptFunc
	// HTTPClient carries e-mail API calls (nil: a 30 s client).
	HTTPClient *http.Client
}

// Deliverer processes jobs. One per instance: it holds the Resend sender and
// the guarded webhook client.
type Deliverer struct {
	o      Options
	hooks  *http.Client
	policy webhook.Policy

	senderOnce sync.Once
	sender     *email.Sender
	senderErr  error
}

// New returns a Deliverer.
func New(o Options) *Deliverer {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = logging.Default()
	}
	p := webhook.Policy{AllowLoopback: o.Config.WebhookAllowLoopback}
	return &Deliverer{o: o, policy: p, hooks: webhook.NewClient(p, webhook.Timeout)}
}

func (d *Deliverer) emailSender() (*email.Sender, error) {
	d.senderOnce.Do(func() {
		c := d.o.Config
		d.sender, d.senderErr = email.NewSender(c.ResendAPIKey, c.ResendFrom, c.ResendBaseURL, d.o.HTTPClient)
	})
	return d.sender, d.senderErr
}

// Result says what one Process call did.
type Result struct {
	Skipped string // why nothing was done ("" when the job was worked on)
	Status  string // the job's status afterwards
}

// ErrNotFound means the job document does not exist.
var ErrNotFound = errors.New("notification job not found")

// Process works on the job with id, if it is due and free.
func (d *Deliverer) Process(ctx context.Context, id string) (Result, error) {
	ref := d.o.FS.Collection(notify.Collection).Doc(id)
	job, skip, err := d.claim(ctx, ref)
	if err != nil || skip != "" {
		return Result{Skipped: skip}, err
	}
	now := d.o.Now()
	log := logging.From(ctx).With("jobId", id, "kind", job.Kind, "siteId", job.SiteID)
	ctx = logging.With(ctx, log)

	// The parts touch disjoint fields of job: they run side by side.
	var hookWrites []write
	var wg sync.WaitGroup
	if job.Email != nil && !partDone(job.Email.Status) {
		wg.Go(func() { d.emails(ctx, id, job, now) })
	}
	if job.Webhook != nil && !partDone(job.Webhook.Status) {
		wg.Go(func() { hookWrites = d.webhooks(ctx, id, job, now) })
	}
	if job.Cortex != nil && !partDone(job.Cortex.Status) {
		wg.Go(func() { d.cortex(ctx, job, now) })
	}
	wg.Wait()

	finish(job, now)
	if err := d.record(ctx, ref, job, hookWrites); err != nil {
		return Result{}, err
	}
	log.Info("notification job processed", "status", job.Status, "attempt", job.Attempts, "ms", d.o.Now().Sub(now).Milliseconds())
	return Result{Status: job.Status}, nil
}

// claim leases the job when it is due and free; skip says why not.
func (d *Deliverer) claim(ctx context.Context, ref *firestore.DocumentRef) (*notify.Job, string, error) {
	var job *notify.Job
	var skip string
	err := d.o.FS.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		job, skip = nil, ""
		snap, err := tx.Get(ref)
		if store.NotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var j notify.Job
		if err := snap.DataTo(&j); err != nil {
			return fmt.Errorf("decode job: %w", err)
		}
		now := d.o.Now()
		switch {
		case j.Status == notify.StatusDone || j.Status == notify.StatusFailed:
			skip = "finished"
		case j.Status == notify.StatusProcessing && now.Before(j.LeaseUntil):
			skip = "leased"
		case j.Status == notify.StatusRetry && now.Before(j.NextAttemptAt):
			skip = "not due"
		}
		if skip != "" {
			return nil
		}
		j.Attempts++
		j.Status = notify.StatusProcessing
		j.LeaseUntil = now.Add(Lease)
		job = &j
		return tx.Update(ref, []firestore.Update{
			{Path: "status", Value: j.Status}, {Path: "leaseUntil", Value: j.LeaseUntil}, {Path: "attempts", Value: j.Attempts},
		})
	})
	if errors.Is(err, ErrNotFound) {
		return nil, "not found", nil
	}
	return job, skip, err
}

// record writes the job's outcomes, releases its lease and commits the
// webhook bookkeeping in one batch.
func (d *Deliverer) record(ctx context.Context, ref *firestore.DocumentRef, job *notify.Job, writes []write) error {
	b := d.o.FS.Batch()
	ups := []firestore.Update{
		{Path: "status", Value: job.Status},
		{Path: "leaseUntil", Value: firestore.Delete},
	}
	if job.NextAttemptAt.IsZero() {
		ups = append(ups, firestore.Update{Path: "nextAttemptAt", Value: firestore.Delete})
	} else {
		ups = append(ups, firestore.Update{Path: "nextAttemptAt", Value: job.NextAttemptAt})
	}
	if !job.FinishedAt.IsZero() {
		ups = append(ups, firestore.Update{Path: "finishedAt", Value: job.FinishedAt}, firestore.Update{Path: "expireAt", Value: job.ExpireAt})
	}
	if job.Email != nil {
		ups = append(ups, firestore.Update{Path: "email.status", Value: job.Email.Status}, firestore.Update{Path: "email.results", Value: job.Email.Results})
	}
	if job.Webhook != nil {
		ups = append(ups, firestore.Update{Path: "webhook.status", Value: job.Webhook.Status}, firestore.Update{Path: "webhook.targets", Value: job.Webhook.Targets})
	}
	if job.Cortex != nil {
		ups = append(ups, firestore.Update{Path: "cortex.status", Value: job.Cortex.Status})
		if job.Cortex.Result != nil {
			ups = append(ups, firestore.Update{Path: "cortex.result", Value: job.Cortex.Result})
		}
	}
	b.Update(ref, ups)
	for _, w := range writes {
		w(b)
	}
	// The outcomes are recorded even when the request that brought the
	// event has ended: the sends already happened.
	_, err := b.Commit(context.WithoutCancel(ctx))
	return err
}

// write adds one write to the final batch.
type write func(*firestore.WriteBatch)

// partDone reports whether a part's status is final.
func partDone(s string) bool {
	return s == notify.OutcomeSent || s == notify.OutcomeFailed || s == "partial" || s == "none" ||
		s == notify.OutcomeAccepted || s == notify.OutcomeRefused || s == notify.OutcomeSkipped
}

// summarize derives a part's status from its outcomes: "retry" while any is
// due again (earliest returned), else "sent", "failed" or "partial".
func summarize(outcomes map[string]*notify.Outcome) (string, time.Time) {
	var next time.Time
	sent, failed, retry := 0, 0, 0
	for _, o := range outcomes {
		switch o.Status {
		case notify.OutcomeSent, notify.OutcomeSkipped:
			sent++
		case notify.OutcomeFailed:
			failed++
		default:
			retry++
			if next.IsZero() || o.NextAttemptAt.Before(next) {
				next = o.NextAttemptAt
			}
		}
	}
	switch {
	case retry > 0:
		return notify.StatusRetry, next
	case failed > 0 && sent > 0:
		return "partial", time.Time{}
	case failed > 0:
		return notify.OutcomeFailed, time.Time{}
	case sent > 0:
		return notify.OutcomeSent, time.Time{}
	}
	return "none", time.Time{}
}

// finish sets the job's status from its parts.
func finish(job *notify.Job, now time.Time) {
	job.NextAttemptAt = time.Time{}
	pending := false
	due := func(status string, at time.Time) {
		if partDone(status) {
			return
		}
		pending = true
		if !at.IsZero() && (job.NextAttemptAt.IsZero() || at.Before(job.NextAttemptAt)) {
			job.NextAttemptAt = at
		}
	}
	if job.Email != nil {
		_, at := summarize(job.Email.Results)
		due(job.Email.Status, at)
	}
	if job.Webhook != nil {
		_, at := summarize(job.Webhook.Targets)
		due(job.Webhook.Status, at)
	}
	if job.Cortex != nil {
		var at time.Time
		if job.Cortex.Result != nil {
			at = job.Cortex.Result.NextAttemptAt
		}
		due(job.Cortex.Status, at)
	}
	if pending {
		job.Status = notify.StatusRetry
		if job.NextAttemptAt.IsZero() {
			job.NextAttemptAt = now.Add(webhook.NextRetry(1))
		}
		return
	}
	job.Status = notify.StatusDone
	job.FinishedAt = now
	job.ExpireAt = now.Add(Retention)
}

// due reports whether an outcome should be attempted now.
func due(o *notify.Outcome, now time.Time) bool {
	return o == nil || o.Status == notify.OutcomePending || (o.Status == notify.OutcomeRetry && !now.Before(o.NextAttemptAt))
}
