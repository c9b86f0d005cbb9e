package processes

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/web"
)

// Errors of the shared mutation rules (api.md §2.10).
var (
	ErrConfigNotFound  = web.NotFound("Machine configuration not found")
	ErrProcessNotFound = web.NotFound("Process not found")
	// ErrNotArray answers a config document whose `processes` is neither
	// missing nor an array (the original failed with a 500): nothing is
	// overwritten.
	ErrNotArray = web.Conflict("The machine configuration's processes field is not an array; it was left unchanged")
	// ErrBusy answers a change whose transaction kept colliding with others.
	ErrBusy = web.Unavailable("The process list is being changed by someone else; please retry", nil)
)

// mutation computes a machine's new process list from the current one. It
// may run more than once (transaction retries), so it must only compute: no
// I/O, no changes to anything but what it returns. It also returns the
// machine-document updates to commit with the list besides configChangeFlag
// (the launch-mode status mirror), if any.
type mutation func(procs []any) ([]any, []firestore.Update, error)

// mutate runs one change of a machine's process list in a transaction on
// config/{siteId}/machines/{machineId} (api.md §2.10 "shared mutation
// rules"): a missing config document is a 404; only `processes` is
// written, every schedule block in it in the canonical form; the machine
// document, when it exists, gets configChangeFlag (and the mutation's
// mirror) in the same commit.
func (h *handlers) mutate(ctx context.Context, siteID, machineID string, m mutation) error {
	unlock, err := h.locks.lock(ctx, siteID+"/"+machineID)
	if err != nil {
		return web.Unavailable("Request cancelled while waiting for another change of this machine", err)
	}
	defer unlock()
	cfg, mach := h.configRef(siteID, machineID), h.machineRef(siteID, machineID)
	err = h.d.Firestore.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snaps, err := tx.GetAll([]*firestore.DocumentRef{cfg, mach})
		if err != nil {
			return err // raw, so that an Aborted read is retried
		}
		if !snaps[0].Exists() {
			return ErrConfigNotFound
		}
		procs, ok := processList(snaps[0].Data()["processes"])
		if !ok {
			return ErrNotArray
		}
		procs, mirror, err := m(procs)
		if err != nil {
			return err
		}
		for i, p := range procs {
			procs[i] = cleanProcess(p)
		}
		if err := tx.Update(cfg, []firestore.Update{{Path: "processes", Value: procs}}); err != nil {
			return err
		}
		if snaps[1].Exists() {
			ups := append([]firestore.Update{{Path: "configChangeFlag", Value: true}}, mirror...)
			if err := tx.Update(mach, ups); err != nil {
				return err
			}
		}
		return nil
	}, firestore.MaxAttempts(maxTxAttempts))
	return txError(err)
}

// txError maps a transaction's failure to the response.
func txError(err error) error {
	if err == nil {
		return nil
	}
	var we *web.Error
	if errors.As(err, &we) {
		return we
	}
	switch status.Code(err) {
	case codes.Aborted:
		return ErrBusy.Wrap(err)
	case codes.InvalidArgument:
		// A value Firestore refuses that the checks did not catch, or a
		// config document grown past 1 MiB.
		msg := err.Error()
		if s, ok := status.FromError(err); ok {
			msg = s.Message()
		}
		return web.Errorf(http.StatusBadRequest, "Firestore refused the change: %s", msg).Wrap(err)
	case codes.Canceled, codes.DeadlineExceeded:
		return web.Unavailable("Request cancelled or timed out", err)
	}
	return web.Internal(err)
}

// processList reads a stored `processes` value: missing or null is an empty
// list; anything else that is not an array is refused (ok false).
func processList(v any) ([]any, bool) {
	switch x := v.(type) {
	case nil:
		return []any{}, true
	case []any:
		return x, true
	}
	return nil, false
}

// findProcess returns the index of the first element that is a process with
// the given id (JavaScript `p.id === id`), or -1.
func findProcess(procs []any, id string) int {
	for i, p := range procs {
		if m, ok := p.(map[string]any); ok {
			if pid, _ := m["id"].(string); pid == id {
				return i
			}
		}
	}
	return -1
}

// copyMap returns a shallow copy of m.
func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// cleanProcess puts a process's schedule blocks into the canonical form; any
// element that is not an object is kept as it is.
func cleanProcess(p any) any {
	m, ok := p.(map[string]any)
	if !ok {
		return p
	}
	s, ok := m["schedules"]
	if !ok {
		return p
	}
	out := copyMap(m)
	out["schedules"] = CleanSchedules(s)
	return out
}

// CleanSchedules rewrites each schedule block to the form the agent reads,
// {days, ranges[, name][, colorIndex]}, dropping other block keys (api.md
// §2.10). A block in the reference document's form, {days, startTime,
// endTime}, becomes {days, ranges:[{start, stop}]} (DECISIONS §1). A value
// that is not an array (null) and elements that are not objects are kept.
func CleanSchedules(v any) any {
	arr, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(arr))
	for i, b := range arr {
		out[i] = cleanBlock(b)
	}
	return out
}

func cleanBlock(b any) any {
	m, ok := b.(map[string]any)
	if !ok {
		return b
	}
	out := map[string]any{}
	if d, ok := m["days"]; ok {
		out["days"] = d
	}
	if r, ok := m["ranges"]; ok {
		out["ranges"] = r
	} else {
		st, hasStart := m["startTime"]
		et, hasEnd := m["endTime"]
		if hasStart || hasEnd {
			rg := map[string]any{}
			if hasStart {
				rg["start"] = st
			}
			if hasEnd {
				rg["stop"] = et
			}
			out["ranges"] = []any{rg}
		}
	}
	for _, k := range []string{"name", "colorIndex"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// checkSchedules validates a request's schedules: null, or an array of
// schedule blocks (objects) whose days and ranges, when present, are arrays,
// in either accepted form.
func checkSchedules(v any) error {
	if v == nil {
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		return web.BadRequest("schedules must be an array of schedule blocks or null")
	}
	for i, b := range arr {
		m, ok := b.(map[string]any)
		if !ok {
			return web.Errorf(http.StatusBadRequest, "schedules[%d] must be an object {days, ranges:[{start, stop}]}", i)
		}
		if d, ok := m["days"]; ok && d != nil {
			days, ok := d.([]any)
			if !ok {
				return web.Errorf(http.StatusBadRequest, "schedules[%d].days must be an array of day names", i)
			}
			for _, x := range days {
				if _, ok := x.(string); !ok {
					return web.Errorf(http.StatusBadRequest, "schedules[%d].days must be an array of day names", i)
				}
			}
		}
		if r, ok := m["ranges"]; ok && r != nil {
			ranges, ok := r.([]any)
			if !ok {
				return web.Errorf(http.StatusBadRequest, "schedules[%d].ranges must be an array of {start, stop}", i)
			}
			for j, x := range ranges {
				rg, ok := x.(map[string]any)
				if !ok {
					return web.Errorf(http.StatusBadRequest, "schedules[%d].ranges[%d] must be an object {start, stop}", i, j)
				}
				for _, k := range []string{"start", "stop"} {
					if s, ok := rg[k]; ok && s != nil {
						if _, ok := s.(string); !ok {
							return web.Errorf(http.StatusBadRequest, "schedules[%d].ranges[%d].%s must be a time string (HH:MM)", i, j, k)
						}
					}
				}
			}
		}
		for _, k := range []string{"startTime", "endTime"} {
			if s, ok := m[k]; ok && s != nil {
				if _, ok := s.(string); !ok {
					return web.Errorf(http.StatusBadRequest, "schedules[%d].%s must be a time string (HH:MM)", i, k)
				}
			}
		}
	}
	return nil
}

// maxDepth is Firestore's nesting limit for maps and arrays.
const maxDepth = 20

// firestoreValue converts a decoded JSON value to what the Node Admin SDK
// would store: integral numbers become integers (JavaScript has no other
// kind), after checking what Firestore refuses (empty or reserved keys,
// arrays directly inside arrays, nesting deeper than 20) so that such input
// is a 400, not a failed write.
func firestoreValue(v any, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, web.Errorf(http.StatusBadRequest, "%s is nested too deeply (limit %d levels)", path, maxDepth)
	}
	switch x := v.(type) {
	case float64:
		if x == float64(int64(x)) && x >= -(1<<53-1) && x <= 1<<53-1 {
			return int64(x), nil
		}
		return x, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if err := checkKey(k, path); err != nil {
				return nil, err
			}
			c, err := firestoreValue(e, path+"."+k, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			if _, nested := e.([]any); nested {
				return nil, web.Errorf(http.StatusBadRequest, "%s contains an array inside an array, which Firestore cannot store", path)
			}
			c, err := firestoreValue(e, path, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	return v, nil
}

// checkKey refuses a map key Firestore cannot store.
func checkKey(k, path string) error {
	switch {
	case k == "":
		return web.Errorf(http.StatusBadRequest, "%s has an empty key", path)
	case len(k) > 1500:
		return web.Errorf(http.StatusBadRequest, "%s has a key longer than 1500 bytes", path)
	case len(k) >= 4 && strings.HasPrefix(k, "__") && strings.HasSuffix(k, "__"):
		return web.Errorf(http.StatusBadRequest, "%s has the reserved key %q", path, k)
	}
	return nil
}

// keyedLock queues the changes of one machine within an instance, so that
// they do not abort each other's transactions.
type keyedLock struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	ch   chan struct{}
	refs int
}

func newKeyedLock() *keyedLock { return &keyedLock{m: map[string]*lockEntry{}} }

// lock waits for key's lock (or ctx) and returns its release.
func (k *keyedLock) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &lockEntry{ch: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; k.release(key, e) }, nil
	case <-ctx.Done():
		k.release(key, e)
		return nil, ctx.Err()
	}
}

func (k *keyedLock) release(key string, e *lockEntry) {
	k.mu.Lock()
	if e.refs--; e.refs == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}
