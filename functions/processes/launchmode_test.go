package processes_test

import (
	"reflect"
	"testing"

	"github.com/owlette/server/shared/apptest"
)

func TestLaunchMode(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.member.Cookie())
	weekdays := []any{map[string]any{"days": []any{"mon", "tue", "wed", "thu", "fri"}, "ranges": []any{map[string]any{"start": "09:00", "stop": "17:00"}}, "name": "Office", "colorIndex": int64(1)}}

	type want struct {
		mode       string
		autolaunch bool
		schedules  any
		preset     any
		hasPreset  bool // whether the config entry has the key
	}
	// check asserts the config entry and the machine-document mirror.
	check := func(t *testing.T, machine, id string, w want) {
		t.Helper()
		p := byID(f.processes(t, f.site, machine), id)
		if p["launch_mode"] != w.mode || p["autolaunch"] != w.autolaunch || !reflect.DeepEqual(p["schedules"], w.schedules) {
			t.Errorf("config entry: mode %v autolaunch %v schedules %v", p["launch_mode"], p["autolaunch"], p["schedules"])
		}
		if v, has := p["schedulePresetId"]; has != w.hasPreset || v != w.preset {
			t.Errorf("config schedulePresetId %v (present %v), want %v (present %v)", v, has, w.preset, w.hasPreset)
		}
		m := f.Doc(machinePath(f.site, machine))
		if m["configChangeFlag"] != true {
			t.Error("configChangeFlag not set")
		}
		mirror, _ := get(m, "metrics", "processes", id).(map[string]any)
		if mirror["launch_mode"] != w.mode || mirror["autolaunch"] != w.autolaunch || !reflect.DeepEqual(mirror["schedules"], w.schedules) || mirror["schedulePresetId"] != w.preset {
			t.Errorf("mirror %v", mirror)
		}
		// The agent's live fields next to the mirror are kept.
		if mirror["status"] != "RUNNING" || mirror["pid"] == nil || get(m, "metrics", "cpu", "percent") != 12.5 || m["online"] != true {
			t.Errorf("machine document lost agent fields: %v", m)
		}
	}
	path := func(id string) string { return base + "/" + id + "/launch-mode" }

	ids := f.seedMachine(t, f.site, "ws", 3)
	other := get(f.Doc(machinePath(f.site, "ws")), "metrics", "processes", ids[0])

	t.Run("scheduled with ranges", func(t *testing.T) {
		r := f.Do("PATCH", path(ids[1]), cookie, map[string]any{"siteId": f.site, "machineId": "ws", "mode": "scheduled", "schedules": weekdays, "schedulePresetId": "builtin-weekdays"}, nil)
		if r.StatusCode != 200 || r.JSON["success"] != true {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		check(t, "ws", ids[1], want{"scheduled", true, weekdays, "builtin-weekdays", true})
		if got := get(f.Doc(machinePath(f.site, "ws")), "metrics", "processes", ids[0]); !reflect.DeepEqual(got, other) {
			t.Errorf("another process's live entry changed: %v", got)
		}
	})

	t.Run("scheduled with startTime/endTime stores ranges", func(t *testing.T) {
		r := f.Do("PATCH", path(ids[2]), cookie, map[string]any{"siteId": f.site, "machineId": "ws", "mode": "scheduled",
			"schedules": []any{map[string]any{"days": []any{"sat"}, "startTime": "20:00", "endTime": "01:00", "color": "red"}}}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		canon := []any{map[string]any{"days": []any{"sat"}, "ranges": []any{map[string]any{"start": "20:00", "stop": "01:00"}}}}
		check(t, "ws", ids[2], want{"scheduled", true, canon, nil, false})
	})

	t.Run("always without schedules keeps the stored ones and the preset", func(t *testing.T) {
		r := f.Do("PATCH", path(ids[1]), cookie, map[string]any{"siteId": f.site, "machineId": "ws", "mode": "always"}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		check(t, "ws", ids[1], want{"always", true, weekdays, "builtin-weekdays", true})
	})

	t.Run("off with schedules null and preset empty", func(t *testing.T) {
		r := f.Do("PATCH", path(ids[1]), cookie, map[string]any{"siteId": f.site, "machineId": "ws", "mode": "off", "schedules": nil, "schedulePresetId": ""}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		check(t, "ws", ids[1], want{"off", false, nil, nil, true})
	})

	t.Run("always with schedules stores them", func(t *testing.T) {
		r := f.Do("PATCH", path(ids[0]), cookie, map[string]any{"siteId": f.site, "machineId": "ws", "mode": "always", "schedules": weekdays, "schedulePresetId": nil}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		check(t, "ws", ids[0], want{"always", true, weekdays, nil, true})
	})

	t.Run("no machine document: config changed, none created", func(t *testing.T) {
		f.set(t, configPath(f.site, "cfg-only"), agentConfig(agentProcess("c1", "C", 0)))
		r := f.Do("PATCH", path("c1"), cookie, map[string]any{"siteId": f.site, "machineId": "cfg-only", "mode": "off"}, nil)
		if r.StatusCode != 200 || byID(f.processes(t, f.site, "cfg-only"), "c1")["launch_mode"] != "off" {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if f.Doc(machinePath(f.site, "cfg-only")) != nil {
			t.Error("machine document created")
		}
	})

	unchanged := func(t *testing.T, _ *apptest.Response) {
		if p := byID(f.processes(t, f.site, "ws"), ids[2]); p["launch_mode"] != "scheduled" {
			t.Errorf("config changed: %v", p)
		}
	}
	body := func(kv ...any) map[string]any {
		b := map[string]any{"siteId": f.site, "machineId": "ws"}
		for i := 0; i+1 < len(kv); i += 2 {
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	f.Run(t, []apptest.Scenario{
		{Name: "invalid mode", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body("mode", "sometimes"), Status: 400,
			Want: map[string]any{"error": "Invalid mode. Must be one of: off, always, scheduled"}, Check: unchanged},
		{Name: "missing mode", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body(), Status: 400, Check: unchanged},
		{Name: "mode not a string", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body("mode", true), Status: 400},
		{Name: "scheduled without schedules", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body("mode", "off", "mode", "scheduled"), Status: 400,
			Want: map[string]any{"error": "schedules must be a non-empty array when mode is scheduled"}, Check: unchanged},
		{Name: "scheduled with empty schedules", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body("mode", "scheduled", "schedules", []any{}), Status: 400},
		{Name: "scheduled with schedules null", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body("mode", "scheduled", "schedules", nil), Status: 400},
		{Name: "schedules an object", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body("mode", "off", "schedules", map[string]any{}), Status: 400, Check: unchanged},
		{Name: "block not an object", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body("mode", "scheduled", "schedules", []any{1}), Status: 400},
		{Name: "preset not a string", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body("mode", "off", "schedulePresetId", 4), Status: 400, Check: unchanged},
		{Name: "invalid mode before auth", Method: "PATCH", Path: path(ids[2]), Cred: apptest.NoCred, Body: body("mode", "x"), Status: 400},
		{Name: "valid body without auth", Method: "PATCH", Path: path(ids[2]), Cred: apptest.NoCred, Body: body("mode", "off"), Status: 401, Check: unchanged},
		{Name: "unknown process", Method: "PATCH", Path: path("nope"), Cred: cookie, Body: body("mode", "off"), Status: 404, Want: map[string]any{"error": "Process not found"}},
		{Name: "unknown machine", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: body("machineId", "zz", "mode", "off"), Status: 404,
			Check: func(t *testing.T, _ *apptest.Response) {
				if f.Doc(configPath(f.site, "zz")) != nil || f.Doc(machinePath(f.site, "zz")) != nil {
					t.Error("documents created for an unknown machine")
				}
			}},
		{Name: "empty body", Method: "PATCH", Path: path(ids[2]), Cred: cookie, Body: apptest.Raw(""), Status: 400},
		{Name: "wrong method", Method: "POST", Path: path(ids[2]), Cred: cookie, Body: body("mode", "off"), Status: 405},
	})
}
