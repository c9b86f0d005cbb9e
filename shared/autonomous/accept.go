package autonomous

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// EventsRef is sites/{siteId}/cortex-events.
func EventsRef(fs *firestore.Client, siteID string) *firestore.CollectionRef {
	return fs.Collection("sites").Doc(siteID).Collection("cortex-events")
}

// JobRef is cortex_jobs/{eventId}.
func JobRef(fs *firestore.Client, eventID string) *firestore.DocumentRef {
	return fs.Collection(JobsCollection).Doc(eventID)
}

// maxIDAttempts bounds the search for a free evt_<ms>_<machine> id when
// another investigation of the same machine took that millisecond.
const maxIDAttempts = 5

// Accept is E53's gate sequence. It validates req (a *web.Error 400 when
// it cannot be an investigation, before anything is read), then:
//
//  1. sites/{s}/settings/cortex.autonomousEnabled falsy ⇒ refused
//     autonomous_disabled;
//  2. an event of the same machine and process within the site's cooldown
//     ⇒ refused cooldown_active;
//  3. MaxConcurrent slots held ⇒ refused concurrency_limit;
//  4. otherwise, in the same transaction as 2 and 3: the slot is taken, the
//     event (investigating) and the job are created, and the ids returned.
//
// Every Accept of a site writes its lock document, so concurrent Accepts
// serialise on it and the cooldown and slot checks cannot both pass for
// two requests. The investigation itself starts from the job (the
// cortexinvestigation trigger); nothing runs after Accept returns.
//
// Cost: a refusal reads only (the settings; the cooldown query and the
// lock, in parallel); an accept then runs one transaction (the query, the
// lock and the id check again) committing the three writes.
func Accept(ctx context.Context, d *app.Deps, req Request) (Result, error) {
	if err := req.Validate(); err != nil {
		return Result{}, err
	}
	fs := d.Firestore
	st, err := ReadSettings(ctx, fs, req.SiteID)
	if err != nil {
		return Result{}, err
	}
	if !st.AutonomousEnabled {
		return Result{Reason: ReasonDisabled}, nil
	}
	now := d.Now()
	lockRef := LockRef(fs, req.SiteID)
	events := EventsRef(fs, req.SiteID)
	recent := events.Where("machineId", "==", req.MachineID).Where("processName", "==", req.ProcessName).
		Where("timestamp", ">", now.Add(-st.Cooldown)).OrderBy("timestamp", firestore.Desc).Limit(1)
	// Refusals are read outside a transaction (no commit, no contention on
	// the lock: a crash loop meets the cooldown over and over); an accept
	// checks both again inside its transaction.
	if reason, err := precheck(ctx, recent, lockRef, now); err != nil || reason != "" {
		return Result{Reason: reason}, err
	}
	var res Result
	err = fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		res = Result{}
		hits, err := tx.Documents(recent).GetAll()
		if err != nil {
			return fmt.Errorf("cooldown query: %w", err)
		}
		lockSnap, err := tx.Get(lockRef)
		if err != nil && !store.NotFound(err) {
			return err
		}
		reason, l := gates(len(hits), dataOf(lockSnap), now)
		if reason != "" {
			res.Reason = reason
			return nil
		}
		ms := now.UnixMilli()
		var eventID string
		for i := int64(0); ; i++ {
			if i == maxIDAttempts {
				return web.Unavailable("Could not allocate an event id, please retry", fmt.Errorf("%d event ids taken from %d", maxIDAttempts, now.UnixMilli()))
			}
			eventID = EventID(ms, req.MachineID)
			snap, err := tx.Get(events.Doc(eventID))
			if store.NotFound(err) || (err == nil && !snap.Exists()) {
				break
			}
			if err != nil {
				return err
			}
			ms++
		}
		chatID := ChatID(ms, req.MachineID)
		l.take(eventID, now)
		if err := tx.Set(lockRef, l.doc(now)); err != nil {
			return err
		}
		if err := tx.Create(events.Doc(eventID), map[string]any{
			"machineId": req.MachineID, "machineName": req.MachineName, "processName": req.ProcessName,
			"eventType": req.EventType, "errorMessage": req.ErrorMessage, "timestamp": now,
			"chatId": chatID, "status": StatusInvestigating, "summary": "", "actions": []any{},
		}); err != nil {
			return err
		}
		if err := tx.Create(JobRef(fs, eventID), map[string]any{
			"eventId": eventID, "chatId": chatID, "siteId": req.SiteID,
			"machineId": req.MachineID, "machineName": req.MachineName, "processName": req.ProcessName,
			"eventType": req.EventType, "errorMessage": req.ErrorMessage, "agentVersion": req.AgentVersion,
			"status": JobPending, "createdAt": now, "slotHeldAt": now, "attempts": 0,
		}); err != nil {
			return err
		}
		res = Result{Accepted: true, EventID: eventID, ChatID: chatID}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// precheck reads the cooldown query and the lock, in parallel: the reason
// a request is refused, or "".
func precheck(ctx context.Context, recent firestore.Query, lockRef *firestore.DocumentRef, now time.Time) (string, error) {
	var (
		hits []*firestore.DocumentSnapshot
		qErr error
		wg   sync.WaitGroup
	)
	wg.Go(func() { hits, qErr = recent.Documents(ctx).GetAll() })
	lockSnap, err := lockRef.Get(ctx)
	wg.Wait()
	if qErr != nil {
		return "", fmt.Errorf("cooldown query: %w", qErr)
	}
	if err != nil && !store.NotFound(err) {
		return "", err
	}
	reason, _ := gates(len(hits), dataOf(lockSnap), now)
	return reason, nil
}

// gates applies gates 2 and 3 to what was read: events within the
// cooldown, and the lock (its dead slots dropped). It returns the refusal
// reason ("" to accept) and the lock.
func gates(recentEvents int, lockData map[string]any, now time.Time) (string, *lock) {
	l := parseLock(lockData)
	l.expire(now)
	switch {
	case recentEvents > 0:
		return ReasonCooldown, l
	case l.active >= MaxConcurrent:
		return ReasonConcurrency, l
	}
	return "", l
}

// RequestFromBody reads a Request from a decoded JSON body (the autonomous
// part of a notification job, notify.Cortex.Body): string fields only,
// anything else counts as absent.
func RequestFromBody(body map[string]any) Request {
	s := func(k string) string { v, _ := body[k].(string); return v }
	return Request{
		SiteID: s("siteId"), MachineID: s("machineId"), MachineName: s("machineName"),
		ProcessName: s("processName"), EventType: s("eventType"),
		ErrorMessage: s("errorMessage"), AgentVersion: s("agentVersion"),
	}
}

// AcceptBody is Accept for the notification trigger (the shape of
// delivery.AcceptFunc): a body that cannot be an investigation is a refusal
// with ReasonInvalid rather than an error, since retrying it cannot help;
// errors are transient (Firestore) and worth a retry.
func AcceptBody(ctx context.Context, d *app.Deps, body map[string]any) (accepted bool, reason, eventID string, err error) {
	res, err := Accept(ctx, d, RequestFromBody(body))
	var we *web.Error
	if errors.As(err, &we) && we.Status == http.StatusBadRequest {
		return false, ReasonInvalid, "", nil
	}
	if err != nil {
		return false, "", "", err
	}
	return res.Accepted, res.Reason, res.EventID, nil
}
