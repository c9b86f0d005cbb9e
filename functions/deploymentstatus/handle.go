package deploymentstatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/deploystatus"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/trigger"
)

// Entry is one completed-document entry that names a deployment.
type Entry struct {
	ID           string
	DeploymentID string
	Status       string // as the agent wrote it
	Type         string // command type (terminal entries only)
	Progress     any    // nil when absent
	Error        any
	At           time.Time // the later of completedAt and updatedAt (zero when neither)
	Changed      bool      // changed by the event being handled
}

// entry reads a completed-document value; ok is false for values that do
// not name a deployment or carry no status.
func entry(id string, v any) (Entry, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return Entry{}, false
	}
	dep, _ := m["deployment_id"].(string)
	status, _ := m["status"].(string)
	if dep == "" || !store.ValidID(dep) || status == "" {
		return Entry{}, false
	}
	e := Entry{ID: id, DeploymentID: dep, Status: status, Progress: m["progress"], Error: m["error"]}
	e.Type, _ = m["type"].(string)
	for _, f := range []string{"completedAt", "updatedAt"} {
		if ms, ok := store.Millis(m[f]); ok && time.UnixMilli(ms).After(e.At) {
			e.At = time.UnixMilli(ms)
		}
	}
	return e, true
}

// Changed returns the entries of after that are new or whose status or
// progress differ from before, grouped by deployment id.
func Changed(before, after map[string]any) map[string][]Entry {
	out := map[string][]Entry{}
	for id, v := range after {
		e, ok := entry(id, v)
		if !ok {
			continue
		}
		old, wasMap := before[id].(map[string]any)
		if wasMap && reflect.DeepEqual(old["status"], v.(map[string]any)["status"]) && sameValue(old["progress"], e.Progress) {
			continue
		}
		e.Changed = true
		out[e.DeploymentID] = append(out[e.DeploymentID], e)
	}
	return out
}

// Decide picks the entry that decides a deployment's target on this machine:
// among the current completed document's entries for the deployment (or,
// when it holds none any more, the event's changed entries), the latest by
// its own timestamp; on equal times an entry changed by this event beats an
// unchanged one, then the later command id wins.
func Decide(current map[string]any, deploymentID string, changed []Entry) Entry {
	cands := map[string]Entry{}
	for id, v := range current {
		if e, ok := entry(id, v); ok && e.DeploymentID == deploymentID {
			cands[id] = e
		}
	}
	for _, e := range changed {
		if c, ok := cands[e.ID]; ok {
			c.Changed = true
			cands[e.ID] = c
		} else if len(current) == 0 || current[e.ID] == nil {
			// Gone from the document (or no document): fall back to the event.
			cands[e.ID] = e
		}
	}
	list := make([]Entry, 0, len(cands))
	for _, e := range cands {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if a.Changed != b.Changed {
			return !a.Changed
		}
		return a.ID < b.ID
	})
	if len(list) == 0 {
		return Entry{}
	}
	return list[len(list)-1]
}

// ApplyToTarget applies the deciding entry to one target map and returns the
// updated copy, or nil when the target does not change (§7.1: terminal guard,
// skip when neither status nor progress changed).
func ApplyToTarget(t map[string]any, e Entry, now time.Time) map[string]any {
	cur, _ := t["status"].(string)
	next := deploystatus.FromCommand(e.Status, e.Type)
	terminal := deploystatus.TargetTerminal(next)
	if deploystatus.TargetTerminal(cur) && !terminal {
		return nil
	}
	progressChanged := !terminal && e.Progress != nil && !sameValue(t["progress"], e.Progress)
	if cur == next && !progressChanged {
		return nil
	}
	out := make(map[string]any, len(t)+2)
	for k, v := range t {
		out[k] = v
	}
	out["status"] = next
	if e.Progress != nil {
		out["progress"] = e.Progress
	}
	if store.Truthy(e.Error) {
		out["error"] = e.Error
	}
	if terminal {
		delete(out, "progress")
		out[deploystatus.StampField(next)] = now
	}
	return out
}

// Handle is the trigger: it applies each changed deployment's completions.
func Handle(ctx context.Context, d *app.Deps, e *trigger.Event) error {
	if logging.From(ctx) == slog.Default() {
		ctx = logging.With(ctx, d.Log)
	}
	params, ok := e.Params(Document)
	if !ok {
		logging.From(ctx).Warn("event for a document the trigger does not watch: ignored")
		return nil
	}
	groups := Changed(e.BeforeFields(), e.AfterFields())
	if len(groups) == 0 {
		return nil
	}
	ids := make([]string, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []error
	for _, id := range ids {
		if err := apply(ctx, d, params["siteId"], params["machineId"], id, groups[id]); err != nil {
			errs = append(errs, fmt.Errorf("deployment %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// errUnchanged ends a transaction that has nothing to write with a rollback
// instead of an empty commit.
var errUnchanged = errors.New("unchanged")

// apply updates one deployment in a transaction.
func apply(ctx context.Context, d *app.Deps, site, machine, deploymentID string, changed []Entry) error {
	log := logging.From(ctx).With("siteId", site, "machineId", machine, "deploymentId", deploymentID)
	fs := d.Firestore
	depRef := fs.Collection("sites").Doc(site).Collection("deployments").Doc(deploymentID)
	doneRef := fs.Collection("sites").Doc(site).Collection("machines").Doc(machine).Collection("commands").Doc("completed")
	var outcome string
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		outcome = ""
		dep, err := tx.Get(depRef)
		if store.NotFound(err) {
			outcome = "deployment not found"
			return errUnchanged
		}
		if err != nil {
			return err
		}
		doc := dep.Data()
		// The agent's completed document is read outside the transaction's
		// locks, after the deployment's: a transactional read would lock it,
		// and the agent's own writes to it then wait on us and fail under
		// load ("Transaction lock timeout"; the load run lost deployments
		// that way). Read after the deployment, on every attempt, it is at
		// least as new as what any transaction that committed before ours
		// saw, so a late event never rolls a target back.
		var current map[string]any
		done, err := doneRef.Get(ctx)
		switch {
		case err == nil:
			current = done.Data()
		case !store.NotFound(err):
			return err
		}
		dec := Decide(current, deploymentID, changed)
		if dec.ID == "" {
			outcome = "no deciding entry"
			return errUnchanged
		}
		now := d.Now()
		targets := deploystatus.Targets(doc["targets"])
		next := make([]any, len(targets))
		copy(next, targets)
		found, changedTargets := false, false
		for i, t := range targets {
			m, ok := t.(map[string]any)
			if !ok || m["machineId"] != machine {
				continue
			}
			found = true
			if nt := ApplyToTarget(m, dec, now); nt != nil {
				next[i] = nt
				changedTargets = true
			}
		}
		if !found {
			outcome = "machine is not a target"
			return errUnchanged
		}
		ups := deploystatus.Rollup(doc, next, changedTargets, now)
		if ups == nil {
			outcome = "unchanged"
			return errUnchanged
		}
		outcome = fmt.Sprintf("command %s %s → deployment %s", dec.ID, dec.Status, deploystatus.Aggregate(next))
		return tx.Update(depRef, ups)
	}, firestore.MaxAttempts(10))
	if err != nil && !errors.Is(err, errUnchanged) {
		return err
	}
	log.Info("deployment status", "outcome", outcome)
	return nil
}

// sameValue compares stored values, numbers by value (an int64 progress
// equals the same float64).
func sameValue(a, b any) bool {
	fa, aNum := number(a)
	fb, bNum := number(b)
	if aNum || bNum {
		return aNum && bNum && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
