package machinemetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/trigger"
)

// RulesTTL is how long an instance trusts a site's rules (§10: 5 min).
const RulesTTL = 5 * time.Minute

// maxEntries bounds each in-memory map; past it the map starts over (the
// caches only save reads, they are never needed for correctness).
const maxEntries = 200_000

// Handler is the trigger with one instance's memory. Each function
// instance has one (Handle); tests make their own, one per simulated
// instance.
type Handler struct {
	mu        sync.Mutex
	machines  map[string]machineState // "site/machine"
	rules     map[string]siteRules    // site
	cooldowns map[string]int64        // site, rule, machine → end of the cooldown (epoch s)
}

// machineState is what this instance knows of a machine's samples: as of
// the upload at hb, the machine's latest sample was at a time in [lo, hi]
// (epoch s; lo = hi = 0: it had none).
type machineState struct {
	hb, lo, hi int64
}

type siteRules struct {
	rules []Rule
	at    time.Time
}

// NewHandler returns a handler with empty caches.
func NewHandler() *Handler {
	return &Handler{machines: map[string]machineState{}, rules: map[string]siteRules{}, cooldowns: map[string]int64{}}
}

// Handle handles one change of a machine document.
func (h *Handler) Handle(ctx context.Context, d *app.Deps, e *trigger.Event) error {
	if logging.From(ctx) == slog.Default() {
		ctx = logging.With(ctx, d.Log)
	}
	params, ok := e.Params(Document)
	if !ok {
		logging.From(ctx).Warn("event for a document the trigger does not watch: ignored")
		return nil
	}
	site, machine := params["siteId"], params["machineId"]
	key := site + "/" + machine
	if e.After == nil {
		h.mu.Lock()
		delete(h.machines, key)
		h.mu.Unlock()
		return nil
	}
	before, after := e.BeforeFields(), e.AfterFields()
	var errs []error
	if marker, seen, ok := fleetwatch.Comeback(before, after); ok {
		queued, err := fleetwatch.OnlineNotice(ctx, d.Firestore, site, machine, marker, seen, d.Now(), fleetwatch.DefaultOrigin(d.Config))
		if err != nil {
			errs = append(errs, fmt.Errorf("machine.online notice: %w", err))
		} else {
			logging.From(ctx).Info("machine back online", "siteId", site, "machineId", machine, "notified", queued)
		}
	}
	metrics, _ := after["metrics"].(map[string]any)
	at, prevAt := MetricsTime(after), MetricsTime(before)
	if len(metrics) == 0 || at.IsZero() || at.Equal(prevAt) {
		return errors.Join(errs...) // not a metrics upload
	}
	var prev int64
	if !prevAt.IsZero() {
		prev = prevAt.Unix()
	}
	t := at.Unix()
	sampled, err := h.sample(ctx, d, site, machine, key, metrics, prev, t)
	if err != nil {
		errs = append(errs, fmt.Errorf("metrics history: %w", err))
	}
	if sampled {
		if err := h.evaluate(ctx, d, site, machine, after, metrics, t); err != nil {
			errs = append(errs, fmt.Errorf("threshold rules: %w", err))
		}
	}
	return errors.Join(errs...)
}

// verdict is what plan decides for an upload.
type verdict int

const (
	skip      verdict = iota // no sample
	sampleNow                // sample, no read needed
	readFirst                // read the bucket's meta, then decide
)

// plan decides from the event (prev: the previous upload's time, 0 when
// unknown) and what this instance knew (st, when known) whether the upload
// at t is sampled, and what it knows after a skip.
//
// Samples are only taken at uploads, ≥ SampleGap after the latest one. So
// from the latest sample's range [lo, hi] as of an upload hb ≤ prev,
// whoever handled the uploads since: if prev is < SampleGap after lo, none
// of them can have been sampled and the range holds; otherwise one may
// have been, prev at the latest. Both bounds are certain (lo only ever
// comes from a sample written or read), so a sample decided here is never
// early; what cannot be decided is read.
func plan(st machineState, known bool, prev, t int64) (verdict, machineState) {
	gap := int64(SampleGap / time.Second)
	if known && t <= st.hb {
		return skip, st // a repeated or late event: a newer upload was handled
	}
	lo, hi := st.lo, st.hi
	tracking := known && prev > 0 && prev >= st.hb && (lo > 0 || prev == st.hb)
	if tracking && prev > st.hb && prev-lo >= gap {
		hi = prev
	}
	switch {
	case tracking && (hi == 0 || t-hi >= gap):
		return sampleNow, machineState{}
	case tracking && t-lo < gap:
		return skip, machineState{hb: t, lo: lo, hi: hi}
	case prev > 0 && t-prev >= gap:
		// No upload between prev and t, so no sample either: every earlier
		// sample is at least as old as prev.
		return sampleNow, machineState{}
	case known && lo > 0 && t-lo < gap:
		// The latest sample is no older than lo, and before t.
		return skip, machineState{hb: t, lo: lo, hi: t - 1}
	}
	return readFirst, machineState{}
}

// sample appends the upload's sample when due. It reports whether it did.
func (h *Handler) sample(ctx context.Context, d *app.Deps, site, machine, key string, metrics map[string]any, prev, t int64) (bool, error) {
	h.mu.Lock()
	st, known := h.machines[key]
	h.mu.Unlock()
	remember := func(s machineState) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if cur, ok := h.machines[key]; ok && cur.hb > s.hb {
			return // a newer upload was handled meanwhile
		}
		if len(h.machines) >= maxEntries {
			h.machines = map[string]machineState{}
		}
		h.machines[key] = s
	}
	forget := func() {
		h.mu.Lock()
		delete(h.machines, key)
		h.mu.Unlock()
	}
	gap := int64(SampleGap / time.Second)
	history := fleetwatch.MachineRef(d.Firestore, site, machine).Collection(History)
	ref := history.Doc(Day(t))
	s := Sample(metrics, t)
	meta := map[string]any{"lastSampleTime": t, "updatedAt": d.Now(), "resolution": Resolution}

	v, next := plan(st, known, prev, t)
	switch v {
	case skip:
		if next.hb > 0 {
			remember(next)
		}
		return false, nil
	case sampleNow:
		if _, err := ref.Set(ctx, map[string]any{"samples": firestore.ArrayUnion(s), "meta": meta}, firestore.MergeAll); err != nil {
			forget()
			return false, err
		}
		remember(machineState{hb: t, lo: t, hi: t})
		return true, nil
	}

	// readFirst: only meta.lastSampleTime is fetched (a bucket grows to
	// ~200 KB a day); the latest sample may be in yesterday's bucket just
	// after midnight.
	ids := []string{ref.ID}
	if y := Day(t - gap); y != ref.ID {
		ids = append(ids, y)
	}
	refs := make([]*firestore.DocumentRef, len(ids))
	for i, id := range ids {
		refs[i] = history.Doc(id)
	}
	snaps, err := history.Where(firestore.DocumentID, "in", refs).Select("meta.lastSampleTime").Documents(ctx).GetAll()
	if err != nil {
		return false, err
	}
	var (
		last    int64
		current *firestore.DocumentSnapshot
	)
	for _, sn := range snaps {
		if sn.Ref.ID == ref.ID {
			current = sn
		}
		if m, ok := sn.Data()["meta"].(map[string]any); ok {
			if v, ok := Number(m["lastSampleTime"]); ok && int64(v) > last {
				last = int64(v)
			}
		}
	}
	if last > 0 && t-last < gap {
		remember(machineState{hb: t, lo: last, hi: last})
		return false, nil
	}
	// Written only if nobody sampled since the read.
	if current != nil {
		_, err = ref.Update(ctx, []firestore.Update{
			{Path: "samples", Value: firestore.ArrayUnion(s)},
			{Path: "meta.lastSampleTime", Value: t},
			{Path: "meta.updatedAt", Value: meta["updatedAt"]},
			{Path: "meta.resolution", Value: Resolution},
		}, firestore.LastUpdateTime(current.UpdateTime))
	} else {
		_, err = ref.Create(ctx, map[string]any{"samples": []any{s}, "meta": meta})
	}
	if status.Code(err) == codes.FailedPrecondition || store.AlreadyExists(err) {
		// Another instance sampled meanwhile: the next upload reads.
		forget()
		return false, nil
	}
	if err != nil {
		forget()
		return false, err
	}
	remember(machineState{hb: t, lo: t, hi: t})
	return true, nil
}

// evaluate checks the site's rules against an upload that was sampled and
// alerts those breached and out of cooldown.
func (h *Handler) evaluate(ctx context.Context, d *app.Deps, site, machine string, doc, metrics map[string]any, t int64) error {
	rules, err := h.siteRules(ctx, d, site)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rules {
		raw, v, ok := r.Measure(metrics)
		if !ok || !r.Breached(v) {
			continue
		}
		ck := site + "\x00" + r.ID + "\x00" + machine
		h.mu.Lock()
		until := h.cooldowns[ck]
		h.mu.Unlock()
		if t < until {
			continue
		}
		until, err := alert(ctx, d, site, machine, r, raw, doc, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", r.ID, err))
			continue
		}
		h.mu.Lock()
		if len(h.cooldowns) >= maxEntries {
			h.cooldowns = map[string]int64{}
		}
		h.cooldowns[ck] = until
		h.mu.Unlock()
	}
	return errors.Join(errs...)
}

// siteRules returns the site's rules, read at most every RulesTTL.
func (h *Handler) siteRules(ctx context.Context, d *app.Deps, site string) ([]Rule, error) {
	now := d.Now()
	h.mu.Lock()
	c, ok := h.rules[site]
	h.mu.Unlock()
	if ok && !now.Before(c.at) && now.Sub(c.at) < RulesTTL {
		return c.rules, nil
	}
	snap, err := d.Firestore.Collection("sites").Doc(site).Collection("settings").Doc("alerts").Get(ctx)
	if err != nil && !store.NotFound(err) {
		return nil, err
	}
	rules := ParseRules(data(snap))
	h.mu.Lock()
	if len(h.rules) >= maxEntries {
		h.rules = map[string]siteRules{}
	}
	h.rules[site] = siteRules{rules: rules, at: now}
	h.mu.Unlock()
	return rules, nil
}

// errInCooldown ends an alert transaction whose rule is in cooldown.
var errInCooldown = errors.New("in cooldown")

// alert queues a breached rule's threshold job unless its cooldown
// (alert_cooldowns/{ruleId}_{machineId}.lastTriggered, epoch s) runs: the
// cooldown is read and written and the job created in one transaction. It
// returns when the cooldown ends.
func alert(ctx context.Context, d *app.Deps, site, machine string, r Rule, value any, doc map[string]any, t int64) (int64, error) {
	id := r.ID + "_" + machine
	if !store.ValidID(id) {
		return 0, fmt.Errorf("cooldown id %q cannot name a document", id)
	}
	fs := d.Firestore
	ref := fs.Collection("sites").Doc(site).Collection("alert_cooldowns").Doc(id)
	now := d.Now()
	var until int64
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		if err != nil && !store.NotFound(err) {
			return err
		}
		if last, ok := Number(data(snap)["lastTriggered"]); ok && t-int64(last) < r.CooldownSeconds {
			until = int64(last) + r.CooldownSeconds
			return errInCooldown
		}
		job, _, err := fleetwatch.ThresholdJob(ctx, fs, d.Config, fleetwatch.ThresholdAlert{
			SiteID: site, MachineID: machine, RuleID: r.ID, RuleName: r.Name, Metric: r.Metric,
			Operator: r.Operator, Severity: r.Severity, Value: value, Threshold: r.Threshold,
			Email: r.Email, Webhook: r.Webhook, Machine: doc,
		}, fleetwatch.DefaultOrigin(d.Config), now)
		if err != nil {
			return err
		}
		if err := tx.Set(ref, map[string]any{"lastTriggered": t}); err != nil {
			return err
		}
		if !job.Empty() {
			job.Prepare(now)
			if err := tx.Create(notify.Ref(fs, job), job); err != nil {
				return err
			}
		}
		until = t + r.CooldownSeconds
		return nil
	})
	if errors.Is(err, errInCooldown) {
		return until, nil
	}
	return until, err
}

func data(s *firestore.DocumentSnapshot) map[string]any {
	if s == nil || !s.Exists() {
		return nil
	}
	return s.Data()
}
