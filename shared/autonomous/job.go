package autonomous

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
)

// Job is a claimed investigation: its job document and the run that owns
// it.
type Job struct {
	EventID      string    `firestore:"eventId"`
	ChatID       string    `firestore:"chatId"`
	SiteID       string    `firestore:"siteId"`
	MachineID    string    `firestore:"machineId"`
	MachineName  string    `firestore:"machineName"`
	ProcessName  string    `firestore:"processName"`
	EventType    string    `firestore:"eventType"`
	ErrorMessage string    `firestore:"errorMessage"`
	AgentVersion string    `firestore:"agentVersion"`
	Status       string    `firestore:"status"`
	CreatedAt    time.Time `firestore:"createdAt"`
	RunID        string    `firestore:"runId"`
	Attempts     int       `firestore:"attempts"`
	// StartedAt is when this run claimed the job.
	StartedAt time.Time `firestore:"startedAt"`
}

// Claim takes the job cortex_jobs/{eventID} for one run, in a transaction:
// a pending job becomes running (runId, startedAt, its slot refreshed) and
// is returned. A job that is missing, already claimed or finished — a
// redelivered or late trigger event — returns (nil, nil): nothing to do. A
// pending job whose slot was already reclaimed (its trigger came after
// ReclaimAfter) is abandoned and its event marked failed.
func Claim(ctx context.Context, d *app.Deps, eventID string) (*Job, error) {
	if !store.ValidID(eventID) {
		return nil, nil
	}
	fs := d.Firestore
	ref := JobRef(fs, eventID)
	runID := newRunID()
	var claimed *Job
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		claimed = nil
		snap, err := tx.Get(ref)
		if store.NotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		var j Job
		if err := snap.DataTo(&j); err != nil {
			return fmt.Errorf("job %s: %w", eventID, err)
		}
		if j.Status != JobPending || !store.ValidID(j.SiteID) {
			return nil
		}
		lockRef := LockRef(fs, j.SiteID)
		lockSnap, err := tx.Get(lockRef)
		if err != nil && !store.NotFound(err) {
			return err
		}
		now := d.Now()
		l := parseLock(dataOf(lockSnap))
		if held, ok := l.holders[eventID]; !ok || held.Before(now.Add(-ReclaimAfter)) {
			return abandon(tx, fs, &j, now, "The investigation did not start in time and was abandoned.")
		}
		l.take(eventID, now)
		if err := tx.Set(lockRef, l.doc(now)); err != nil {
			return err
		}
		j.Status, j.RunID, j.StartedAt, j.Attempts = JobRunning, runID, now, j.Attempts+1
		claimed = &j
		return tx.Update(ref, []firestore.Update{
			{Path: "status", Value: JobRunning}, {Path: "runId", Value: runID},
			{Path: "startedAt", Value: now}, {Path: "slotHeldAt", Value: now},
			{Path: "attempts", Value: j.Attempts},
		})
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

func newRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Action is one tool call of an investigation (the event's actions[]).
type Action struct {
	Tool   string
	Params map[string]any
	Time   time.Time
}

// Outcome is how an investigation ended.
type Outcome struct {
	// Status is StatusResolved, StatusEscalated or StatusFailed.
	Status  string
	Summary string
	Actions []Action
	// Escalate queues the escalation e-mail (escalated, and the site's
	// escalationEmail is not false).
	Escalate bool
}

// Finish records j's outcome in one transaction: the event's status,
// summary, actions, resolvedAt and durationMs; the job's end; the slot
// given back; and, when out.Escalate, the escalation e-mail job (built
// before the transaction: its recipients need queries) with the event's
// escalationSent — or, when the job could not be built, escalationPending,
// so the sweep sends it later. It does nothing when j no longer owns the
// job (the sweep reclaimed it meanwhile). One retry on failure, without the
// actions' parameters if Firestore refused the values: the slot must come
// back.
func Finish(ctx context.Context, d *app.Deps, j *Job, out Outcome) error {
	fs := d.Firestore
	var mail *notify.Job
	retryMail := false
	if out.Escalate {
		var err error
		mail, err = EscalationJob(ctx, d, j.SiteID, EscalationEvent{
			ID: j.EventID, MachineID: j.MachineID, MachineName: j.MachineName, ProcessName: j.ProcessName, Summary: out.Summary,
		})
		if err != nil {
			// The outcome matters more than the e-mail: record it now and
			// leave the e-mail to the sweep (escalationPending).
			logging.From(ctx).Error("escalation e-mail not queued: left to the sweep", "eventId", j.EventID, "error", err.Error())
			retryMail = true
		}
	}
	actions := make([]any, 0, len(out.Actions))
	for _, a := range out.Actions {
		params := map[string]any{}
		if a.Params != nil {
			params = Storable(a.Params).(map[string]any)
		}
		actions = append(actions, map[string]any{"tool": a.Tool, "params": params, "timestamp": a.Time})
	}
	jobStatus := JobDone
	if out.Status == StatusFailed {
		jobStatus = JobFailed
	}
	ref := JobRef(fs, j.EventID)
	eventRef := EventsRef(fs, j.SiteID).Doc(j.EventID)
	lockRef := LockRef(fs, j.SiteID)
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		err = fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			snaps, err := tx.GetAll([]*firestore.DocumentRef{ref, eventRef, lockRef})
			if err != nil {
				return err
			}
			cur := dataOf(snaps[0])
			if cur == nil || cur["status"] != JobRunning || cur["runId"] != j.RunID {
				logging.From(ctx).Warn("investigation outcome not recorded: the job is no longer this run's", "eventId", j.EventID)
				return nil
			}
			var mailSnap *firestore.DocumentSnapshot
			if mail != nil {
				if mailSnap, err = tx.Get(notify.Ref(fs, mail)); err != nil && !store.NotFound(err) {
					return err
				}
			}
			now := d.Now()
			if ev := dataOf(snaps[1]); ev != nil {
				ups := []firestore.Update{
					{Path: "status", Value: out.Status}, {Path: "summary", Value: out.Summary},
					{Path: "actions", Value: actions}, {Path: "resolvedAt", Value: now},
					{Path: "durationMs", Value: duration(ev["timestamp"], now)},
				}
				switch {
				case retryMail:
					ups = append(ups, firestore.Update{Path: "escalationPending", Value: true})
				case mail != nil:
					ups = append(ups, firestore.Update{Path: "escalationSent", Value: true}, firestore.Update{Path: "escalationProcessedAt", Value: now})
				}
				if err := tx.Update(eventRef, ups); err != nil {
					return err
				}
			}
			l := parseLock(dataOf(snaps[2]))
			if l.release(j.EventID) {
				if err := tx.Set(lockRef, l.doc(now)); err != nil {
					return err
				}
			}
			ups := []firestore.Update{
				{Path: "status", Value: jobStatus}, {Path: "outcome", Value: out.Status},
				{Path: "finishedAt", Value: now}, {Path: "slotHeldAt", Value: firestore.Delete},
				{Path: "expireAt", Value: now.Add(JobRetention)},
			}
			if mail != nil {
				ups = append(ups, firestore.Update{Path: "emailJobId", Value: mail.DedupeKey})
				if mailSnap == nil || !mailSnap.Exists() {
					if err := tx.Create(notify.Ref(fs, mail), mail); err != nil {
						return err
					}
				}
			}
			return tx.Update(ref, ups)
		})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		if status.Code(err) == codes.InvalidArgument {
			for _, a := range actions {
				a.(map[string]any)["params"] = map[string]any{}
			}
		}
		logging.From(ctx).Warn("recording the investigation outcome failed: retrying once", "eventId", j.EventID, "error", err.Error())
	}
	return err
}

// abandon ends a job that will never run (inside tx): the job is
// abandoned, its slot given back if still held, and its event, while still
// investigating, marked failed with summary.
func abandon(tx *firestore.Transaction, fs *firestore.Client, j *Job, now time.Time, summary string) error {
	// Reads first (a transaction's rule): the event and the lock.
	eventRef := EventsRef(fs, j.SiteID).Doc(j.EventID)
	lockRef := LockRef(fs, j.SiteID)
	snaps, err := tx.GetAll([]*firestore.DocumentRef{eventRef, lockRef})
	if err != nil {
		return err
	}
	if ev := dataOf(snaps[0]); ev != nil && ev["status"] == StatusInvestigating {
		if err := tx.Update(eventRef, []firestore.Update{
			{Path: "status", Value: StatusFailed}, {Path: "summary", Value: summary},
			{Path: "resolvedAt", Value: now}, {Path: "durationMs", Value: duration(ev["timestamp"], now)},
		}); err != nil {
			return err
		}
	}
	l := parseLock(dataOf(snaps[1]))
	if l.release(j.EventID) {
		if err := tx.Set(lockRef, l.doc(now)); err != nil {
			return err
		}
	}
	return tx.Update(JobRef(fs, j.EventID), []firestore.Update{
		{Path: "status", Value: JobAbandoned}, {Path: "finishedAt", Value: now},
		{Path: "slotHeldAt", Value: firestore.Delete}, {Path: "expireAt", Value: now.Add(JobRetention)},
	})
}

// duration is now − the event's timestamp in ms (0 when it has none).
func duration(ts any, now time.Time) int64 {
	ms, ok := store.Millis(ts)
	if !ok {
		return 0
	}
	return max(0, now.UnixMilli()-ms)
}
