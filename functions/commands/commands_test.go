package commands_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/commands"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/session"
)

const (
	sendPath  = "/api/admin/commands/send"
	clearPath = "/api/admin/commands/clear"
)

// Every credential kind against both endpoints: send needs the admin role,
// clear any member of the site (api.md §0.1, §1.5).
func TestCredentials(t *testing.T) {
	f := newFixture(t)
	type cred struct {
		name        string
		cred        func() apptest.Cred
		admin, memb int
	}
	creds := []cred{
		{"none", func() apptest.Cred { return apptest.NoCred }, 401, 401},
		{"forged bearer", func() apptest.Cred { return apptest.WithBearer("forged.id.token") }, 401, 401},
		{"unknown API key", func() apptest.Cred { return apptest.WithAPIKey("owk_unknownunknownunknownunknownunknownunknown1") }, 401, 401},
		{"admin with MFA pending", func() apptest.Cred { return apptest.WithCookie(f.admin.CookieWith(session.MFAPending)) }, 403, 403},
		{"admin cookie", func() apptest.Cred { return apptest.WithCookie(f.admin.Cookie()) }, 200, 200},
		{"admin API key", func() apptest.Cred { return apptest.WithAPIKey(f.admin.APIKey()) }, 200, 200},
		{"admin ID token", func() apptest.Cred { return apptest.WithBearer(f.admin.IDToken()) }, 200, 200},
		{"member cookie", func() apptest.Cred { return apptest.WithCookie(f.member.Cookie()) }, 403, 200},
		{"member API key", func() apptest.Cred { return apptest.WithAPIKey(f.member.APIKey()) }, 403, 200},
		{"member ID token", func() apptest.Cred { return apptest.WithBearer(f.member.IDToken()) }, 403, 200},
		{"owner API key", func() apptest.Cred { return apptest.WithAPIKey(f.owner.APIKey()) }, 403, 200},
		{"other-site member cookie", func() apptest.Cred { return apptest.WithCookie(f.outside.Cookie()) }, 403, 403},
		{"other-site member API key", func() apptest.Cred { return apptest.WithAPIKey(f.outside.APIKey()) }, 403, 403},
		{"agent token of the machine", func() apptest.Cred { return apptest.WithBearer(f.agentToken(f.site, "m1")) }, 403, 403},
	}
	var sc []apptest.Scenario
	for _, c := range creds {
		sc = append(sc,
			apptest.Scenario{Name: "E22 send: " + c.name, Method: "POST", Path: sendPath, Cred: c.cred(), Status: c.admin,
				Body: map[string]any{"siteId": f.site, "machineId": "m1", "command": "restart_process", "data": map[string]any{"process_name": "TD"}}},
			apptest.Scenario{Name: "E23 clear: " + c.name, Method: "DELETE", Path: clearPath + "?siteId=" + f.site + "&machineId=m1", Cred: c.cred(), Status: c.memb},
		)
	}
	admin := apptest.WithCookie(f.admin.Cookie())
	sc = append(sc,
		apptest.Scenario{Name: "E22 send: unknown site", Method: "POST", Path: sendPath, Cred: admin, Status: 404,
			Body: map[string]any{"siteId": "nope", "machineId": "m1", "command": "x"}, Want: map[string]any{"error": "Site not found"}},
		apptest.Scenario{Name: "E23 clear: unknown site", Method: "DELETE", Path: clearPath + "?siteId=nope&machineId=m1", Cred: admin, Status: 404},
		apptest.Scenario{Name: "E22 send: API key in the query", Method: "POST", Path: sendPath + "?api_key=" + f.admin.APIKey(), Status: 400,
			Body: map[string]any{"siteId": f.site, "machineId": "m1", "command": "x"}},
		apptest.Scenario{Name: "E23 clear: API key in the query", Method: "DELETE", Path: clearPath + "?siteId=" + f.site + "&machineId=m1&api_key=" + f.admin.APIKey(), Status: 400},
	)
	f.Run(t, sc)
}

func TestSend(t *testing.T) {
	f := newFixture(t)
	key := apptest.WithAPIKey(f.admin.APIKey())
	f.Run(t, []apptest.Scenario{
		{Name: "queued, not waiting", Method: "POST", Path: sendPath, Cred: key, Status: 200,
			Body: map[string]any{"siteId": f.site, "machineId": "DESKTOP-1", "command": "install_software", "wait": false, "data": map[string]any{
				"type": "overridden_type", "timestamp": 1, "status": "done", "installer_url": "https://example.test/a.exe",
				"timeout_seconds": 2400, "ratio": 2.5, "whole": 3.0, "big": 9007199254740993, "flags": []any{"/S", 1},
				"nested": map[string]any{"a.b": map[string]any{"c": nil}}, "on": true,
			}},
			Want: map[string]any{"success": true, "commandId": apptest.Present}, Absent: []string{"result", "status"},
			Check: func(t *testing.T, r *apptest.Response) {
				id := r.JSON["commandId"].(string)
				if len(id) != 36 || id[14] != '4' {
					t.Errorf("commandId %q is not a UUID v4", id)
				}
				p := f.pending("DESKTOP-1")
				cmd, _ := p[id].(map[string]any)
				// data.type overrides command; timestamp and status cannot be.
				if cmd["type"] != "overridden_type" || cmd["status"] != "pending" {
					t.Errorf("command = %v", cmd)
				}
				if ts, ok := cmd["timestamp"].(time.Time); !ok || time.Since(ts) > time.Minute {
					t.Errorf("timestamp = %#v", cmd["timestamp"])
				}
				// Numbers are stored as the Node SDK stores them: safe
				// integers as integers, the rest as doubles.
				for k, want := range map[string]any{"timeout_seconds": int64(2400), "ratio": 2.5, "whole": int64(3), "big": 9007199254740992.0, "on": true} {
					if cmd[k] != want {
						t.Errorf("%s = %#v (%T), want %#v (%T)", k, cmd[k], cmd[k], want, want)
					}
				}
				if flags, _ := cmd["flags"].([]any); len(flags) != 2 || flags[1] != int64(1) {
					t.Errorf("flags = %#v", cmd["flags"])
				}
				if n, _ := cmd["nested"].(map[string]any); n["a.b"] == nil {
					t.Errorf("nested = %#v", cmd["nested"])
				}
				// Nothing checks or creates the machine document.
				if d := f.Doc("sites/" + f.site + "/machines/DESKTOP-1"); d != nil {
					t.Errorf("machine doc created: %v", d)
				}
			}},
		{Name: "wait falsy: no wait", Method: "POST", Path: sendPath, Cred: key, Status: 200,
			Body: map[string]any{"siteId": f.site, "machineId": "m", "command": "reboot_machine", "wait": 0, "timeout": 60},
			Want: map[string]any{"success": true}, Absent: []string{"status", "result"}},
		{Name: "wait with a negative timeout: timeout at once", Method: "POST", Path: sendPath, Cred: key, Status: 200,
			Body: map[string]any{"siteId": f.site, "machineId": "m", "command": "x", "wait": true, "timeout": -1},
			Want: map[string]any{"success": true, "status": "timeout", "commandId": apptest.Present}},
		{Name: "wait with a non-numeric timeout: timeout at once", Method: "POST", Path: sendPath, Cred: key, Status: 200,
			Body: map[string]any{"siteId": f.site, "machineId": "m", "command": "x", "wait": "yes", "timeout": "soon"},
			Want: map[string]any{"success": true, "status": "timeout"},
			Check: func(t *testing.T, r *apptest.Response) {
				// The pending entry stays for the agent.
				if _, ok := f.pending("m")[r.JSON["commandId"].(string)]; !ok {
					t.Error("pending entry removed on timeout")
				}
			}},
	})

	bad := []struct {
		name, msg string
		body      any
		status    int
	}{
		{"empty body", "Request body is empty", apptest.Raw(""), 400},
		{"malformed", "Malformed JSON", apptest.Raw(`{"siteId":"a",`), 400},
		{"not an object", "must be a JSON object", apptest.Raw(`"send"`), 400},
		{"missing siteId", "Missing required field: siteId", map[string]any{"machineId": "m", "command": "x"}, 400},
		{"missing machineId", "Missing required field: machineId", map[string]any{"siteId": f.site, "command": "x"}, 400},
		{"missing command", "Missing required field: command", map[string]any{"siteId": f.site, "machineId": "m"}, 400},
		{"empty command", "Missing required field: command", map[string]any{"siteId": f.site, "machineId": "m", "command": ""}, 400},
		{"command not a string", `Field "command" must be a string`, map[string]any{"siteId": f.site, "machineId": "m", "command": 5}, 400},
		{"machine id that names no document", "not a valid machine id", map[string]any{"siteId": f.site, "machineId": "a/b", "command": "x"}, 400},
		{"data not an object", `Field "data" must be an object`, map[string]any{"siteId": f.site, "machineId": "m", "command": "x", "data": "abc"}, 400},
		{"data an array", `Field "data" must be an object`, map[string]any{"siteId": f.site, "machineId": "m", "command": "x", "data": []any{1}}, 400},
		{"nested arrays", "array inside an array", map[string]any{"siteId": f.site, "machineId": "m", "command": "x", "data": map[string]any{"m": []any{[]any{1}}}}, 400},
		{"empty field name", "name Firestore cannot store", map[string]any{"siteId": f.site, "machineId": "m", "command": "x", "data": map[string]any{"": 1}}, 400},
		{"reserved field name", "name Firestore cannot store", map[string]any{"siteId": f.site, "machineId": "m", "command": "x", "data": map[string]any{"__name__": 1}}, 400},
		{"number out of range", "out of range", apptest.Raw(`{"siteId":"site-a","machineId":"m","command":"x","data":{"n":1e999}}`), 400},
		{"too deep", "nests too deeply", map[string]any{"siteId": f.site, "machineId": "m", "command": "x", "data": deep(25)}, 400},
		{"huge body", "too large", apptest.Raw(`{"siteId":"site-a","machineId":"m","command":"` + strings.Repeat("x", 2<<20) + `"}`), 413},
	}
	var sc []apptest.Scenario
	for _, b := range bad {
		sc = append(sc, apptest.Scenario{Name: b.name, Method: "POST", Path: sendPath, Cred: key, Body: b.body, Status: b.status,
			Check: func(t *testing.T, r *apptest.Response) {
				if msg, _ := r.JSON["error"].(string); !strings.Contains(msg, b.msg) {
					t.Errorf("error %q, want %q", msg, b.msg)
				}
			}})
	}
	sc = append(sc,
		// Order: credential and role, then the body, then the site.
		apptest.Scenario{Name: "bad body, no credential: 401", Method: "POST", Path: sendPath, Body: apptest.Raw("{"), Status: 401},
		apptest.Scenario{Name: "bad body, member: 403", Method: "POST", Path: sendPath, Cred: apptest.WithCookie(f.member.Cookie()), Body: apptest.Raw("{"), Status: 403},
		apptest.Scenario{Name: "bad body, unknown site: 400", Method: "POST", Path: sendPath, Cred: key, Body: map[string]any{"siteId": "nope"}, Status: 400},
		apptest.Scenario{Name: "wrong method", Method: "GET", Path: sendPath, Cred: key, Status: 405},
	)
	f.Run(t, sc)
	if p := f.pending("m"); len(p) != 3 {
		t.Errorf("pending of m has %d commands, want the 3 valid sends: %v", len(p), p)
	}
}

func deep(n int) map[string]any {
	m := map[string]any{"leaf": 1}
	for i := 0; i < n; i++ {
		m = map[string]any{"d": m}
	}
	return m
}

func TestSendWait(t *testing.T) {
	f := newFixture(t)
	key := apptest.WithAPIKey(f.admin.APIKey())
	body := func(machine string, extra map[string]any) map[string]any {
		b := map[string]any{"siteId": f.site, "machineId": machine, "command": "restart_process", "data": map[string]any{"process_name": "TD"}, "wait": true}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	// Another command's result shares the completed document.
	if _, err := f.FS.Doc("sites/"+f.site+"/machines/pc.local/commands/completed").Set(context.Background(),
		map[string]any{"install_x": map[string]any{"status": "completed", "deployment_id": "deploy-1"}}); err != nil {
		t.Fatal(err)
	}

	var sent time.Time
	seen := f.fakeAgent(t, "pc.local", map[string]any{"status": "completed", "result": "Process TD restarted with new PID 4242", "type": "restart_process"})
	f.Run(t, []apptest.Scenario{{Name: "completed by the agent", Method: "POST", Path: sendPath, Cred: key, Body: body("pc.local", nil), Status: 200,
		Want: map[string]any{"success": true, "result.status": "completed", "result.result": "Process TD restarted with new PID 4242",
			"result.type": "restart_process", "result.completedAt._seconds": apptest.Present, "result.completedAt._nanoseconds": apptest.Present},
		Absent: []string{"status"},
		Check: func(t *testing.T, r *apptest.Response) {
			cmd := <-seen
			if cmd["id"] != r.JSON["commandId"] || cmd["process_name"] != "TD" {
				t.Errorf("agent saw %v", cmd)
			}
			c := f.completed("pc.local")
			if _, ok := c[cmd["id"].(string)]; ok || c["install_x"] == nil {
				t.Errorf("completed after the wait = %v (only the consumed result must go)", c)
			}
		}}})

	seen = f.fakeAgent(t, "m2", map[string]any{"status": "failed", "error": "Error: Process TD not found in configuration", "type": "restart_process"})
	f.Run(t, []apptest.Scenario{{Name: "a failed command is still a 200", Method: "POST", Path: sendPath, Cred: key, Body: body("m2", map[string]any{"timeout": "20"}), Status: 200,
		Want:   map[string]any{"success": true, "result.status": "failed", "result.error": "Error: Process TD not found in configuration"},
		Absent: []string{"result.result"},
		Check:  func(t *testing.T, r *apptest.Response) { <-seen }}})

	sent = time.Now()
	f.Run(t, []apptest.Scenario{{Name: "no agent: timeout", Method: "POST", Path: sendPath, Cred: key, Body: body("m3", map[string]any{"timeout": 0.4}), Status: 200,
		Want: map[string]any{"success": true, "status": "timeout", "commandId": apptest.Present}, Absent: []string{"result"},
		Check: func(t *testing.T, r *apptest.Response) {
			if el := time.Since(sent); el < 400*time.Millisecond || el > 5*time.Second {
				t.Errorf("answered after %v, want ≈ 0.4 s", el)
			}
			if _, ok := f.pending("m3")[r.JSON["commandId"].(string)]; !ok {
				t.Error("pending entry removed on timeout")
			}
		}}})
}

// A client that goes away ends the wait (and its listener) at once.
func TestSendWaitClientGone(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, "POST", sendPath,
		strings.NewReader(`{"siteId":"site-a","machineId":"m","command":"x","wait":true,"timeout":100}`))
	req.Header.Set("x-api-key", f.admin.APIKey())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	rec := httptest.NewRecorder()
	f.H.ServeHTTP(rec, req)
	if el := time.Since(start); el > 5*time.Second || rec.Code != 499 {
		t.Errorf("status %d after %v", rec.Code, el)
	}
}

// A wait cut by a deadline (the route's, when Firestore holds the send) is
// a retryable 504, not the 499 of a client that left: the client is still
// there and reads it.
func TestSendWaitDeadlineIs504(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", sendPath,
		strings.NewReader(`{"siteId":"site-a","machineId":"m","command":"x","wait":true,"timeout":100}`))
	req.Header.Set("x-api-key", f.admin.APIKey())
	start := time.Now()
	rec := httptest.NewRecorder()
	f.H.ServeHTTP(rec, req)
	if el := time.Since(start); el > 5*time.Second || rec.Code != http.StatusGatewayTimeout {
		t.Errorf("status %d after %v: %s", rec.Code, el, rec.Body)
	}
}

func TestClear(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := "sites/" + f.site + "/machines/pc.local/commands/"
	if _, err := f.FS.Doc(base+"pending").Set(ctx, map[string]any{
		"a": map[string]any{"type": "x"}, "b.c": map[string]any{"type": "y"}, "d": map[string]any{"type": "z", "timestamp": firestore.ServerTimestamp},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.FS.Doc(base+"completed").Set(ctx, map[string]any{"old": map[string]any{"status": "completed"}}); err != nil {
		t.Fatal(err)
	}
	member := apptest.WithCookie(f.member.Cookie())
	path := clearPath + "?siteId=" + f.site + "&machineId=pc.local"
	f.Run(t, []apptest.Scenario{
		{Name: "clear", Method: "DELETE", Path: path, Cred: member, Status: 200, Want: map[string]any{"success": true, "cleared": 3},
			Check: func(t *testing.T, r *apptest.Response) {
				if d := f.pending("pc.local"); d != nil {
					t.Errorf("pending = %v", d)
				}
				if d := f.completed("pc.local"); d["old"] == nil {
					t.Errorf("completed touched: %v", d)
				}
			}},
		{Name: "nothing pending", Method: "DELETE", Path: path, Cred: member, Status: 200, Want: map[string]any{"success": true, "cleared": 0}},
		{Name: "missing machineId", Method: "DELETE", Path: clearPath + "?siteId=" + f.site, Cred: member, Status: 400,
			Want: map[string]any{"error": commands.ErrClearParams.Message}},
		{Name: "missing siteId", Method: "DELETE", Path: clearPath + "?machineId=m", Cred: member, Status: 400},
		// Order: parameters before the guard.
		{Name: "missing parameters, no credential: 400", Method: "DELETE", Path: clearPath, Status: 400},
		{Name: "machine id that names no document", Method: "DELETE", Path: clearPath + "?siteId=" + f.site + "&machineId=..", Cred: member, Status: 400},
		{Name: "wrong method", Method: "POST", Path: path, Cred: member, Status: http.StatusMethodNotAllowed},
	})
}
