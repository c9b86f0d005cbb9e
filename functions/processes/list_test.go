package processes_test

import (
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
)

func TestList(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.member.Cookie())
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ts := time.Date(2026, 2, 1, 8, 30, 0, 5000, time.UTC)

	agent := agentProcess("a-1", "TouchDesigner", 0)
	web := map[string]any{ // as the API/dashboard writes it: strings
		"id": "w-2", "name": "Chrome", "exe_path": `C:\chrome.exe`, "file_path": "", "cwd": "",
		"priority": "Normal", "visibility": "Hide", "time_delay": "5", "time_to_init": "10", "relaunch_attempts": "3",
		"autolaunch": true, "launch_mode": "scheduled", "schedulePresetId": "builtin-weekdays",
		"schedules": []any{map[string]any{"days": []any{"mon", "tue"}, "ranges": []any{map[string]any{"start": "09:00", "stop": "17:00"}}, "name": "Work", "colorIndex": int64(2)}},
	}
	bare := map[string]any{"id": "b-3", "time_delay": int64(0), "extra": ts} // almost nothing stored
	byName := map[string]any{"id": "n-4", "name": "Named"}
	cfg := agentConfig(agent, web, bare, byName)
	cfg["processes"] = append(cfg["processes"].([]any), "garbage", nil)
	f.set(t, configPath(f.site, "full"), cfg)
	m := agentMachine(now, agent)
	live := get(m, "metrics", "processes").(map[string]any)
	live["Named"] = map[string]any{"status": "STOPPED", "pid": nil, "responsive": false, "last_updated": ts}
	f.set(t, machinePath(f.site, "full"), m)

	f.set(t, configPath(f.site, "noarray"), map[string]any{"version": "1.6.0", "processes": map[string]any{"0": agent}})
	f.set(t, configPath(f.site, "noprocs"), map[string]any{"version": "1.6.0"})
	f.set(t, configPath(f.site, "nomachine"), agentConfig(agent))
	f.set(t, machinePath(f.site, "flagonly"), map[string]any{"rebooting": true}) // an agent flag write replaced the doc
	f.set(t, configPath(f.site, "flagonly"), agentConfig(agent))

	url := func(machine string) string { return base + "?siteId=" + f.site + "&machineId=" + machine }
	f.Run(t, []apptest.Scenario{
		{
			Name: "agent-written, web-written and sparse entries", Method: "GET", Path: url("full"), Cred: cookie, Status: 200,
			Want: map[string]any{
				"success": true,
				// agent entry: stored values, live data by id
				"processes.0.id": "a-1", "processes.0.name": "TouchDesigner", "processes.0.priority": "High",
				"processes.0.time_delay":   "0", // stored 0 is falsy: the default
				"processes.0.time_to_init": 10, "processes.0.relaunch_attempts": 3, "processes.0.autolaunch": true,
				"processes.0.launch_mode": "always", "processes.0.schedules": nil, "processes.0.schedulePresetId": nil,
				"processes.0.index": 0, "processes.0.status": "RUNNING", "processes.0.pid": 4000, "processes.0.responsive": true,
				"processes.0.last_updated": float64(now.Unix()),
				// web entry: strings kept, schedules as stored, no live data
				"processes.1.visibility": "Hide", "processes.1.time_delay": "5", "processes.1.launch_mode": "scheduled",
				"processes.1.schedules.0.ranges.0.start": "09:00", "processes.1.schedules.0.colorIndex": 2,
				"processes.1.schedulePresetId": "builtin-weekdays", "processes.1.index": 1,
				"processes.1.status": "unknown", "processes.1.pid": nil, "processes.1.responsive": false, "processes.1.last_updated": nil,
				// sparse entry: every default
				"processes.2.id": "b-3", "processes.2.name": "", "processes.2.exe_path": "", "processes.2.file_path": "", "processes.2.cwd": "",
				"processes.2.priority": "Normal", "processes.2.visibility": "Show", "processes.2.time_delay": "0",
				"processes.2.time_to_init": "10", "processes.2.relaunch_attempts": "3", "processes.2.autolaunch": false,
				"processes.2.launch_mode": "off", "processes.2.index": 2, "processes.2.status": "unknown",
				// live data found by name; a stored Timestamp is raw
				"processes.3.status": "STOPPED", "processes.3.responsive": false,
				"processes.3.last_updated": map[string]any{"_seconds": ts.Unix(), "_nanoseconds": 5000},
			},
			Absent: []string{"processes.4", "processes.2.extra"},
		},
		{Name: "processes not an array", Method: "GET", Path: url("noarray"), Cred: cookie, Status: 200, Want: map[string]any{"processes": []any{}}},
		{Name: "no processes field", Method: "GET", Path: url("noprocs"), Cred: cookie, Status: 200, Want: map[string]any{"processes": []any{}}},
		{Name: "no config document", Method: "GET", Path: url("unknown"), Cred: cookie, Status: 200, Want: map[string]any{"success": true, "processes": []any{}}},
		{Name: "no machine document", Method: "GET", Path: url("nomachine"), Cred: cookie, Status: 200, Want: map[string]any{"processes.0.status": "unknown", "processes.0.pid": nil}},
		{Name: "machine document without metrics", Method: "GET", Path: url("flagonly"), Cred: cookie, Status: 200, Want: map[string]any{"processes.0.status": "unknown"}},
		{Name: "missing siteId", Method: "GET", Path: base + "?machineId=full", Cred: cookie, Status: 400},
		{Name: "missing machineId", Method: "GET", Path: base + "?siteId=" + f.site, Cred: cookie, Status: 400},
		{Name: "missing params before auth", Method: "GET", Path: base, Cred: apptest.NoCred, Status: 400, Want: map[string]any{"error": "Missing required fields: siteId and machineId"}},
		{Name: "machineId with a slash", Method: "GET", Path: url("a%2Fb"), Cred: cookie, Status: 400},
		{Name: "wrong method", Method: "PUT", Path: base, Cred: cookie, Status: 405},
	})
}
