package deployments_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
)

// TestListAndGet: order, limit rule, projection defaults and raw timestamps
// (api.md E30, E32, §5.17).
func TestListAndGet(t *testing.T) {
	f := newFixture(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 123_000_000, time.UTC)
	for i := 0; i < 25; i++ {
		f.seed(t, f.site, fmt.Sprintf("deploy-%02d", i), deployment("in_progress", t0.Add(time.Duration(i)*time.Minute), [2]string{"m1", "pending"}))
	}
	// Cortex-created: createdAt in ms (sorts after every timestamp, desc).
	f.seed(t, f.site, "deploy-cortex", map[string]any{"name": "VLC", "createdAt": int64(1700000000000), "source": "cortex"})
	// Bare: every default.
	f.seed(t, f.site, "deploy-bare", map[string]any{"createdAt": t0.Add(-time.Hour), "name": "", "verify_path": "", "completedAt": nil})
	// Without createdAt: never listed.
	f.seed(t, f.site, "deploy-nocreated", map[string]any{"name": "x"})
	// Full: optional fields present.
	full := deployment("completed", t0.Add(time.Hour), [2]string{"m1", "completed"})
	full["verify_path"] = `C:\x.exe`
	full["completedAt"] = t0.Add(2 * time.Hour)
	full["targets"] = []any{map[string]any{"machineId": "m1", "status": "completed", "completedAt": t0.Add(2 * time.Hour), "progress": int64(100)}}
	f.seed(t, f.site, "deploy-full", full)
	f.seed(t, f.otherSite, "deploy-elsewhere", deployment("pending", t0.Add(3*time.Hour)))

	cookie := apptest.WithCookie(f.member.Cookie())
	list := func(q string) []any {
		t.Helper()
		r := f.Do("GET", base+"?siteId="+f.site+q, cookie, nil, nil)
		if r.StatusCode != 200 || r.JSON["success"] != true {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		return r.JSON["deployments"].([]any)
	}
	for q, n := range map[string]int{"": 20, "&limit=0": 20, "&limit=abc": 20, "&limit=2": 2, "&limit=5abc": 5, "&limit=%202": 2,
		"&limit=-5": 1, "&limit=500": 28, "&limit=0x3": 3, "&limit=1.9": 1, "&limit=": 20} {
		if got := len(list(q)); got != n {
			t.Errorf("limit %q: %d deployments, want %d", q, got, n)
		}
	}
	all := list("&limit=100")
	ids := make([]string, len(all))
	for i, d := range all {
		ids[i] = d.(map[string]any)["id"].(string)
	}
	if ids[0] != "deploy-full" || ids[1] != "deploy-24" || ids[len(ids)-2] != "deploy-bare" || ids[len(ids)-1] != "deploy-cortex" {
		t.Errorf("order: %v", ids)
	}
	if strings.Contains(strings.Join(ids, ","), "nocreated") || strings.Contains(strings.Join(ids, ","), "elsewhere") {
		t.Errorf("listed: %v", ids)
	}
	byID := map[string]map[string]any{}
	for _, d := range all {
		byID[d.(map[string]any)["id"].(string)] = d.(map[string]any)
	}
	wantFull := map[string]any{
		"id": "deploy-full", "name": "Chrome", "installer_name": "chrome.exe", "installer_url": "https://dl.example/chrome.exe",
		"silent_flags": "/S", "verify_path": `C:\x.exe`, "status": "completed",
		"createdAt":   map[string]any{"_seconds": float64(t0.Add(time.Hour).Unix()), "_nanoseconds": float64(123_000_000)},
		"completedAt": map[string]any{"_seconds": float64(t0.Add(2 * time.Hour).Unix()), "_nanoseconds": float64(123_000_000)},
		"targets": []any{map[string]any{"machineId": "m1", "status": "completed", "progress": float64(100),
			"completedAt": map[string]any{"_seconds": float64(t0.Add(2 * time.Hour).Unix()), "_nanoseconds": float64(123_000_000)}}},
	}
	if !reflect.DeepEqual(byID["deploy-full"], wantFull) {
		t.Errorf("full\n got %#v\nwant %#v", byID["deploy-full"], wantFull)
	}
	wantBare := map[string]any{
		"id": "deploy-bare", "name": "Unnamed Deployment", "silent_flags": "", "targets": []any{}, "status": "pending",
		"createdAt": map[string]any{"_seconds": float64(t0.Add(-time.Hour).Unix()), "_nanoseconds": float64(123_000_000)},
	}
	if !reflect.DeepEqual(byID["deploy-bare"], wantBare) {
		t.Errorf("bare\n got %#v\nwant %#v", byID["deploy-bare"], wantBare)
	}
	if got := byID["deploy-cortex"]["createdAt"]; got != float64(1700000000000) {
		t.Errorf("cortex createdAt %#v, want ms", got)
	}

	f.Run(t, []apptest.Scenario{
		{Name: "list: missing siteId", Method: "GET", Path: base, Cred: cookie, Status: 400, Want: map[string]any{"error": "Missing required parameter: siteId"}},
		{Name: "list: missing siteId, no credential", Method: "GET", Path: base, Status: 400},
		{Name: "list: empty site", Method: "GET", Path: base + "?siteId=" + f.otherSite, Cred: apptest.WithCookie(f.stranger.Cookie()), Status: 200,
			Want: map[string]any{"deployments.0.id": "deploy-elsewhere"}},
		{Name: "get", Method: "GET", Path: base + "/deploy-full?siteId=" + f.site, Cred: cookie, Status: 200,
			Want: map[string]any{"success": true, "deployment": wantFull}},
		{Name: "get: without createdAt", Method: "GET", Path: base + "/deploy-nocreated?siteId=" + f.site, Cred: cookie, Status: 200,
			Want: map[string]any{"deployment.createdAt": 0, "deployment.name": "x"}, Absent: []string{"deployment.installer_url", "deployment.verify_path", "deployment.completedAt"}},
		{Name: "get: unknown", Method: "GET", Path: base + "/deploy-nope?siteId=" + f.site, Cred: cookie, Status: 404, Want: map[string]any{"error": "Deployment not found"}},
		{Name: "get: reserved id", Method: "GET", Path: base + "/__x__?siteId=" + f.site, Cred: cookie, Status: 404},
		{Name: "get: other site's deployment through own site", Method: "GET", Path: base + "/deploy-elsewhere?siteId=" + f.site, Cred: cookie, Status: 404},
		{Name: "get: other site", Method: "GET", Path: base + "/deploy-elsewhere?siteId=" + f.otherSite, Cred: cookie, Status: 403},
		{Name: "get: missing siteId", Method: "GET", Path: base + "/deploy-full", Cred: cookie, Status: 400},
		{Name: "wrong method", Method: "PUT", Path: base + "/deploy-full?siteId=" + f.site, Cred: cookie, Status: 405},
	})
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.member.Cookie())
	var scenarios []apptest.Scenario
	for _, st := range []string{"pending", "in_progress", "", "weird"} {
		id := "deploy-busy-" + st
		data := deployment(st, time.Now(), [2]string{"m1", "downloading"})
		if st == "" {
			delete(data, "status")
		}
		f.seed(t, f.site, id, data)
		shown := st
		if shown == "" {
			shown = "pending"
		}
		scenarios = append(scenarios, apptest.Scenario{Name: "409 " + shown, Method: "DELETE", Path: base + "/" + id + "?siteId=" + f.site, Cred: cookie, Status: 409,
			Check: func(t *testing.T, r *apptest.Response) {
				msg := r.JSON["error"].(string)
				if !strings.Contains(msg, `"`+shown+`"`) || !strings.Contains(msg, "completed, failed, partial, cancelled, uninstalled") {
					t.Errorf("message %q", msg)
				}
				if f.Doc("sites/"+f.site+"/deployments/"+id) == nil {
					t.Error("deleted")
				}
			}})
	}
	for _, st := range []string{"completed", "failed", "partial", "cancelled", "uninstalled"} {
		id := "deploy-done-" + st
		f.seed(t, f.site, id, deployment(st, time.Now(), [2]string{"m1", "completed"}))
		scenarios = append(scenarios, apptest.Scenario{Name: "200 " + st, Method: "DELETE", Path: base + "/" + id + "?siteId=" + f.site, Cred: cookie, Status: 200,
			Want: map[string]any{"success": true},
			Check: func(t *testing.T, r *apptest.Response) {
				if f.Doc("sites/"+f.site+"/deployments/"+id) != nil {
					t.Error("not deleted")
				}
			}})
	}
	// Command entries on machines are left behind.
	pendingPath := "sites/" + f.site + "/machines/m1/commands/pending"
	f.seed(t, f.site, "deploy-with-cmd", deployment("failed", time.Now(), [2]string{"m1", "failed"}))
	if _, err := f.FS.Doc(pendingPath).Set(t.Context(), map[string]any{"install_deploy_with_cmd_m1_1": map[string]any{"type": "install_software"}}); err != nil {
		t.Fatal(err)
	}
	scenarios = append(scenarios, []apptest.Scenario{
		{Name: "commands stay", Method: "DELETE", Path: base + "/deploy-with-cmd?siteId=" + f.site, Cred: cookie, Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				if len(f.Doc(pendingPath)) != 1 {
					t.Error("pending command removed")
				}
			}},
		{Name: "unknown", Method: "DELETE", Path: base + "/deploy-nope?siteId=" + f.site, Cred: cookie, Status: 404},
		{Name: "missing siteId", Method: "DELETE", Path: base + "/deploy-done-failed", Cred: cookie, Status: 400},
		{Name: "other site's member", Method: "DELETE", Path: base + "/deploy-busy-pending?siteId=" + f.site, Cred: apptest.WithCookie(f.stranger.Cookie()), Status: 403},
	}...)
	f.Run(t, scenarios)
}

func TestCancel(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.member.Cookie())
	path := func(id string) string { return base + "/" + id + "/cancel" }
	body := func(machine string) map[string]any {
		return map[string]any{"siteId": f.site, "machineId": machine, "installer_name": "chrome.exe"}
	}
	created := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	f.seed(t, f.site, "deploy-c", deployment("in_progress", created,
		[2]string{"WIN-1", "downloading"}, [2]string{"m2", "completed"}, [2]string{"m3", "failed"},
		[2]string{"m4", "cancelled"}, [2]string{"m5", "uninstalled"}, [2]string{"m6", "closing_processes"}))

	var scenarios []apptest.Scenario
	for _, m := range []string{"m2", "m3", "m4", "m5"} {
		scenarios = append(scenarios, apptest.Scenario{Name: "409 terminal " + m, Method: "POST", Path: path("deploy-c"), Cred: cookie, Body: body(m), Status: 409})
	}
	for _, k := range []string{"siteId", "machineId", "installer_name"} {
		b := body("WIN-1")
		delete(b, k)
		scenarios = append(scenarios, apptest.Scenario{Name: "missing " + k, Method: "POST", Path: path("deploy-c"), Body: b, Status: 400,
			Want: map[string]any{"error": "Missing required field: " + k}})
	}
	scenarios = append(scenarios, []apptest.Scenario{
		{Name: "not a target", Method: "POST", Path: path("deploy-c"), Cred: cookie, Body: body("m9"), Status: 400, Want: map[string]any{"error": "Machine is not a target of this deployment"}},
		{Name: "machineId not a string", Method: "POST", Path: path("deploy-c"), Cred: cookie, Body: map[string]any{"siteId": f.site, "machineId": 1, "installer_name": "x"}, Status: 400},
		{Name: "malformed", Method: "POST", Path: path("deploy-c"), Cred: cookie, Body: apptest.Raw("{"), Status: 400},
		{Name: "unknown deployment", Method: "POST", Path: path("deploy-nope"), Cred: cookie, Body: body("WIN-1"), Status: 404},
		{Name: "other site's member", Method: "POST", Path: path("deploy-c"), Cred: apptest.WithCookie(f.stranger.Cookie()), Body: body("WIN-1"), Status: 403},
	}...)
	f.Run(t, scenarios)
	if p := f.Doc("sites/" + f.site + "/machines/m2/commands/pending"); p != nil {
		t.Errorf("refused cancel queued a command: %v", p)
	}

	// A downloading target: cancelled, command queued, deployment not yet
	// terminal (m6 still closing processes).
	ms := f.Clock.Now().UnixMilli()
	r := f.Do("POST", path("deploy-c"), cookie, body("WIN-1"), nil)
	cmdID := fmt.Sprintf("cancel_%d_WIN_1", ms)
	if r.StatusCode != 200 || r.JSON["commandId"] != cmdID || r.JSON["success"] != true {
		t.Fatalf("%d %s (want %s)", r.StatusCode, r.Raw, cmdID)
	}
	pending := f.Doc("sites/" + f.site + "/machines/WIN-1/commands/pending")
	cmd, _ := pending[cmdID].(map[string]any)
	if ts, ok := cmd["timestamp"].(time.Time); !ok || ts.IsZero() {
		t.Errorf("timestamp %#v", cmd["timestamp"])
	}
	delete(cmd, "timestamp")
	if want := map[string]any{"type": "cancel_installation", "installer_name": "chrome.exe", "deployment_id": "deploy-c"}; !reflect.DeepEqual(cmd, want) {
		t.Errorf("cancel command %#v, want %#v (and no status)", cmd, want)
	}
	doc := f.Doc("sites/" + f.site + "/deployments/deploy-c")
	target := doc["targets"].([]any)[0].(map[string]any)
	if target["status"] != "cancelled" || !target["cancelledAt"].(time.Time).Equal(f.Clock.Now()) || target["machineId"] != "WIN-1" {
		t.Errorf("target %v", target)
	}
	if doc["status"] != "in_progress" || doc["completedAt"] != nil {
		t.Errorf("status %v completedAt %v", doc["status"], doc["completedAt"])
	}
	if _, ok := doc["updatedAt"].(time.Time); !ok {
		t.Errorf("updatedAt %#v", doc["updatedAt"])
	}
	if others := doc["targets"].([]any)[1:]; others[0].(map[string]any)["status"] != "completed" || others[4].(map[string]any)["status"] != "closing_processes" {
		t.Errorf("other targets changed: %v", others)
	}
	// Cancelling it again: already cancelled.
	if r := f.Do("POST", path("deploy-c"), cookie, body("WIN-1"), nil); r.StatusCode != 409 {
		t.Errorf("second cancel: %d %s", r.StatusCode, r.Raw)
	}
	// The last non-terminal target: now every target is terminal, mixed ⇒ partial.
	f.Clock.Advance(time.Second)
	if r := f.Do("POST", path("deploy-c"), apptest.WithAPIKey(f.admin.APIKey()), body("m6"), nil); r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	doc = f.Doc("sites/" + f.site + "/deployments/deploy-c")
	if doc["status"] != "partial" {
		t.Errorf("status %v, want partial", doc["status"])
	}
	if _, ok := doc["completedAt"].(time.Time); !ok {
		t.Errorf("completedAt %#v", doc["completedAt"])
	}

	t.Run("all cancelled", func(t *testing.T) {
		f.seed(t, f.site, "deploy-all", deployment("in_progress", created, [2]string{"a", "pending"}, [2]string{"b", "cancelled"}))
		if r := f.Do("POST", path("deploy-all"), cookie, body("a"), nil); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if st := f.Doc("sites/" + f.site + "/deployments/deploy-all")["status"]; st != "cancelled" {
			t.Errorf("status %v", st)
		}
	})
	t.Run("unknown target status is cancellable", func(t *testing.T) {
		f.seed(t, f.site, "deploy-odd", deployment("in_progress", created, [2]string{"a", "extracting"}, [2]string{"b", ""}))
		if r := f.Do("POST", path("deploy-odd"), cookie, body("a"), nil); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if st := f.Doc("sites/" + f.site + "/deployments/deploy-odd")["status"]; st != "in_progress" {
			t.Errorf("status %v", st)
		}
	})
}
