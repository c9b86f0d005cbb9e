package machines_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/machines"
	"github.com/owlette/server/shared/apptest"
)

const updatePath = "/api/admin/machines/update"

func installer(version string) map[string]any {
	return map[string]any{
		"version": version, "download_url": "https://storage.example.test/Owlette-Installer-v" + version + ".exe",
		"checksum_sha256": strings.Repeat("ab", 32), "release_notes": "fixes", "file_size": int64(52_000_000),
	}
}

// pendingEntry returns the pending command id of machine m, checking it is
// exactly the self-update of installer version v.
func pendingEntry(t *testing.T, f *fixture, m, id, v string) {
	t.Helper()
	doc := f.Doc("sites/" + f.site + "/machines/" + m + "/commands/pending")
	cmd, ok := doc[id].(map[string]any)
	if !ok {
		t.Fatalf("pending of %s has no %q: %v", m, id, doc)
	}
	want := installer(v)
	if cmd["type"] != "update_owlette" || cmd["installer_url"] != want["download_url"] || cmd["target_version"] != v ||
		cmd["checksum_sha256"] != want["checksum_sha256"] || cmd["status"] != "pending" || len(cmd) != 6 {
		t.Errorf("command %s = %v", id, cmd)
	}
	if ts, ok := cmd["timestamp"].(time.Time); !ok || time.Since(ts) > time.Minute {
		t.Errorf("timestamp = %#v, want a server timestamp", cmd["timestamp"])
	}
}

func TestUpdate(t *testing.T) {
	f := newFixture(t)
	f.set(t, machines.LatestInstaller, installer("2.7.0"))
	for _, m := range []string{"on-1", "on-2"} {
		f.machine(t, m, agentDoc(m, f.site, f.Clock.Now(), 1))
	}
	f.machine(t, "off-1", map[string]any{"online": false})
	f.machine(t, "truthy-not-true", map[string]any{"online": "yes"})
	f.machine(t, "flag-only", map[string]any{"rebooting": true})
	cookie := apptest.WithCookie(f.member.Cookie())
	ms := f.Clock.Now().UnixMilli()
	id := func(m string) string { return machines.CommandID(ms, m) }
	f.Run(t, []apptest.Scenario{
		{Name: "every online machine", Method: "POST", Path: updatePath, Cred: cookie,
			Body:   map[string]any{"siteId": f.site, "machineId": "ignored", "version": "9.9.9", "installer_url": "https://evil.test/x.exe"},
			Status: 200,
			Want: map[string]any{"success": true, "version": "2.7.0", "sent": 2, "failed": 0,
				"machines": []any{map[string]any{"machineId": "on-1", "commandId": id("on-1")}, map[string]any{"machineId": "on-2", "commandId": id("on-2")}}},
			Absent: []string{"errors"},
			Check: func(t *testing.T, r *apptest.Response) {
				pendingEntry(t, f, "on-1", id("on-1"), "2.7.0")
				pendingEntry(t, f, "on-2", id("on-2"), "2.7.0")
				for _, m := range []string{"off-1", "truthy-not-true", "flag-only"} {
					if d := f.Doc("sites/" + f.site + "/machines/" + m + "/commands/pending"); d != nil {
						t.Errorf("%s got a command: %v", m, d)
					}
				}
			}},
	})

	f.Clock.Advance(time.Second)
	ms = f.Clock.Now().UnixMilli()
	// Another caller already took this millisecond's id for kiosk.local
	// (machine ids may contain dots: the id stays one literal field).
	taken := machines.CommandID(ms, "kiosk.local")
	f.set(t, "sites/"+f.site+"/machines/kiosk.local/commands/pending", map[string]any{taken: map[string]any{"type": "update_owlette", "mine": true}})
	f.Run(t, []apptest.Scenario{
		{Name: "named machines: unknown ones are queued too, repeats once, bad ids reported", Method: "POST", Path: updatePath, Cred: cookie,
			Body:   map[string]any{"siteId": f.site, "machineIds": []string{"off-1", "kiosk.local", "never-seen", "off-1", "a/b", "__x__"}},
			Status: 200,
			Want: map[string]any{"success": true, "sent": 3, "failed": 2,
				"machines.0": map[string]any{"machineId": "off-1", "commandId": machines.CommandID(ms, "off-1")},
				"machines.1": map[string]any{"machineId": "kiosk.local", "commandId": machines.CommandID(ms+1, "kiosk.local")},
				"machines.2": map[string]any{"machineId": "never-seen", "commandId": machines.CommandID(ms, "never-seen")},
				"errors":     []any{map[string]any{"machineId": "a/b", "error": "Invalid machine id"}, map[string]any{"machineId": "__x__", "error": "Invalid machine id"}}},
			Check: func(t *testing.T, r *apptest.Response) {
				pendingEntry(t, f, "off-1", machines.CommandID(ms, "off-1"), "2.7.0")
				pendingEntry(t, f, "never-seen", machines.CommandID(ms, "never-seen"), "2.7.0")
				pendingEntry(t, f, "kiosk.local", machines.CommandID(ms+1, "kiosk.local"), "2.7.0")
				doc := f.Doc("sites/" + f.site + "/machines/kiosk.local/commands/pending")
				if old, _ := doc[taken].(map[string]any); old["mine"] != true || len(doc) != 2 {
					t.Errorf("the other caller's command was touched: %v", doc)
				}
				if d := f.Doc("sites/" + f.site + "/machines/off-1/commands/pending"); len(d) != 1 {
					t.Errorf("repeated id queued twice: %v", d)
				}
			}},
	})

	bad := []struct {
		name string
		body any
		msg  string
	}{
		{"empty body", apptest.Raw(""), "Request body is empty"},
		{"malformed", apptest.Raw(`{"siteId":`), "Malformed JSON"},
		{"array body", apptest.Raw(`[]`), "must be a JSON object"},
		{"missing siteId", map[string]any{"machineIds": []string{"on-1"}}, "Missing required field: siteId"},
		{"siteId not a string", map[string]any{"siteId": 7}, `Field "siteId" must be a string`},
		{"empty machineIds", map[string]any{"siteId": f.site, "machineIds": []string{}}, machines.ErrMachineIDs.Message},
		{"machineIds a string", map[string]any{"siteId": f.site, "machineIds": "on-1"}, machines.ErrMachineIDs.Message},
		{"machineIds null", map[string]any{"siteId": f.site, "machineIds": nil}, machines.ErrMachineIDs.Message},
		{"machineIds with a number", map[string]any{"siteId": f.site, "machineIds": []any{"on-1", 2}}, machines.ErrMachineIDs.Message},
		{"too many machineIds", map[string]any{"siteId": f.site, "machineIds": make([]string, machines.MaxTargets+1)}, "at most"},
		{"huge body", apptest.Raw(`{"siteId":"` + strings.Repeat("x", 2<<20) + `"}`), "too large"},
	}
	var sc []apptest.Scenario
	for _, b := range bad {
		status := 400
		if b.name == "huge body" {
			status = 413
		}
		sc = append(sc, apptest.Scenario{Name: b.name, Method: "POST", Path: updatePath, Cred: cookie, Body: b.body, Status: status,
			Check: func(t *testing.T, r *apptest.Response) {
				if msg, _ := r.JSON["error"].(string); !strings.Contains(msg, b.msg) {
					t.Errorf("error %q, want %q", msg, b.msg)
				}
			}})
	}
	// Order: body before the guard.
	sc = append(sc,
		apptest.Scenario{Name: "bad body, no credential: 400", Method: "POST", Path: updatePath, Body: apptest.Raw("{"), Status: 400},
		apptest.Scenario{Name: "good body, no credential: 401", Method: "POST", Path: updatePath, Body: map[string]any{"siteId": f.site}, Status: 401},
		apptest.Scenario{Name: "wrong method", Method: "GET", Path: updatePath, Cred: cookie, Status: 405},
	)
	f.Run(t, sc)
}

func TestUpdateInstallerAndTargets(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.owner.Cookie())
	body := map[string]any{"siteId": f.site}
	f.Run(t, []apptest.Scenario{
		{Name: "no installer release", Method: "POST", Path: updatePath, Cred: cookie, Body: body, Status: 404,
			Want: map[string]any{"error": machines.ErrNoInstaller.Message}},
	})
	noURL := installer("2.7.0")
	delete(noURL, "download_url")
	f.set(t, machines.LatestInstaller, noURL)
	f.Run(t, []apptest.Scenario{{Name: "release without a URL", Method: "POST", Path: updatePath, Cred: cookie, Body: body, Status: 500,
		Want: map[string]any{"error": machines.ErrNoURL.Message}}})
	noSum := installer("2.7.0")
	noSum["checksum_sha256"] = ""
	f.set(t, machines.LatestInstaller, noSum)
	f.Run(t, []apptest.Scenario{{Name: "release without a checksum", Method: "POST", Path: updatePath, Cred: cookie, Body: body, Status: 500,
		Want: map[string]any{"error": machines.ErrNoChecksum.Message}}})
	camel := installer("2.8.0")
	camel["downloadUrl"] = camel["download_url"]
	delete(camel, "download_url")
	f.set(t, machines.LatestInstaller, camel)
	f.Run(t, []apptest.Scenario{
		{Name: "no machine online", Method: "POST", Path: updatePath, Cred: cookie, Body: body, Status: 404,
			Want: map[string]any{"error": machines.ErrNoneOnline.Message}},
		{Name: "downloadUrl is read too", Method: "POST", Path: updatePath, Cred: cookie, Body: map[string]any{"siteId": f.site, "machineIds": []string{"m"}}, Status: 200,
			Want: map[string]any{"version": "2.8.0", "sent": 1},
			Check: func(t *testing.T, r *apptest.Response) {
				id, _ := r.Get("machines.0.commandId")
				pendingEntry(t, f, "m", fmt.Sprint(id), "2.8.0")
			}},
	})
}
