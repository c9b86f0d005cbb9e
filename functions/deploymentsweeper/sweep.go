package deploymentsweeper

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/deploystatus"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
)

// Timeouts of §7.2, measured from the deployment's createdAt.
const (
	PendingTimeout = 15 * time.Minute // target still pending: the agent never started
	ActiveTimeout  = 30 * time.Minute // target downloading, installing or uninstalling
)

// Error texts written on timed-out targets (§7.2, verbatim).
const (
	pendingError = "Timed out: agent did not start after 15 minutes"
	activeError  = "Timed out: agent stalled during %s after 30 minutes"
)

// siteParallelism bounds concurrent per-site queries.
const siteParallelism = 8

// Result counts what one sweep did.
type Result struct {
	Sites       int `json:"sitesScanned"`
	Checked     int `json:"deploymentsChecked"`
	Updated     int `json:"deploymentsUpdated"`
	TimedOut    int `json:"targetsTimedOut"`
	Unparseable int `json:"deploymentsWithoutCreatedAt"`
}

// TimeOut applies §7.2 to a deployment's targets at now: targets still
// pending after PendingTimeout and targets downloading, installing or
// uninstalling after ActiveTimeout (both from created) become failed with the
// spec's error and completedAt. closing_processes, extracting and every other
// status are never timed out. It returns the new targets array and how many
// targets changed (0: targets is returned unchanged).
func TimeOut(targets []any, created, now time.Time) ([]any, int) {
	age := now.Sub(created)
	next := make([]any, len(targets))
	copy(next, targets)
	n := 0
	for i, t := range targets {
		m, ok := t.(map[string]any)
		if !ok {
			continue
		}
		status, _ := m["status"].(string)
		var msg string
		switch status {
		case deploystatus.Pending:
			if age > PendingTimeout {
				msg = pendingError
			}
		case deploystatus.Downloading, deploystatus.Installing, deploystatus.Uninstalling:
			if age > ActiveTimeout {
				msg = fmt.Sprintf(activeError, status)
			}
		}
		if msg == "" {
			continue
		}
		out := make(map[string]any, len(m)+2)
		for k, v := range m {
			out[k] = v
		}
		out["status"] = deploystatus.Failed
		out["error"] = msg
		out["completedAt"] = now
		next[i] = out
		n++
	}
	return next, n
}

// createdAt reads the polymorphic createdAt (Timestamp or epoch ms).
func createdAt(doc map[string]any) (time.Time, bool) {
	ms, ok := store.Millis(doc["createdAt"])
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// Sweep runs §7.2 once over every site at now: for each deployment still
// pending or in_progress whose targets time out, it fails those targets and
// re-aggregates the deployment, in a transaction (the trigger may be writing
// the same document).
func Sweep(ctx context.Context, d *app.Deps, now time.Time) (Result, error) {
	log := logging.From(ctx)
	var res Result
	var checked, updated, timedOut, unparseable atomic.Int64
	sites := d.Firestore.Collection("sites").DocumentRefs(ctx)
	sem := make(chan struct{}, siteParallelism)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for {
		site, err := sites.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("list sites: %w", err))
			break
		}
		res.Sites++
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := sweepSite(ctx, d, site, now, &checked, &updated, &timedOut, &unparseable)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("site %s: %w", site.ID, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Checked, res.Updated, res.TimedOut, res.Unparseable = int(checked.Load()), int(updated.Load()), int(timedOut.Load()), int(unparseable.Load())
	log.Info("deployment sweep", "sites", res.Sites, "checked", res.Checked, "updated", res.Updated, "timedOut", res.TimedOut, "errors", len(errs))
	return res, errors.Join(errs...)
}

func sweepSite(ctx context.Context, d *app.Deps, site *firestore.DocumentRef, now time.Time, checked, updated, timedOut, unparseable *atomic.Int64) error {
	docs := site.Collection("deployments").Where("status", "in", []string{deploystatus.Pending, deploystatus.InProgress}).Documents(ctx)
	defer docs.Stop()
	var errs []error
	for {
		snap, err := docs.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		checked.Add(1)
		created, ok := createdAt(snap.Data())
		if !ok {
			unparseable.Add(1)
			continue
		}
		// Most active deployments are not stale: decide on the query's copy
		// and only then pay for a transaction.
		if _, n := TimeOut(deploystatus.Targets(snap.Data()["targets"]), created, now); n == 0 {
			continue
		}
		n, err := sweepOne(ctx, d, snap.Ref, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("deployment %s: %w", snap.Ref.ID, err))
			continue
		}
		if n > 0 {
			updated.Add(1)
			timedOut.Add(int64(n))
		}
	}
	return errors.Join(errs...)
}

// sweepOne re-reads one deployment in a transaction and applies the timeouts.
func sweepOne(ctx context.Context, d *app.Deps, ref *firestore.DocumentRef, now time.Time) (int, error) {
	var n int
	err := d.Firestore.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		n = 0
		snap, err := tx.Get(ref)
		if err != nil {
			if store.NotFound(err) {
				return nil
			}
			return err
		}
		doc := snap.Data()
		if s, _ := doc["status"].(string); s != deploystatus.Pending && s != deploystatus.InProgress {
			return nil
		}
		created, ok := createdAt(doc)
		if !ok {
			return nil
		}
		next, changed := TimeOut(deploystatus.Targets(doc["targets"]), created, now)
		if changed == 0 {
			return nil
		}
		n = changed
		return tx.Update(ref, deploystatus.Rollup(doc, next, true, now))
	}, firestore.MaxAttempts(10))
	if err == nil && n > 0 {
		logging.From(ctx).Info("deployment targets timed out", "deployment", ref.Path, "targets", n)
	}
	return n, err
}
