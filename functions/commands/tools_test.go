package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/tools"
)

const (
	toolsPath   = "/api/admin/tools"
	executePath = "/api/admin/tools/execute"
)

func TestListTools(t *testing.T) {
	f := newFixture(t)
	key := apptest.WithAPIKey(f.admin.APIKey())
	count := func(n int) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			list, _ := r.JSON["tools"].([]any)
			if len(list) != n || r.JSON["count"] != float64(n) {
				t.Fatalf("%d tools, count %v, want %d", len(list), r.JSON["count"], n)
			}
			for _, x := range list {
				tool := x.(map[string]any)
				p, _ := tool["parameters"].(map[string]any)
				if tool["name"] == "" || tool["description"] == "" || tool["tier"].(float64) > 3 || p["type"] != "object" || p["required"] == nil {
					t.Errorf("tool %v", tool)
				}
				for _, k := range []string{"Command", "ServerSide", "command"} {
					if _, ok := tool[k]; ok {
						t.Errorf("internal field %s exposed: %v", k, tool)
					}
				}
			}
		}
	}
	n1, n2, n3 := len(tools.UpTo(1)), len(tools.UpTo(2)), len(tools.UpTo(3))
	if n1 != 13 || n2 != 18 || n3 != 29 {
		t.Fatalf("registry tiers: %d/%d/%d", n1, n2, n3)
	}
	f.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "GET", Path: toolsPath, Status: 401},
		{Name: "member", Method: "GET", Path: toolsPath, Cred: apptest.WithCookie(f.member.Cookie()), Status: 403},
		{Name: "member API key", Method: "GET", Path: toolsPath, Cred: apptest.WithAPIKey(f.member.APIKey()), Status: 403},
		{Name: "agent token", Method: "GET", Path: toolsPath, Cred: apptest.WithBearer(f.agentToken(f.site, "m1")), Status: 403},
		{Name: "admin cookie", Method: "GET", Path: toolsPath, Cred: apptest.WithCookie(f.admin.Cookie()), Status: 200, Check: count(n3),
			Want: map[string]any{"tools.0.name": "get_site_logs", "tools.0.tier": 1}},
		{Name: "admin ID token", Method: "GET", Path: toolsPath, Cred: apptest.WithBearer(f.admin.IDToken()), Status: 200, Check: count(n3)},
		{Name: "tier 1", Method: "GET", Path: toolsPath + "?tier=1", Cred: key, Status: 200, Check: count(n1)},
		{Name: "tier 2", Method: "GET", Path: toolsPath + "?tier=2", Cred: key, Status: 200, Check: count(n2),
			Want: map[string]any{"tools.13.name": "restart_process", "tools.13.parameters.required": []string{"process_name"}}},
		{Name: "tier 2 with trailing text (parseInt)", Method: "GET", Path: toolsPath + "?tier=2abc", Cred: key, Status: 200, Check: count(n2)},
		{Name: "tier 0 is clamped to 1", Method: "GET", Path: toolsPath + "?tier=0", Cred: key, Status: 200, Check: count(n1)},
		{Name: "negative tier is clamped to 1", Method: "GET", Path: toolsPath + "?tier=-4", Cred: key, Status: 200, Check: count(n1)},
		{Name: "tier 9 is clamped to 3", Method: "GET", Path: toolsPath + "?tier=9", Cred: key, Status: 200, Check: count(n3)},
		{Name: "empty tier is the default", Method: "GET", Path: toolsPath + "?tier=", Cred: key, Status: 200, Check: count(n3)},
		{Name: "non-numeric tier lists nothing", Method: "GET", Path: toolsPath + "?tier=high", Cred: key, Status: 200, Check: count(0),
			Want: map[string]any{"tools": []any{}}},
		{Name: "wrong method", Method: "DELETE", Path: toolsPath, Cred: key, Status: 405},
	})
}

func TestExecuteTool(t *testing.T) {
	f := newFixture(t)
	key := apptest.WithAPIKey(f.admin.APIKey())
	body := func(tool string, params any, extra ...any) map[string]any {
		b := map[string]any{"siteId": f.site, "machineId": "m1", "tool": tool, "params": params, "wait": false}
		for i := 0; i+1 < len(extra); i += 2 {
			b[extra[i].(string)] = extra[i+1]
		}
		return b
	}
	queued := func(check func(t *testing.T, cmd map[string]any)) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			cmd, _ := f.pending("m1")[r.JSON["commandId"].(string)].(map[string]any)
			if cmd["status"] != "pending" {
				t.Fatalf("pending entry %v", cmd)
			}
			if ts, ok := cmd["timestamp"].(time.Time); !ok || time.Since(ts) > time.Minute {
				t.Errorf("timestamp %#v", cmd["timestamp"])
			}
			check(t, cmd)
		}
	}
	f.Run(t, []apptest.Scenario{
		{Name: "native command", Method: "POST", Path: executePath, Cred: key, Body: body("restart_process", map[string]any{"process_name": "TD", "extra": 1}), Status: 200,
			Want: map[string]any{"success": true, "tool": "restart_process", "tier": 2, "commandId": apptest.Present}, Absent: []string{"status", "result"},
			Check: queued(func(t *testing.T, cmd map[string]any) {
				if cmd["type"] != "restart_process" || cmd["process_name"] != "TD" || cmd["extra"] != int64(1) || len(cmd) != 5 {
					t.Errorf("command %v", cmd)
				}
			})},
		{Name: "start_process is restart_process for the agent", Method: "POST", Path: executePath, Cred: key, Body: body("start_process", map[string]any{"process_name": "TD"}), Status: 200,
			Want: map[string]any{"tool": "start_process", "tier": 2},
			Check: queued(func(t *testing.T, cmd map[string]any) {
				if cmd["type"] != "restart_process" {
					t.Errorf("command %v", cmd)
				}
			})},
		{Name: "agent tool: mcp_tool_call", Method: "POST", Path: executePath, Cred: key, Body: body("read_file", map[string]any{"path": `C:\a.txt`}, "timeout", 12.5), Status: 200,
			Want: map[string]any{"tool": "read_file", "tier": 3},
			Check: queued(func(t *testing.T, cmd map[string]any) {
				p, _ := cmd["tool_params"].(map[string]any)
				if cmd["type"] != "mcp_tool_call" || cmd["tool_name"] != "read_file" || p["path"] != `C:\a.txt` || cmd["timeout_seconds"] != int64(13) {
					t.Errorf("command %v", cmd)
				}
			})},
		{Name: "server-side tool is relayed too; params default {}", Method: "POST", Path: executePath, Cred: key, Body: body("get_site_logs", nil), Status: 200,
			Check: queued(func(t *testing.T, cmd map[string]any) {
				if p, ok := cmd["tool_params"].(map[string]any); cmd["type"] != "mcp_tool_call" || !ok || len(p) != 0 || cmd["timeout_seconds"] != int64(30) {
					t.Errorf("command %v", cmd)
				}
			})},
		{Name: "wait defaults to true (negative timeout: at once)", Method: "POST", Path: executePath, Cred: key,
			Body: map[string]any{"siteId": f.site, "machineId": "m1", "tool": "get_agent_health", "timeout": -1}, Status: 200,
			Want: map[string]any{"success": true, "status": "timeout", "tool": "get_agent_health", "tier": 1}},
		{Name: "wait null does not wait", Method: "POST", Path: executePath, Cred: key,
			Body: map[string]any{"siteId": f.site, "machineId": "m1", "tool": "get_agent_health", "wait": nil}, Status: 200,
			Absent: []string{"status", "result"}},
	})

	seen := f.fakeAgent(t, "m9", map[string]any{"status": "completed", "result": `{"status":"ok"}`, "type": "mcp_tool_call"})
	f.Run(t, []apptest.Scenario{{Name: "waits for the result", Method: "POST", Path: executePath, Cred: key,
		Body: map[string]any{"siteId": f.site, "machineId": "m9", "tool": "get_agent_health", "timeout": 20}, Status: 200,
		Want: map[string]any{"success": true, "result.status": "completed", "result.result": `{"status":"ok"}`, "result.completedAt._seconds": apptest.Present},
		Check: func(t *testing.T, r *apptest.Response) {
			if cmd := <-seen; cmd["tool_name"] != "get_agent_health" || cmd["timeout_seconds"] != int64(20) {
				t.Errorf("agent saw %v", cmd)
			}
		}}})

	admin := apptest.WithCookie(f.admin.Cookie())
	bad := []struct {
		name, msg string
		body      any
	}{
		{"missing tool", "Missing required field: tool", map[string]any{"siteId": f.site, "machineId": "m1"}},
		{"missing machineId", "Missing required field: machineId", map[string]any{"siteId": f.site, "tool": "get_system_info"}},
		{"unknown tool", "Unknown tool: format_disk", body("format_disk", nil)},
		{"required parameter missing", "Missing required parameter: process_name", body("kill_process", map[string]any{})},
		{"required parameter empty", "Missing required parameter: mode", body("set_launch_mode", map[string]any{"process_name": "TD", "mode": ""})},
		{"required parameter null", "Missing required parameter: content", body("write_file", map[string]any{"path": "a", "content": nil})},
		{"params not an object", `Field "params" must be an object`, body("get_system_info", "x")},
		{"malformed", "Malformed JSON", apptest.Raw(`{"tool":`)},
		// Body checks come before the site check.
		{"unknown tool on an unknown site", "Unknown tool", map[string]any{"siteId": "nope", "machineId": "m1", "tool": "nope"}},
	}
	var sc []apptest.Scenario
	for _, b := range bad {
		sc = append(sc, apptest.Scenario{Name: b.name, Method: "POST", Path: executePath, Cred: admin, Body: b.body, Status: 400,
			Check: func(t *testing.T, r *apptest.Response) {
				if msg, _ := r.JSON["error"].(string); !strings.Contains(msg, b.msg) {
					t.Errorf("error %q, want %q", msg, b.msg)
				}
			}})
	}
	good := body("get_system_info", nil)
	sc = append(sc,
		apptest.Scenario{Name: "no credential", Method: "POST", Path: executePath, Body: good, Status: 401},
		apptest.Scenario{Name: "bad body, no credential: 401", Method: "POST", Path: executePath, Body: apptest.Raw("{"), Status: 401},
		apptest.Scenario{Name: "member cookie", Method: "POST", Path: executePath, Cred: apptest.WithCookie(f.member.Cookie()), Body: good, Status: 403},
		apptest.Scenario{Name: "member API key", Method: "POST", Path: executePath, Cred: apptest.WithAPIKey(f.member.APIKey()), Body: good, Status: 403},
		apptest.Scenario{Name: "other-site member", Method: "POST", Path: executePath, Cred: apptest.WithCookie(f.outside.Cookie()), Body: good, Status: 403},
		apptest.Scenario{Name: "agent token", Method: "POST", Path: executePath, Cred: apptest.WithBearer(f.agentToken(f.site, "m1")), Body: good, Status: 403},
		apptest.Scenario{Name: "admin ID token", Method: "POST", Path: executePath, Cred: apptest.WithBearer(f.admin.IDToken()), Body: good, Status: 200},
		apptest.Scenario{Name: "unknown site", Method: "POST", Path: executePath, Cred: admin,
			Body: map[string]any{"siteId": "nope", "machineId": "m1", "tool": "get_system_info", "wait": false}, Status: 404},
		apptest.Scenario{Name: "wrong method", Method: "GET", Path: executePath, Cred: admin, Status: 405},
	)
	f.Run(t, sc)
}
