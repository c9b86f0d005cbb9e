package processes

import (
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/web"
)

// ErrNothingToUpdate answers an update with no field besides the ids.
var ErrNothingToUpdate = web.BadRequest("No fields to update")

// update is E27. Order: body → guard → transaction. Every body key other
// than siteId and machineId is merged shallowly into the process (`id` is
// dropped, so a process keeps its id); launch_mode does not recompute
// autolaunch here (only E29 does). Values are stored as the Node server
// would (integral numbers as integers; schedules in the canonical form).
func (h *handlers) update(w http.ResponseWriter, r *http.Request) error {
	b, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	siteID, machineID, err := b.ids()
	if err != nil {
		return err
	}
	updates := map[string]any{}
	for k, v := range b {
		if k == "siteId" || k == "machineId" || k == "id" {
			continue
		}
		if err := checkKey(k, "body"); err != nil {
			return err
		}
		c, err := firestoreValue(v, k, 1)
		if err != nil {
			return err
		}
		updates[k] = c
	}
	if len(updates) == 0 {
		return ErrNothingToUpdate
	}
	if s, ok := updates["schedules"]; ok {
		if err := checkSchedules(s); err != nil {
			return err
		}
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	processID := r.PathValue("processId")
	err = h.mutate(r.Context(), siteID, machineID, func(procs []any) ([]any, []firestore.Update, error) {
		i := findProcess(procs, processID)
		if i < 0 {
			return nil, nil, ErrProcessNotFound
		}
		out := append([]any(nil), procs...)
		p := copyMap(procs[i].(map[string]any))
		for k, v := range updates {
			p[k] = v
		}
		out[i] = p
		return out, nil, nil
	})
	if err != nil {
		return err
	}
	return web.OK(w, web.M{"success": true})
}

// remove is E28. Order: params → guard → transaction. Every entry with the
// id goes (the original filters by id).
func (h *handlers) remove(w http.ResponseWriter, r *http.Request) error {
	siteID, machineID, err := queryIDs(r)
	if err != nil {
		return err
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	processID := r.PathValue("processId")
	err = h.mutate(r.Context(), siteID, machineID, func(procs []any) ([]any, []firestore.Update, error) {
		if findProcess(procs, processID) < 0 {
			return nil, nil, ErrProcessNotFound
		}
		out := make([]any, 0, len(procs))
		for _, p := range procs {
			if m, ok := p.(map[string]any); ok {
				if pid, _ := m["id"].(string); pid == processID {
					continue
				}
			}
			out = append(out, p)
		}
		return out, nil, nil
	})
	if err != nil {
		return err
	}
	return web.OK(w, web.M{"success": true})
}
