package processes_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/owlette/server/shared/apptest"
)

func TestUpdate(t *testing.T) {
	f := newFixture(t)
	key := apptest.WithAPIKey(f.owner.APIKey())
	ids := f.seedMachine(t, f.site, "ws", 3)
	before := f.processes(t, f.site, "ws")
	path := func(id string) string { return base + "/" + id }

	t.Run("merges shallowly; id kept; autolaunch not recomputed", func(t *testing.T) {
		r := f.Do("PATCH", path(ids[1]), key, map[string]any{
			"siteId": f.site, "machineId": "ws", "id": "hijack",
			"priority": "Low", "time_delay": 7, "launch_mode": "off", "custom": map[string]any{"a": []any{1, "b"}}, "cwd": nil,
			"schedules": []any{map[string]any{"days": []any{"fri"}, "startTime": "10:00", "endTime": "11:00"}},
		}, nil)
		if r.StatusCode != 200 || r.JSON["success"] != true {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		ps := f.processes(t, f.site, "ws")
		p := ps[1].(map[string]any)
		want := map[string]any{}
		for k, v := range before[1].(map[string]any) {
			want[k] = v
		}
		want["priority"], want["time_delay"], want["launch_mode"], want["cwd"] = "Low", int64(7), "off", nil
		want["custom"] = map[string]any{"a": []any{int64(1), "b"}}
		want["schedules"] = []any{map[string]any{"days": []any{"fri"}, "ranges": []any{map[string]any{"start": "10:00", "stop": "11:00"}}}}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("updated entry\n got %v\nwant %v", p, want)
		}
		if p["autolaunch"] != true {
			t.Error("autolaunch recomputed")
		}
		if !reflect.DeepEqual(ps[0], before[0]) || !reflect.DeepEqual(ps[2], before[2]) {
			t.Error("other entries changed")
		}
		if f.Doc(machinePath(f.site, "ws"))["configChangeFlag"] != true {
			t.Error("configChangeFlag not set")
		}
	})

	f.set(t, configPath(f.site, "odd"), map[string]any{"processes": []any{"text", int64(3), map[string]any{"id": "x", "name": "X"}, nil}})
	t.Run("elements that are not processes are kept", func(t *testing.T) {
		r := f.Do("PATCH", path("x"), key, map[string]any{"siteId": f.site, "machineId": "odd", "name": "Y"}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		want := []any{"text", int64(3), map[string]any{"id": "x", "name": "Y"}, nil}
		if got := f.processes(t, f.site, "odd"); !reflect.DeepEqual(got, want) {
			t.Errorf("got %v", got)
		}
	})

	unchanged := func(t *testing.T, _ *apptest.Response) {
		if got := f.processes(t, f.site, "ws"); len(got) != 3 || byID(got, ids[0])["priority"] != "High" {
			t.Errorf("config changed: %v", got)
		}
	}
	body := func(kv ...any) map[string]any {
		b := map[string]any{"siteId": f.site, "machineId": "ws"}
		for i := 0; i+1 < len(kv); i += 2 {
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	f.set(t, configPath(f.site, "noarray"), map[string]any{"processes": map[string]any{}})
	f.Run(t, []apptest.Scenario{
		{Name: "unknown process", Method: "PATCH", Path: path("nope"), Cred: key, Body: body("priority", "Low"), Status: 404, Want: map[string]any{"error": "Process not found"}, Check: unchanged},
		{Name: "unknown machine", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body("machineId", "nope", "priority", "Low"), Status: 404, Want: map[string]any{"error": "Machine configuration not found"}},
		{Name: "processes not an array", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body("machineId", "noarray", "priority", "Low"), Status: 409},
		{Name: "nothing to update", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body(), Status: 400, Want: map[string]any{"error": "No fields to update"}},
		{Name: "only an id", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body("id", "x"), Status: 400},
		{Name: "missing machineId", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body("machineId", "", "priority", "Low"), Status: 400, Check: unchanged},
		{Name: "missing ids before auth", Method: "PATCH", Path: path(ids[0]), Cred: apptest.NoCred, Body: map[string]any{"priority": "Low"}, Status: 400},
		{Name: "reserved key", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body("__name__", 1), Status: 400, Check: unchanged},
		{Name: "empty nested key", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body("m", map[string]any{"": 1}), Status: 400, Check: unchanged},
		{Name: "array in array", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body("m", []any{[]any{1}}), Status: 400, Check: unchanged},
		{Name: "too deep", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: apptest.Raw(`{"siteId":"` + f.site + `","machineId":"ws","deep":` + strings.Repeat(`{"a":`, 25) + `1` + strings.Repeat(`}`, 25) + `}`), Status: 400, Check: unchanged},
		{Name: "bad schedules", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body("schedules", "always"), Status: 400, Check: unchanged},
		{Name: "malformed JSON", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: apptest.Raw(`{"siteId":1`), Status: 400},
		{Name: "wrong type for machineId", Method: "PATCH", Path: path(ids[0]), Cred: key, Body: body("machineId", 5, "priority", "Low"), Status: 400},
	})
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	key := apptest.WithAPIKey(f.admin.APIKey())
	ids := f.seedMachine(t, f.site, "ws", 3)
	// A duplicate id (hand-edited config): the original's filter drops both.
	ps := f.processes(t, f.site, "ws")
	dup := map[string]any{"id": ids[2], "name": "dup"}
	cfg := f.Doc(configPath(f.site, "ws"))
	cfg["processes"] = append(ps, dup)
	f.set(t, configPath(f.site, "ws"), cfg)
	q := "?siteId=" + f.site + "&machineId=ws"
	f.Run(t, []apptest.Scenario{
		{Name: "delete one", Method: "DELETE", Path: base + "/" + ids[0] + q, Cred: key, Status: 200, Want: map[string]any{"success": true},
			Check: func(t *testing.T, _ *apptest.Response) {
				got := f.processes(t, f.site, "ws")
				if len(got) != 3 || byID(got, ids[0]) != nil || !reflect.DeepEqual(got[0], ps[1]) {
					t.Errorf("after delete: %v", got)
				}
				if f.Doc(machinePath(f.site, "ws"))["configChangeFlag"] != true {
					t.Error("configChangeFlag not set")
				}
			}},
		{Name: "delete both entries with one id", Method: "DELETE", Path: base + "/" + ids[2] + q, Cred: key, Status: 200,
			Check: func(t *testing.T, _ *apptest.Response) {
				if got := f.processes(t, f.site, "ws"); len(got) != 1 || !reflect.DeepEqual(got[0], ps[1]) {
					t.Errorf("after delete: %v", got)
				}
			}},
		{Name: "already deleted", Method: "DELETE", Path: base + "/" + ids[0] + q, Cred: key, Status: 404, Want: map[string]any{"error": "Process not found"}},
		{Name: "unknown machine", Method: "DELETE", Path: base + "/" + ids[1] + "?siteId=" + f.site + "&machineId=zz", Cred: key, Status: 404},
		{Name: "missing machineId", Method: "DELETE", Path: base + "/" + ids[1] + "?siteId=" + f.site, Cred: key, Status: 400},
		{Name: "missing siteId before auth", Method: "DELETE", Path: base + "/" + ids[1] + "?machineId=ws", Cred: apptest.NoCred, Status: 400},
		{Name: "survivor untouched", Method: "GET", Path: base + q, Cred: key, Status: 200, Want: map[string]any{"processes.0.id": ids[1], "processes.0.index": 1}},
	})
}
