package processes

import (
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// list is E25. Order: params → guard → one read of the config and machine
// documents together. A missing config document is an empty list; elements
// of `processes` that are not objects are skipped; live fields come from the
// machine document's metrics.processes, by process id, else by name.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	siteID, machineID, err := queryIDs(r)
	if err != nil {
		return err
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	snaps, err := h.d.Firestore.GetAll(r.Context(), []*firestore.DocumentRef{h.configRef(siteID, machineID), h.machineRef(siteID, machineID)})
	if err != nil {
		return web.Internal(err)
	}
	out := []web.M{}
	if snaps[0].Exists() {
		// Only the two fields the answer shows are converted (the machine
		// document carries every metric).
		v, _ := snaps[0].DataAtPath(firestore.FieldPath{"processes"})
		procs, _ := v.([]any)
		var live map[string]any
		if snaps[1].Exists() {
			v, _ := snaps[1].DataAtPath(firestore.FieldPath{"metrics", "processes"})
			live, _ = v.(map[string]any)
		}
		for i, p := range procs {
			if m, ok := p.(map[string]any); ok {
				out = append(out, View(m, i, live))
			}
		}
	}
	return web.OK(w, web.M{"success": true, "processes": out})
}

// View is E25's projection of a stored process at position i of the list,
// with the live status from metrics.processes (api.md E25 defaults: the
// original's `x || default`, `index` the stored one or the position).
func View(p map[string]any, i int, live map[string]any) web.M {
	id, _ := p["id"].(string)
	name, _ := p["name"].(string)
	var l map[string]any
	if m, ok := live[id].(map[string]any); ok && id != "" {
		l = m
	} else if m, ok := live[name].(map[string]any); ok && name != "" {
		l = m
	}
	index := any(i)
	if v, ok := p["index"]; ok && v != nil {
		index = store.Raw(v)
	}
	return web.M{
		"id":                or(p["id"], ""),
		"name":              or(p["name"], ""),
		"exe_path":          or(p["exe_path"], ""),
		"file_path":         or(p["file_path"], ""),
		"cwd":               or(p["cwd"], ""),
		"priority":          or(p["priority"], DefaultPriority),
		"visibility":        or(p["visibility"], DefaultVisibility),
		"time_delay":        or(p["time_delay"], DefaultTimeDelay),
		"time_to_init":      or(p["time_to_init"], DefaultTimeToInit),
		"relaunch_attempts": or(p["relaunch_attempts"], DefaultRelaunchAttempt),
		"autolaunch":        or(p["autolaunch"], false),
		"launch_mode":       or(p["launch_mode"], ModeOff),
		"schedules":         or(p["schedules"], nil),
		"schedulePresetId":  or(p["schedulePresetId"], nil),
		"index":             index,
		"status":            or(l["status"], "unknown"),
		"pid":               orNil(l["pid"], nil),
		"responsive":        orNil(l["responsive"], false),
		"last_updated":      orNil(l["last_updated"], nil),
	}
}

// or is JavaScript's `v || def`, stored timestamps in their raw form.
func or(v, def any) any {
	if store.Truthy(v) {
		return store.Raw(v)
	}
	return def
}

// orNil is JavaScript's `v ?? def`.
func orNil(v, def any) any {
	if v == nil {
		return def
	}
	return store.Raw(v)
}
