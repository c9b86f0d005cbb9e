package processes_test

import (
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/owlette/server/functions/processes"
	"github.com/owlette/server/shared/apptest"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreate(t *testing.T) {
	f := newFixture(t)
	key := apptest.WithAPIKey(f.member.APIKey())
	ids := f.seedMachine(t, f.site, "ws-01", 2)
	before := f.Doc(configPath(f.site, "ws-01"))
	machineBefore := f.Doc(machinePath(f.site, "ws-01"))

	t.Run("minimal body: exact stored key set and defaults", func(t *testing.T) {
		r := f.Do("POST", base, key, map[string]any{
			"siteId": f.site, "machineId": "ws-01", "name": "Show", "exe_path": `C:\show\show.exe`,
			// ignored: not part of a new entry (api.md §6 item 12)
			"schedulePresetId": "builtin-x", "index": 7, "id": "mine", "check_responsive": false,
		}, nil)
		if r.StatusCode != 200 || r.JSON["success"] != true {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		id, _ := r.JSON["processId"].(string)
		if !uuidV4.MatchString(id) {
			t.Fatalf("processId %q is not a UUID v4", id)
		}
		after := f.Doc(configPath(f.site, "ws-01"))
		ps := after["processes"].([]any)
		if len(ps) != 3 || ps[2].(map[string]any)["id"] != id {
			t.Fatalf("new entry not appended: %v", ps)
		}
		want := map[string]any{
			"id": id, "name": "Show", "exe_path": `C:\show\show.exe`, "file_path": "", "cwd": "",
			"priority": "Normal", "visibility": "Show", "time_delay": "0", "time_to_init": "10", "relaunch_attempts": "3",
			"autolaunch": false, "launch_mode": "off", "schedules": nil,
		}
		if got := ps[2].(map[string]any); !reflect.DeepEqual(got, want) {
			t.Errorf("stored entry\n got %v\nwant %v", got, want)
		}
		// Everything else is untouched: the agent's entries (numbers stay
		// integers) and its other config fields.
		for i := range 2 {
			if !reflect.DeepEqual(ps[i], before["processes"].([]any)[i]) {
				t.Errorf("entry %d changed: %v", i, ps[i])
			}
		}
		for _, k := range []string{"version", "environment", "_comment", "logging", "cortex"} {
			if !reflect.DeepEqual(after[k], before[k]) {
				t.Errorf("config field %s changed: %v", k, after[k])
			}
		}
		m := f.Doc(machinePath(f.site, "ws-01"))
		if m["configChangeFlag"] != true {
			t.Errorf("configChangeFlag not set: %v", m["configChangeFlag"])
		}
		delete(m, "configChangeFlag")
		if !reflect.DeepEqual(m, machineBefore) {
			t.Errorf("machine document changed beyond configChangeFlag")
		}
		_ = ids
	})

	t.Run("full body, schedules in the reference form become ranges", func(t *testing.T) {
		r := f.Do("POST", base, apptest.WithCookie(f.owner.Cookie()), map[string]any{
			"siteId": f.site, "machineId": "ws-01", "name": "Kiosk", "exe_path": `C:\k.exe`, "file_path": `C:\k.html`, "cwd": `C:\`,
			"priority": "High", "visibility": "Hide", "time_delay": 5, "time_to_init": "30", "relaunch_attempts": 0.5,
			"launch_mode": "scheduled",
			"schedules": []any{
				map[string]any{"days": []any{"mon"}, "startTime": "08:00", "endTime": "18:00", "junk": 1},
				map[string]any{"days": []any{"sat", "sun"}, "ranges": []any{map[string]any{"start": "22:00", "stop": "02:00"}}, "name": "Night", "colorIndex": 3},
			},
		}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		p := byID(f.processes(t, f.site, "ws-01"), r.JSON["processId"].(string))
		if p["time_delay"] != int64(5) || p["time_to_init"] != "30" || p["relaunch_attempts"] != 0.5 {
			t.Errorf("settings %v %v %v", p["time_delay"], p["time_to_init"], p["relaunch_attempts"])
		}
		if p["autolaunch"] != true || p["launch_mode"] != "scheduled" || p["priority"] != "High" || p["visibility"] != "Hide" {
			t.Errorf("entry %v", p)
		}
		want := []any{
			map[string]any{"days": []any{"mon"}, "ranges": []any{map[string]any{"start": "08:00", "stop": "18:00"}}},
			map[string]any{"days": []any{"sat", "sun"}, "ranges": []any{map[string]any{"start": "22:00", "stop": "02:00"}}, "name": "Night", "colorIndex": int64(3)},
		}
		if !reflect.DeepEqual(p["schedules"], want) {
			t.Errorf("schedules\n got %v\nwant %v", p["schedules"], want)
		}
		if keys := slices.Sorted(maps.Keys(p)); len(keys) != 13 {
			t.Errorf("stored keys %v", keys)
		}
	})

	t.Run("no machine document: created config entry, no machine document", func(t *testing.T) {
		f.set(t, configPath(f.site, "cfg-only"), agentConfig())
		r := f.Do("POST", base, key, map[string]any{"siteId": f.site, "machineId": "cfg-only", "name": "A", "exe_path": "a.exe"}, nil)
		if r.StatusCode != 200 || len(f.processes(t, f.site, "cfg-only")) != 1 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if f.Doc(machinePath(f.site, "cfg-only")) != nil {
			t.Error("machine document created")
		}
	})

	t.Run("config without processes field gets one", func(t *testing.T) {
		f.set(t, configPath(f.site, "empty"), map[string]any{"version": "1.6.0"})
		r := f.Do("POST", base, key, map[string]any{"siteId": f.site, "machineId": "empty", "name": "A", "exe_path": "a.exe"}, nil)
		if r.StatusCode != 200 || len(f.processes(t, f.site, "empty")) != 1 || f.Doc(configPath(f.site, "empty"))["version"] != "1.6.0" {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	})

	noArray := map[string]any{"version": "1.6.0", "processes": "corrupt"}
	f.set(t, configPath(f.site, "noarray"), noArray)
	valid := func(extra map[string]any) map[string]any {
		b := map[string]any{"siteId": f.site, "machineId": "ws-01", "name": "X", "exe_path": "x.exe"}
		maps.Copy(b, extra)
		return b
	}
	unchanged := func(t *testing.T, _ *apptest.Response) {
		if n := len(f.processes(t, f.site, "ws-01")); n != 4 {
			t.Errorf("%d processes after a refused create, want 4", n)
		}
	}
	f.Run(t, []apptest.Scenario{
		{Name: "no config document", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"machineId": "nope"}), Status: 404,
			Want: map[string]any{"error": processes.ErrConfigNotFound.Message},
			Check: func(t *testing.T, _ *apptest.Response) {
				if f.Doc(configPath(f.site, "nope")) != nil {
					t.Error("config document created")
				}
			}},
		{Name: "processes not an array", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"machineId": "noarray"}), Status: 409,
			Check: func(t *testing.T, _ *apptest.Response) {
				if d := f.Doc(configPath(f.site, "noarray")); !reflect.DeepEqual(d, noArray) {
					t.Errorf("config changed: %v", d)
				}
			}},
		{Name: "missing siteId", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"siteId": ""}), Status: 400, Check: unchanged},
		{Name: "missing machineId", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"machineId": nil}), Status: 400},
		{Name: "missing ids before auth", Method: "POST", Path: base, Cred: apptest.NoCred, Body: map[string]any{"name": "x"}, Status: 400,
			Want: map[string]any{"error": "Missing required fields: siteId and machineId"}},
		{Name: "missing name", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"name": ""}), Status: 400,
			Want: map[string]any{"error": "Missing required fields: name and exe_path"}, Check: unchanged},
		{Name: "missing exe_path", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"exe_path": nil}), Status: 400},
		{Name: "bad body before auth", Method: "POST", Path: base, Cred: apptest.NoCred, Body: valid(map[string]any{"name": nil}), Status: 400},
		{Name: "name not a string", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"name": 12}), Status: 400, Want: map[string]any{"error": `Field "name" must be a string`}},
		{Name: "siteId not a string", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"siteId": []any{"a"}}), Status: 400},
		{Name: "time_delay an object", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"time_delay": map[string]any{}}), Status: 400},
		{Name: "unknown launch_mode", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"launch_mode": "sometimes"}), Status: 400, Check: unchanged},
		{Name: "schedules not an array", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"schedules": "mon-fri"}), Status: 400},
		{Name: "schedule block not an object", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"schedules": []any{"mon"}}), Status: 400},
		{Name: "schedule days not an array", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"schedules": []any{map[string]any{"days": "mon"}}}), Status: 400},
		{Name: "schedule range times not strings", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"schedules": []any{map[string]any{"ranges": []any{map[string]any{"start": 9}}}}}), Status: 400},
		{Name: "malformed JSON", Method: "POST", Path: base, Cred: key, Body: apptest.Raw(`{"siteId":`), Status: 400},
		{Name: "empty body", Method: "POST", Path: base, Cred: key, Body: apptest.Raw(``), Status: 400},
		{Name: "array body", Method: "POST", Path: base, Cred: key, Body: apptest.Raw(`[1,2]`), Status: 400},
		{Name: "null body", Method: "POST", Path: base, Cred: key, Body: apptest.Raw(`null`), Status: 400},
		{Name: "huge body", Method: "POST", Path: base, Cred: key, Body: valid(map[string]any{"cwd": strings.Repeat("x", processes.MaxBody)}), Status: 413, Check: unchanged},
	})
}
