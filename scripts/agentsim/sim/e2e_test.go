package sim

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/testenv"
)

// TestAgentEndToEnd runs one simulated agent against the real agentauth,
// tokens and screenshots handlers and the Firestore emulator with the
// repository's rules: device-code pairing authorized by a site member's
// session, a forced refresh, heartbeats written through REST with the
// agent's own token (and a write to another machine denied), commands
// executed with the completed-then-delete write order and the same-type
// gap, then revocation: the next refresh gets 401, the agent wipes its
// credentials and stops.
func TestAgentEndToEnd(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(bg(), 2*time.Minute)
	defer cancel()
	machine := testenv.UniqueID("SIM-")
	ev := newEvents()
	cfg := s.config(machine, 20) // 30 s heartbeat → 1.5 s; 3600 s token → 180 s
	cfg.OnEvent = ev.on
	cfg.StateFile = filepath.Join(t.TempDir(), machine+".json")

	// Pairing through the device code, approved in-process by a member.
	creds, err := Pair(ctx, cfg, s.authorizer(""))
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	if creds.SiteID != s.Site || len(creds.RefreshToken) != 86 || creds.AccessToken == "" {
		t.Fatalf("credentials = site %q, refresh %d chars, access %t", creds.SiteID, len(creds.RefreshToken), creds.AccessToken != "")
	}
	if n := s.Count("device_codes"); n != 0 {
		t.Errorf("device code not consumed: %d docs", n)
	}
	toks, err := s.FS.Collection("agent_refresh_tokens").Where("siteId", "==", s.Site).Documents(ctx).GetAll()
	if err != nil || len(toks) != 1 || toks[0].Data()["machineId"] != machine {
		t.Fatalf("refresh tokens = %d (%v)", len(toks), err)
	}
	if polls := s.requests("/api/agent/auth/device-code/poll"); len(polls) == 0 || polls[len(polls)-1].Status != http.StatusOK {
		t.Fatalf("polls = %+v", polls)
	}

	agent := New(cfg, creds)
	runErr := make(chan error, 1)
	go func() { runErr <- agent.Run(ctx) }()
	ev.wait(t, EventStarted, "", 30*time.Second)
	ev.wait(t, EventHeartbeat, "", 30*time.Second)

	machinePath := "sites/" + s.Site + "/machines/" + machine
	doc := s.Doc(machinePath)
	want := map[string]any{
		"online": true, "agent_version": "2.6.0", "machine_timezone": "Pacific Standard Time",
		"machineId": machine, "siteId": s.Site,
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("machine doc %s = %#v, want %#v", k, doc[k], v)
		}
	}
	for _, k := range []string{"lastHeartbeat", "metrics.timestamp"} {
		if _, ok := doc[k].(time.Time); !ok {
			t.Errorf("machine doc %q = %#v, want a timestamp", k, doc[k])
		}
	}
	metrics, _ := doc["metrics"].(map[string]any)
	for _, k := range []string{"cpu", "memory", "disk", "gpu", "network", "processes"} {
		if _, ok := metrics[k].(map[string]any); !ok {
			t.Errorf("metrics.%s missing: %v", k, metrics)
		}
	}
	if rp, _ := doc["rebootPending"].(map[string]any); rp["active"] != false {
		t.Errorf("startup flag clear missing: rebootPending = %v", doc["rebootPending"])
	}
	procs := processesByName(t, metrics)
	if p := procs["TouchDesigner"]; p["status"] != StatusRunning || p["pid"] == nil || p["launch_mode"] != "always" {
		t.Errorf("TouchDesigner = %v", p)
	}
	if p := procs["Signage"]; p["status"] != StatusInactive || p["pid"] != nil {
		t.Errorf("Signage = %v", p)
	}
	if c := s.Doc("config/" + s.Site + "/machines/" + machine); len(c["processes"].([]any)) != 2 {
		t.Errorf("config doc not seeded: %v", c)
	}
	waitUntil(t, 10*time.Second, "inventory", func() bool { return s.Count(machinePath+"/installed_software") == 2 })
	if !hasLog(t, s, machine, "agent_started") {
		t.Error("no agent_started log entry")
	}

	// A forced early refresh, with the agent's headers.
	before := len(s.requests("/api/agent/auth/refresh"))
	agent.ExpireSoon()
	ev.wait(t, EventRefreshed, "", 15*time.Second)
	refreshes := s.requests("/api/agent/auth/refresh")
	if len(refreshes) != before+1 {
		t.Fatalf("refresh requests = %d, want %d", len(refreshes), before+1)
	}
	r := refreshes[len(refreshes)-1]
	if r.Status != http.StatusOK || r.Header.Get("User-Agent") != "Owlette-Agent/2.6.0 (Windows; "+machine+")" || r.Header.Get("X-Owlette-Agent-Version") != "2.6.0" {
		t.Errorf("refresh: status %d, User-Agent %q, X-Owlette-Agent-Version %q", r.Status, r.Header.Get("User-Agent"), r.Header.Get("X-Owlette-Agent-Version"))
	}
	if agent.Credentials().AccessToken == "" {
		t.Error("no access token after refresh")
	}
	if _, err := os.Stat(cfg.StateFile); err != nil {
		t.Errorf("credentials not saved after refresh: %v", err)
	}
	agent.Heartbeat()
	ev.wait(t, EventHeartbeat, "", 15*time.Second)

	// The rules: the agent's token reaches its own machine only.
	fs := agent.Firestore()
	other := "sites/" + s.Site + "/machines/OTHER-" + machine
	denied := []struct {
		name string
		err  error
	}{
		{"write another machine", fs.Commit(ctx, "t", fs.MergeWrite(other, []Update{{FieldPath{"online"}, true}}))},
		{"read another machine", getErr(fs.Get(ctx, "t", other))},
		{"write another site", fs.Commit(ctx, "t", fs.MergeWrite("sites/other-"+s.Site+"/machines/"+machine, []Update{{FieldPath{"online"}, true}}))},
		{"add a pending command", fs.Commit(ctx, "t", fs.MergeWrite(machinePath+"/commands/pending", []Update{{FieldPath{"x1", "type"}, "reboot_machine"}}))},
		{"read refresh tokens", getErr(fs.Get(ctx, "t", "agent_refresh_tokens/"+toks[0].Ref.ID))},
	}
	for _, d := range denied {
		if !IsStatus(d.err, http.StatusForbidden) {
			t.Errorf("%s: got %v, want 403", d.name, d.err)
		}
	}
	if s.Doc(other) != nil {
		t.Error("another machine's doc was written")
	}

	// Commands, as the dashboard/API write them.
	uuidID := "3c9d2f4e-0000-4000-8000-000000000001"
	installID := "install_deploy_1_" + strings.ReplaceAll(machine, "-", "_") + "_1"
	pending := map[string]any{
		uuidID:      map[string]any{"type": "frobnicate", "timestamp": firestore.ServerTimestamp},
		"a_restart": map[string]any{"type": "restart_process", "process_name": "TouchDesigner", "timestamp": firestore.ServerTimestamp, "status": "pending"},
		"b_restart": map[string]any{"type": "restart_process", "process_name": "TouchDesigner", "timestamp": firestore.ServerTimestamp, "status": "pending"},
		installID: map[string]any{"type": "install_software", "installer_url": "https://example.com/App-v1.2.3.exe", "installer_name": "App-v1.2.3.exe",
			"silent_flags": "/S", "deployment_id": "deploy-1", "timestamp": firestore.ServerTimestamp, "status": "pending"},
		"kill_1": map[string]any{"type": "kill_process", "process_name": "TouchDesigner", "timestamp": time.Now().UnixMilli()},
		"shot_1": map[string]any{"type": "capture_screenshot", "monitor": 0, "timestamp": firestore.ServerTimestamp},
	}
	if _, err := s.FS.Doc(machinePath+"/commands/pending").Set(ctx, pending, firestore.MergeAll); err != nil {
		t.Fatal(err)
	}
	done := map[string]string{}
	for len(done) < len(pending) {
		e := ev.wait(t, EventCommand, "", 30*time.Second)
		done[e.Detail] = e.Status
	}
	completed := s.Doc(machinePath + "/commands/completed")
	entry := func(id string) map[string]any {
		m, _ := completed[id].(map[string]any)
		if m == nil {
			t.Fatalf("no completed entry %s: %v", id, completed)
		}
		if _, ok := m["completedAt"].(time.Time); !ok {
			t.Errorf("%s: completedAt = %#v", id, m["completedAt"])
		}
		return m
	}
	checks := []struct {
		id, typ, status, resultPrefix string
	}{
		{uuidID, "frobnicate", "completed", "Unknown command type: frobnicate"},
		{"a_restart", "restart_process", "completed", "Process TouchDesigner restarted with new PID "},
		{"b_restart", "restart_process", "completed", "Rate limited: restart_process executed too recently, try again in a few seconds"},
		{installID, "install_software", "completed", "Installation completed successfully"},
		{"kill_1", "kill_process", "completed", "Process TouchDesigner killed"},
		{"shot_1", "capture_screenshot", "completed", "Screenshot captured ("},
	}
	for _, c := range checks {
		m := entry(c.id)
		res, _ := m["result"].(string)
		if m["type"] != c.typ || m["status"] != c.status || !strings.HasPrefix(res, c.resultPrefix) {
			t.Errorf("%s = %v, want type %s status %s result %q…", c.id, m, c.typ, c.status, c.resultPrefix)
		}
	}
	if m := entry(installID); m["deployment_id"] != "deploy-1" || m["progress"] != int64(100) || m["updatedAt"] == nil {
		t.Errorf("install entry lost its deployment_id or progress fields: %v", m)
	}
	pend := s.Doc(machinePath + "/commands/pending")
	for id := range pending {
		if _, ok := pend[id]; ok {
			t.Errorf("pending %s not removed", id)
		}
	}
	if !hasLog(t, s, machine, "deployment_completed") {
		t.Error("no deployment_completed log entry")
	}
	if ls, _ := s.Doc(machinePath)["lastScreenshot"].(map[string]any); ls == nil {
		t.Error("screenshot upload did not set lastScreenshot")
	}
	waitUntil(t, 10*time.Second, "KILLED in metrics", func() bool {
		m, _ := s.Doc(machinePath)["metrics"].(map[string]any)
		p := processesByName(t, m)["TouchDesigner"]
		return p["status"] == StatusKilled && p["pid"] == nil
	})

	// Revocation through the tokens API: the next refresh gets 401, the
	// agent wipes its credentials and stops.
	status, body := s.post(t, "/admin/tokens/revoke", s.Admin.APIKey(), map[string]any{"siteId": s.Site, "machineId": machine})
	if status != http.StatusOK || body["revokedCount"] != float64(1) {
		t.Fatalf("revoke = %d %v", status, body)
	}
	agent.ExpireSoon()
	ev.wait(t, EventCredsWiped, "", 15*time.Second)
	select {
	case err := <-runErr:
		if !errors.Is(err, ErrUnpaired) {
			t.Fatalf("Run = %v, want ErrUnpaired", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not stop after its credentials were revoked")
	}
	refreshes = s.requests("/api/agent/auth/refresh")
	if last := refreshes[len(refreshes)-1]; last.Status != http.StatusUnauthorized {
		t.Errorf("last refresh status = %d, want 401", last.Status)
	}
	if c := agent.Credentials(); !agent.Wiped() || c.RefreshToken != "" || c.AccessToken != "" || c.SiteID != "" {
		t.Errorf("credentials not wiped: %+v", c)
	}
	if _, err := os.Stat(cfg.StateFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file still there: %v", err)
	}
	n := len(s.requests("/api/agent/auth/refresh"))
	time.Sleep(300 * time.Millisecond)
	if m := len(s.requests("/api/agent/auth/refresh")); m != n {
		t.Errorf("a stopped agent kept refreshing: %d → %d", n, m)
	}
}

// TestAgentRegistrationCodeAndCleanStop pairs with a registration code
// made by E16 (exchange, E14) and checks the clean stop: agent_stopped is
// logged and online:false is written with a fresh lastHeartbeat.
func TestAgentRegistrationCodeAndCleanStop(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(bg(), time.Minute)
	defer cancel()
	c := s.Member.Cookie()
	api := &API{Base: s.API, HTTP: defaultHTTP}
	var out struct {
		RegistrationCode string `json:"registrationCode"`
	}
	if _, err := api.call(ctx, "generate-installer", "/agent/generate-installer", authTimeout,
		http.Header{"Cookie": {c.Name + "=" + c.Value}}, map[string]any{"siteId": s.Site}, &out); err != nil || out.RegistrationCode == "" {
		t.Fatalf("generate-installer: %v", err)
	}
	machine := testenv.UniqueID("SIM-")
	ev := newEvents()
	cfg := s.config(machine, 20)
	cfg.OnEvent = ev.on
	creds, err := Exchange(ctx, cfg, out.RegistrationCode)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if creds.SiteID != s.Site {
		t.Fatalf("site = %q", creds.SiteID)
	}
	if _, err := Exchange(ctx, cfg, out.RegistrationCode); APIStatus(err) != http.StatusUnauthorized {
		t.Errorf("second exchange of one code = %v, want 401", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	agent := New(cfg, creds)
	runErr := make(chan error, 1)
	go func() { runErr <- agent.Run(runCtx) }()
	ev.wait(t, EventHeartbeat, "", 30*time.Second)
	path := "sites/" + s.Site + "/machines/" + machine
	hb1, _ := s.Doc(path)["lastHeartbeat"].(time.Time)
	stop()
	if err := <-runErr; err != nil {
		t.Fatalf("Run after a clean stop = %v", err)
	}
	doc := s.Doc(path)
	hb2, _ := doc["lastHeartbeat"].(time.Time)
	if doc["online"] != false || !hb2.After(hb1) {
		t.Errorf("after stop: online %v, lastHeartbeat %v (before %v)", doc["online"], hb2, hb1)
	}
	if doc["metrics"] == nil {
		t.Error("the offline write replaced the document instead of merging")
	}
	if !hasLog(t, s, machine, "agent_stopped") {
		t.Error("no agent_stopped log entry")
	}
}

func processesByName(t testing.TB, metrics map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	procs, _ := metrics["processes"].(map[string]any)
	for id, v := range procs {
		p, _ := v.(map[string]any)
		if p == nil || id == "" {
			t.Fatalf("bad process entry %q: %v", id, v)
		}
		name, _ := p["name"].(string)
		out[name] = p
	}
	return out
}

func hasLog(t testing.TB, s *stack, machine, action string) bool {
	t.Helper()
	snaps, err := s.FS.Collection("sites/"+s.Site+"/logs").Where("machineId", "==", machine).Where("action", "==", action).Documents(bg()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range snaps {
		d := sn.Data()
		if _, ok := d["timestamp"].(time.Time); ok && d["level"] != nil && d["machineName"] == machine {
			return true
		}
	}
	return false
}

func getErr(_ *Document, err error) error { return err }
