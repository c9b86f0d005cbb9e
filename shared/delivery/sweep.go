package delivery

import (
	"context"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
)

// Sweep limits: per query and run, and jobs processed at once.
const (
	sweepBatch    = 200
	sweepParallel = 8
	// missedAfter is when a job still "pending" is taken to have missed
	// its trigger event (delivery normally starts within a second).
	missedAfter = 2 * time.Minute
)

// SweepResult counts what one sweep found and did.
type SweepResult struct {
	Due, Stale, Missed int // jobs found by each query
	Processed          int
	Errors             int
}

// Sweep processes the jobs that need a worker: retries that are due,
// leases that expired (a worker died), and jobs whose trigger event never
// came. Each query is indexed (notification_queue: status + the time
// field), so an idle sweep costs three reads.
func (d *Deliverer) Sweep(ctx context.Context) (SweepResult, error) {
	now := d.o.Now()
	coll := d.o.FS.Collection(notify.Collection)
	var res SweepResult
	ids := map[string]bool{}
	for _, q := range []struct {
		status, field string
		before        time.Time
		count         *int
	}{
		{notify.StatusRetry, "nextAttemptAt", now, &res.Due},
		{notify.StatusProcessing, "leaseUntil", now, &res.Stale},
		{notify.StatusPending, "createdAt", now.Add(-missedAfter), &res.Missed},
	} {
		snaps, err := coll.Where("status", "==", q.status).Where(q.field, "<=", q.before).
			OrderBy(q.field, firestore.Asc).Limit(sweepBatch).Select().Documents(ctx).GetAll()
		if err != nil {
			return res, err
		}
		*q.count = len(snaps)
		for _, s := range snaps {
			ids[s.Ref.ID] = true
		}
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		slots = make(chan struct{}, sweepParallel)
	)
	for id := range ids {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			r, err := d.Process(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors++
				logging.From(ctx).Error("notification job not processed", "jobId", id, "error", err.Error())
				return
			}
			if r.Skipped == "" {
				res.Processed++
			}
		})
	}
	wg.Wait()
	return res, nil
}

// SweepDeadline bounds one sweep run (the function's timeout is 120 s).
const SweepDeadline = 100 * time.Second
