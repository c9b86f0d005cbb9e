package deployments_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlette/server/functions/deployments"
	"github.com/owlette/server/shared/apptest"
)

func TestCreateBadInput(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.member.Cookie())
	with := func(k string, v any) map[string]any {
		b := validBody(f.site)
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	var scenarios []apptest.Scenario
	for _, u := range []string{
		"http://dl.example/chrome.exe", "HTTP://dl.example/chrome.exe", "ftp://dl.example/chrome.exe",
		"javascript:alert(1)", "file:///C:/Windows/chrome.exe", "file://server/share/chrome.exe",
		"data:application/octet-stream;base64,TVo=", "ws://dl.example/x.exe", "gopher://x/",
	} {
		scenarios = append(scenarios, apptest.Scenario{Name: "scheme " + u, Method: "POST", Path: base, Cred: cookie, Body: with("installer_url", u),
			Status: 400, Want: map[string]any{"error": "installer_url must use HTTPS protocol"}})
	}
	for _, u := range []string{"not a url", "dl.example/chrome.exe", "//dl.example/chrome.exe", "https:chrome.exe", "https://", "https:///path", "https://[::1/x"} {
		scenarios = append(scenarios, apptest.Scenario{Name: "invalid URL " + u, Method: "POST", Path: base, Cred: cookie, Body: with("installer_url", u),
			Status: 400, Want: map[string]any{"error": "installer_url must be a valid URL"}})
	}
	for _, k := range []string{"siteId", "name", "installer_name", "installer_url", "silent_flags"} {
		scenarios = append(scenarios,
			apptest.Scenario{Name: "missing " + k, Method: "POST", Path: base, Cred: cookie, Body: with(k, nil),
				Status: 400, Want: map[string]any{"error": "Missing required field: " + k}},
			apptest.Scenario{Name: "empty " + k, Method: "POST", Path: base, Cred: cookie, Body: with(k, ""),
				Status: 400, Want: map[string]any{"error": "Missing required field: " + k}},
			apptest.Scenario{Name: k + " not a string", Method: "POST", Path: base, Cred: cookie, Body: with(k, 5),
				Status: 400, Want: map[string]any{"error": fmt.Sprintf("Field %q must be a string, not number", k)}},
		)
	}
	scenarios = append(scenarios, []apptest.Scenario{
		{Name: "machineIds missing", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", nil), Status: 400, Want: map[string]any{"error": deployments.ErrMachineIDs.Message}},
		{Name: "machineIds empty", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", []string{}), Status: 400, Want: map[string]any{"error": deployments.ErrMachineIDs.Message}},
		{Name: "machineIds a string", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", "m1"), Status: 400, Want: map[string]any{"error": `Field "machineIds" must be an array, not string`}},
		{Name: "machineIds with a number", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", []any{"m1", 2}), Status: 400, Want: map[string]any{"error": `Field "machineIds" must be a string, not number`}},
		{Name: "machineIds with an object", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", []any{map[string]any{"id": "m1"}}), Status: 400},
		{Name: "machineIds with null", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", []any{nil}), Status: 400},
		{Name: "machineIds with an empty id", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", []string{"m1", ""}), Status: 400},
		{Name: "machineIds with a path", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", []string{"a/b"}), Status: 400},
		{Name: "machineIds with a reserved id", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", []string{"__m__"}), Status: 400},
		{Name: "too many machineIds", Method: "POST", Path: base, Cred: cookie, Body: with("machineIds", manyIDs(deployments.MaxTargets+1)), Status: 400},
		{Name: "verify_path not a string", Method: "POST", Path: base, Cred: cookie, Body: with("verify_path", true), Status: 400},
		{Name: "empty body", Method: "POST", Path: base, Cred: cookie, Status: 400, Want: map[string]any{"error": "Request body is empty: expected a JSON object"}},
		{Name: "malformed JSON", Method: "POST", Path: base, Cred: cookie, Body: apptest.Raw(`{"siteId":`), Status: 400},
		{Name: "array body", Method: "POST", Path: base, Cred: cookie, Body: apptest.Raw(`[]`), Status: 400},
		{Name: "huge body", Method: "POST", Path: base, Cred: cookie, Body: apptest.Raw(`{"name":"` + strings.Repeat("x", 2<<20) + `"}`), Status: 413},
		// Order: body and URL are checked before the credential.
		{Name: "no credential, bad URL", Method: "POST", Path: base, Body: with("installer_url", "http://x/y.exe"), Status: 400},
		{Name: "no credential, missing field", Method: "POST", Path: base, Body: with("name", nil), Status: 400},
		{Name: "stranger, bad URL", Method: "POST", Path: base, Cred: apptest.WithCookie(f.stranger.Cookie()), Body: with("installer_url", "ftp://x/y.exe"), Status: 400},
		{Name: "no credential, valid body", Method: "POST", Path: base, Body: validBody(f.site), Status: 401},
		{Name: "invalid site id", Method: "POST", Path: base, Cred: apptest.WithCookie(f.admin.Cookie()), Body: with("siteId", "a/b"), Status: 404},
	}...)
	f.Run(t, scenarios)
	if n := f.Count("sites/" + f.site + "/deployments"); n != 0 {
		t.Errorf("%d deployments written by refused requests", n)
	}
}

func manyIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%04d", i)
	}
	return ids
}

// TestCreateWrites checks the deployment document and the install command
// of every target field by field (api.md E31, datamodel.md §2.9, §5.8).
func TestCreateWrites(t *testing.T) {
	f := newFixture(t)
	ms := f.Clock.Now().UnixMilli()
	machines := []string{"WIN-01", "kiosk_2", "never-seen-machine", "WIN-01"} // a duplicate, an unknown machine
	body := validBody(f.site, machines...)
	body["installer_url"] = "HTTPS://dl.example/Chrome Setup.exe?v=1"
	body["verify_path"] = `C:\Program Files\Google\Chrome\chrome.exe`
	body["parallel_install"] = "yes" // truthy: stored as true
	body["extra"] = map[string]any{"ignored": true}
	r := f.Do("POST", base, apptest.WithAPIKey(f.member.APIKey()), body, nil)
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	depID := fmt.Sprintf("deploy-%d", ms)
	if r.JSON["deploymentId"] != depID || r.JSON["success"] != true {
		t.Fatalf("response %s, want deploymentId %s", r.Raw, depID)
	}
	doc := f.Doc("sites/" + f.site + "/deployments/" + depID)
	created, ok := doc["createdAt"].(time.Time)
	if !ok || created.IsZero() {
		t.Errorf("createdAt is not a server timestamp: %#v", doc["createdAt"])
	}
	delete(doc, "createdAt")
	want := map[string]any{
		"name": "Chrome", "installer_name": "chrome.exe", "installer_url": "HTTPS://dl.example/Chrome Setup.exe?v=1",
		"silent_flags": "/S", "status": "in_progress", "verify_path": `C:\Program Files\Google\Chrome\chrome.exe`, "parallel_install": true,
		"targets": []any{
			map[string]any{"machineId": "WIN-01", "status": "pending"},
			map[string]any{"machineId": "kiosk_2", "status": "pending"},
			map[string]any{"machineId": "never-seen-machine", "status": "pending"},
		},
	}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("deployment doc\n got %#v\nwant %#v", doc, want)
	}
	for _, m := range []string{"WIN-01", "kiosk_2", "never-seen-machine"} {
		pending := f.Doc("sites/" + f.site + "/machines/" + m + "/commands/pending")
		id := fmt.Sprintf("install_deploy_%d_%s_%d", ms, strings.ReplaceAll(m, "-", "_"), ms)
		if id != deployments.InstallCommandID(depID, m, ms) {
			t.Errorf("InstallCommandID disagrees: %s", deployments.InstallCommandID(depID, m, ms))
		}
		if len(pending) != 1 {
			t.Errorf("%s: pending has %d entries, want 1: %v", m, len(pending), pending)
		}
		cmd, _ := pending[id].(map[string]any)
		if cmd == nil {
			t.Errorf("%s: no pending entry %s: %v", m, id, pending)
			continue
		}
		if ts, ok := cmd["timestamp"].(time.Time); !ok || ts.IsZero() {
			t.Errorf("%s: timestamp is not a server timestamp: %#v", m, cmd["timestamp"])
		}
		delete(cmd, "timestamp")
		wantCmd := map[string]any{
			"type": "install_software", "installer_url": "HTTPS://dl.example/Chrome Setup.exe?v=1", "installer_name": "chrome.exe",
			"silent_flags": "/S", "deployment_id": depID, "status": "pending",
			"verify_path": `C:\Program Files\Google\Chrome\chrome.exe`, "parallel_install": true,
		}
		if !reflect.DeepEqual(cmd, wantCmd) {
			t.Errorf("%s: command\n got %#v\nwant %#v", m, cmd, wantCmd)
		}
	}
	// The unknown machine got only its command documents, no machine doc.
	if d := f.Doc("sites/" + f.site + "/machines/never-seen-machine"); d != nil {
		t.Errorf("machine doc created: %v", d)
	}

	t.Run("optional fields absent", func(t *testing.T) {
		f.Clock.Advance(time.Second)
		b := validBody(f.site, "m.with.dots")
		b["parallel_install"] = false
		b["verify_path"] = ""
		r := f.Do("POST", base, apptest.WithCookie(f.owner.Cookie()), b, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		id := r.JSON["deploymentId"].(string)
		doc := f.Doc("sites/" + f.site + "/deployments/" + id)
		for _, k := range []string{"verify_path", "parallel_install", "createdBy", "completedAt", "updatedAt"} {
			if _, ok := doc[k]; ok {
				t.Errorf("deployment has %s: %v", k, doc[k])
			}
		}
		// A machine id with dots is one literal field name, not a path.
		pending := f.Doc("sites/" + f.site + "/machines/m.with.dots/commands/pending")
		cmdID := deployments.InstallCommandID(id, "m.with.dots", f.Clock.Now().UnixMilli())
		cmd, _ := pending[cmdID].(map[string]any)
		if cmd == nil {
			t.Fatalf("no entry %q in %v", cmdID, pending)
		}
		for _, k := range []string{"verify_path", "parallel_install"} {
			if _, ok := cmd[k]; ok {
				t.Errorf("command has %s", k)
			}
		}
	})

	t.Run("existing pending commands are kept", func(t *testing.T) {
		ctx := context.Background()
		ref := f.FS.Doc("sites/" + f.site + "/machines/busy/commands/pending")
		if _, err := ref.Set(ctx, map[string]any{"kill_1": map[string]any{"type": "kill_process", "process_name": "x"}}); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Second)
		r := f.Do("POST", base, apptest.WithCookie(f.admin.Cookie()), validBody(f.site, "busy"), nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		pending := f.Doc("sites/" + f.site + "/machines/busy/commands/pending")
		if len(pending) != 2 || pending["kill_1"] == nil {
			t.Errorf("pending: %v", pending)
		}
	})
}

// TestCreateIDCollision: creates in the same millisecond get distinct ids
// of the documented form, and no create overwrites another.
func TestCreateIDCollision(t *testing.T) {
	f := newFixture(t)
	ms := f.Clock.Now().UnixMilli()
	cookie := apptest.WithCookie(f.admin.Cookie())
	first := f.Do("POST", base, cookie, validBody(f.site, "a"), nil)
	second := f.Do("POST", base, cookie, validBody(f.site, "b"), nil)
	if first.JSON["deploymentId"] != fmt.Sprintf("deploy-%d", ms) || second.JSON["deploymentId"] != fmt.Sprintf("deploy-%d", ms+1) {
		t.Fatalf("ids %v, %v (ms %d)", first.JSON["deploymentId"], second.JSON["deploymentId"], ms)
	}
	if got := f.Doc("sites/" + f.site + "/deployments/" + first.JSON["deploymentId"].(string))["targets"]; !reflect.DeepEqual(got, []any{map[string]any{"machineId": "a", "status": "pending"}}) {
		t.Errorf("first deployment overwritten: %v", got)
	}
	// The second's command names its own deployment.
	pending := f.Doc("sites/" + f.site + "/machines/b/commands/pending")
	if _, ok := pending[fmt.Sprintf("install_deploy_%d_b_%d", ms+1, ms+1)]; !ok {
		t.Errorf("pending of b: %v", pending)
	}

	t.Run("concurrent", func(t *testing.T) {
		f.Clock.Advance(time.Minute)
		const n = 6
		var wg sync.WaitGroup
		ids := make([]string, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := f.Do("POST", base, cookie, validBody(f.site, fmt.Sprintf("c%d", i)), nil)
				if r.StatusCode != 200 {
					t.Errorf("%d %s", r.StatusCode, r.Raw)
					return
				}
				ids[i] = r.JSON["deploymentId"].(string)
			}()
		}
		wg.Wait()
		sort.Strings(ids)
		ms := f.Clock.Now().UnixMilli()
		for i, id := range ids {
			if id != fmt.Sprintf("deploy-%d", ms+int64(i)) {
				t.Errorf("ids %v", ids)
				break
			}
		}
	})
}

// TestCreateManyTargets: past one commit's worth of writes the commands are
// queued in several commits and the deployment ends in_progress.
func TestCreateManyTargets(t *testing.T) {
	f := newFixture(t)
	ids := manyIDs(700)
	f.RPCs.Reset()
	r := f.Do("POST", base, apptest.WithCookie(f.admin.Cookie()), validBody(f.site, ids...), nil)
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	id := r.JSON["deploymentId"].(string)
	doc := f.Doc("sites/" + f.site + "/deployments/" + id)
	if doc["status"] != "in_progress" || len(doc["targets"].([]any)) != 700 {
		t.Errorf("status %v, %d targets", doc["status"], len(doc["targets"].([]any)))
	}
	for _, m := range []string{ids[0], ids[448], ids[449], ids[699]} {
		if p := f.Doc("sites/" + f.site + "/machines/" + m + "/commands/pending"); len(p) != 1 {
			t.Errorf("%s pending: %v", m, p)
		}
	}
	t.Logf("700 targets: %v", f.RPCs.Snapshot())
}

// TestCreateCost measures the Firestore RPCs of one create (figures for the
// report): the guard's reads, the rate-limit lease, the one commit.
func TestCreateCost(t *testing.T) {
	f := newFixture(t)
	ip := map[string]string{"X-Forwarded-For": "203.0.113.9"}
	for _, c := range []struct {
		name string
		cred apptest.Cred
	}{
		{"session cookie", apptest.WithCookie(f.member.Cookie())},
		{"API key", apptest.WithAPIKey(f.member.APIKey())},
	} {
		for i := 0; i < 3; i++ {
			f.Clock.Advance(time.Millisecond)
			f.RPCs.Reset()
			r := f.Do("POST", base, c.cred, validBody(f.site, "m1", "m2", "m3"), ip)
			if r.StatusCode != 200 {
				t.Fatalf("%d %s", r.StatusCode, r.Raw)
			}
			s := f.RPCs.Snapshot()
			t.Logf("%s, request %d, 3 targets: %v", c.name, i+1, s)
			if i == 2 {
				// Steady state: the guard's one batched read, the
				// handler's one commit (no rate-limit lease, no key touch).
				if s["BatchGetDocuments"] > 2 || s["Commit"] != 1 {
					t.Errorf("%s: %v", c.name, s)
				}
			}
		}
	}
}

// TestCreateFullPendingDocument: when a target's pending-commands document
// cannot take the install command without passing Firestore's 1 MiB, the
// create is a 400 naming the limit (as E22's send is), not a 500.
func TestCreateFullPendingDocument(t *testing.T) {
	f := newFixture(t)
	ref := f.FS.Doc("sites/" + f.site + "/machines/full/commands/pending")
	big := map[string]any{}
	for i := range 11 {
		big[fmt.Sprintf("old_%d", i)] = map[string]any{"type": "write_file", "content": strings.Repeat("x", 95_000)}
	}
	if _, err := ref.Set(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	body := validBody(f.site, "full")
	body["silent_flags"] = strings.Repeat("/S ", 2500) // 7.5 KB, within the field cap
	r := f.Do("POST", base, apptest.WithCookie(f.admin.Cookie()), body, nil)
	if r.StatusCode != 400 || !strings.Contains(r.JSON["error"].(string), "1 MiB") {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
}
