package processes

import (
	"net/http"

	"cloud.google.com/go/firestore"
	"github.com/google/uuid"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/web"
)

// ErrNameExe answers a create without name or exe_path.
var ErrNameExe = web.BadRequest("Missing required fields: name and exe_path")

// NewProcess builds the stored entry of E26 from a request body: exactly
// the keys {id, name, exe_path, file_path, cwd, priority, visibility,
// time_delay, time_to_init, relaunch_attempts, autolaunch, launch_mode,
// schedules} (api.md E26, §6 item 12: no schedulePresetId, no index).
func NewProcess(id string, b body) (map[string]any, error) {
	p := map[string]any{"id": id}
	for _, f := range []struct{ key, def string }{
		{"name", ""}, {"exe_path", ""}, {"file_path", ""}, {"cwd", ""},
		{"priority", DefaultPriority}, {"visibility", DefaultVisibility}, {"launch_mode", ModeOff},
	} {
		s, err := b.str(f.key)
		if err != nil {
			return nil, err
		}
		if s == "" {
			s = f.def
		}
		p[f.key] = s
	}
	if p["name"] == "" || p["exe_path"] == "" {
		return nil, ErrNameExe
	}
	// The original stored any launch_mode; an unknown one would make the
	// agent treat the process as autolaunched, so it is a 400 as in E29.
	mode := p["launch_mode"].(string)
	if !validMode(mode) {
		return nil, web.BadRequest("Invalid launch_mode. Must be one of: off, always, scheduled")
	}
	p["autolaunch"] = mode != ModeOff
	for _, f := range []struct{ key, def string }{
		{"time_delay", DefaultTimeDelay}, {"time_to_init", DefaultTimeToInit}, {"relaunch_attempts", DefaultRelaunchAttempt},
	} {
		v, err := b.setting(f.key, f.def)
		if err != nil {
			return nil, err
		}
		p[f.key] = v
	}
	if err := checkSchedules(b["schedules"]); err != nil {
		return nil, err
	}
	s, err := firestoreValue(b["schedules"], "schedules", 0)
	if err != nil {
		return nil, err
	}
	p["schedules"] = CleanSchedules(s)
	return p, nil
}

// create is E26. Order: body → guard → transaction. The new entry (and its
// id) is built once, outside the transaction, so a retried transaction
// appends the same entry.
func (h *handlers) create(w http.ResponseWriter, r *http.Request) error {
	b, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	siteID, machineID, err := b.ids()
	if err != nil {
		return err
	}
	id := uuid.NewString()
	proc, err := NewProcess(id, b)
	if err != nil {
		return err
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	err = h.mutate(r.Context(), siteID, machineID, func(procs []any) ([]any, []firestore.Update, error) {
		out := make([]any, len(procs), len(procs)+1)
		copy(out, procs)
		return append(out, proc), nil, nil
	})
	if err != nil {
		return err
	}
	return web.OK(w, web.M{"success": true, "processId": id})
}
