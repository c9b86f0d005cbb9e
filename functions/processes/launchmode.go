package processes

import (
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/web"
)

// ErrSchedulesRequired answers mode "scheduled" without schedule blocks.
var ErrSchedulesRequired = web.BadRequest("schedules must be a non-empty array when mode is scheduled")

// launchModeRequest is E29's body after validation.
type launchModeRequest struct {
	siteID, machineID, mode string
	// schedules is set when the body has the key (it may be null).
	hasSchedules bool
	schedules    any
	// presetID is set when the body has the key: the value, or null.
	hasPreset bool
	presetID  any
}

func parseLaunchMode(b body) (*launchModeRequest, error) {
	siteID, machineID, err := b.ids()
	if err != nil {
		return nil, err
	}
	q := &launchModeRequest{siteID: siteID, machineID: machineID}
	if q.mode, err = b.str("mode"); err != nil {
		return nil, err
	}
	if q.mode == "" {
		return nil, web.BadRequest("Missing required field: mode")
	}
	if !validMode(q.mode) {
		return nil, ErrMode
	}
	s, has := b["schedules"]
	if q.mode == ModeScheduled {
		if arr, ok := s.([]any); !ok || len(arr) == 0 {
			return nil, ErrSchedulesRequired
		}
	}
	if has {
		if err := checkSchedules(s); err != nil {
			return nil, err
		}
		c, err := firestoreValue(s, "schedules", 0)
		if err != nil {
			return nil, err
		}
		q.hasSchedules, q.schedules = true, CleanSchedules(c)
	}
	if v, has := b["schedulePresetId"]; has {
		switch x := v.(type) {
		case nil:
		case string:
			if x != "" {
				q.presetID = x
			}
		default:
			return nil, web.BadRequest(`Field "schedulePresetId" must be a string or null`)
		}
		q.hasPreset = true
	}
	return q, nil
}

// launchMode is E29. Order: body → guard → transaction. The process gets
// launch_mode, autolaunch (mode != off), schedules and schedulePresetId
// when the body has those keys. In the same commit the machine document (if
// it exists) gets configChangeFlag and the status mirror
// metrics.processes.<id>.{launch_mode, autolaunch, schedules,
// schedulePresetId} with the process's resulting values, so the dashboard
// sees the change before the agent's next upload. (The original wrote the
// mirror after the transaction and lost all of it whenever schedules was
// absent or null; here it is always written with the stored values.)
func (h *handlers) launchMode(w http.ResponseWriter, r *http.Request) error {
	b, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	q, err := parseLaunchMode(b)
	if err != nil {
		return err
	}
	if _, err := guard.Site(r, q.siteID); err != nil {
		return err
	}
	processID := r.PathValue("processId")
	err = h.mutate(r.Context(), q.siteID, q.machineID, func(procs []any) ([]any, []firestore.Update, error) {
		i := findProcess(procs, processID)
		if i < 0 {
			return nil, nil, ErrProcessNotFound
		}
		out := append([]any(nil), procs...)
		p := copyMap(procs[i].(map[string]any))
		p["launch_mode"] = q.mode
		p["autolaunch"] = q.mode != ModeOff
		if q.hasSchedules {
			p["schedules"] = q.schedules
		}
		if q.hasPreset {
			p["schedulePresetId"] = q.presetID
		}
		out[i] = p
		return out, Mirror(processID, p), nil
	})
	if err != nil {
		return err
	}
	return web.OK(w, web.M{"success": true})
}

// Mirror is the machine-document status mirror of a process's launch
// settings (datamodel.md §2.2, §6).
func Mirror(processID string, p map[string]any) []firestore.Update {
	field := func(k string) firestore.FieldPath { return firestore.FieldPath{"metrics", "processes", processID, k} }
	return []firestore.Update{
		{FieldPath: field("launch_mode"), Value: p["launch_mode"]},
		{FieldPath: field("autolaunch"), Value: p["autolaunch"]},
		{FieldPath: field("schedules"), Value: CleanSchedules(p["schedules"])},
		{FieldPath: field("schedulePresetId"), Value: p["schedulePresetId"]},
	}
}
