package delivery

import (
	"context"
	"time"

	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/webhook"
)

// maxCortexAttempts bounds the hand-off tries (transient errors only).
const maxCortexAttempts = 5

// cortex hands the job's autonomous part to the investigation gates.
func (d *Deliverer) cortex(ctx context.Context, job *notify.Job, now time.Time) {
	part := job.Cortex
	o := part.Result
	if !due(o, now) {
		return
	}
	if o == nil {
		o = &notify.Outcome{}
		part.Result = o
	}
	o.Attempts++
	o.UpdatedAt = now
	if d.o.Accept == nil {
		o.Status, o.Error = notify.OutcomeSkipped, "autonomous investigations are not available"
		part.Status = o.Status
		return
	}
	accepted, reason, eventID, err := d.o.Accept(ctx, part.Body)
	switch {
	case err != nil && o.Attempts < maxCortexAttempts:
		o.Status, o.Error, o.NextAttemptAt = notify.OutcomeRetry, err.Error(), now.Add(webhook.NextRetry(o.Attempts))
		logging.From(ctx).Warn("autonomous investigation not handed over: will retry", "error", o.Error)
	case err != nil:
		o.Status, o.Error, o.NextAttemptAt = notify.OutcomeFailed, err.Error(), time.Time{}
	case accepted:
		o.Status, o.ID, o.Error, o.NextAttemptAt = notify.OutcomeAccepted, eventID, "", time.Time{}
	default:
		o.Status, o.Error, o.NextAttemptAt = notify.OutcomeRefused, reason, time.Time{}
	}
	part.Status = o.Status
	if o.Status == notify.OutcomeRetry {
		part.Status = notify.StatusRetry
	}
}
