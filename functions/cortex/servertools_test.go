package cortex_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/cortex"
	"github.com/owlette/server/scripts/agentsim/autonomoustest"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/llm/llmfake"
)

func outputsByCall(t *testing.T, frames []autonomoustest.Frame) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, f := range frames {
		if f.Type() == "tool-output-available" {
			m, _ := f.Get("output").(map[string]any)
			out[f.Get("toolCallId").(string)] = m
		}
	}
	return out
}

// get_site_logs, get_system_presets and deploy_software run on the server
// (nothing is relayed for them); deploy_software creates a deployment as
// E31 does, marked source "cortex", with a TouchDesigner build installed
// into its own folder.
func TestServerSideTools(t *testing.T) {
	s := newStack(t)
	s.Set(t, "sites/site-a/machines/M1", map[string]any{"online": true})
	now := time.Now()
	for i, l := range []map[string]any{
		{"action": "process_crash", "level": "error", "machineId": "M1", "processName": "TouchDesigner"},
		{"action": "process_started", "level": "info", "machineId": "M1", "processName": "TouchDesigner"},
		{"action": "process_crash", "level": "error", "machineId": "M2", "processName": "Signage"},
		{"action": "process_crash", "level": "warning", "machineId": "M1", "processName": "Signage", "details": "exit 1"},
	} {
		l["timestamp"] = now.Add(time.Duration(i) * time.Second)
		s.Set(t, "sites/site-a/logs/l"+string(rune('0'+i)), l)
	}
	s.Set(t, "system_presets/td", map[string]any{"name": "TouchDesigner 2023", "software_name": "TouchDesigner", "category": "Media",
		"installer_name": "TouchDesigner.exe", "installer_url": "https://download.derivative.ca/TouchDesigner.2023.12000.exe",
		"silent_flags": `/VERYSILENT /DIR="D:\Apps\TouchDesigner"`, "order": 2})
	s.Set(t, "system_presets/vlc", map[string]any{"name": "VLC", "software_name": "VLC", "category": "Media",
		"installer_name": "vlc.exe", "installer_url": "https://get.videolan.org/vlc.exe", "silent_flags": "/S", "order": 1})
	s.Fake.Enqueue(
		llmfake.Turn{ToolCalls: []llmfake.ToolCall{
			toolCall("logs", "get_site_logs", `{"action":"process_crash","machineId":"M1","limit":5}`),
			toolCall("warn", "get_site_logs", `{"level":"warn"}`),
			toolCall("presets", "get_system_presets", `{}`),
			toolCall("td", "deploy_software", `{"software_name":"touchdesigner","timeout_minutes":10}`),
			toolCall("http", "deploy_software", `{"software_name":"X","installer_url":"http://example.test/x.exe"}`),
			toolCall("none", "deploy_software", `{"software_name":"Unknown thing"}`),
		}},
		llmfake.Turn{Text: []string{"Done."}},
	)
	resp := s.Post(t, "/api/cortex", apptest.WithCookie(s.Ten.Member.Cookie()), chatBody("M1", "deploy"), nil)
	frames, done := autonomoustest.ReadUIStream(t, resp.Body)
	if resp.StatusCode != 200 || !done {
		t.Fatalf("%d %v", resp.StatusCode, done)
	}
	out := outputsByCall(t, frames)

	var logIDs []string
	for _, l := range out["logs"]["logs"].([]any) {
		lm := l.(map[string]any)
		logIDs = append(logIDs, lm["id"].(string))
		if _, err := time.Parse(time.RFC3339, lm["timestamp"].(string)); err != nil {
			t.Errorf("timestamp %v", lm["timestamp"])
		}
	}
	if strings.Join(logIDs, ",") != "l3,l0" {
		t.Errorf("filtered logs (newest first) %v", logIDs)
	}
	if out["warn"]["count"] != float64(1) {
		t.Errorf("level warn matches warning: %v", out["warn"])
	}
	var presets []string
	for _, p := range out["presets"]["presets"].([]any) {
		presets = append(presets, p.(map[string]any)["id"].(string))
	}
	if strings.Join(presets, ",") != "vlc,td" {
		t.Errorf("presets in their order: %v", presets)
	}

	td := out["td"]
	depID, _ := td["deploymentId"].(string)
	if td["success"] != true || !regexp.MustCompile(`^deploy-\d{13}$`).MatchString(depID) {
		t.Fatalf("deploy output %v", td)
	}
	dep := s.Doc("sites/site-a/deployments/" + depID)
	wantFlags := `/VERYSILENT /DIR="D:\Apps\TouchDesigner.2023.12000"`
	if dep["source"] != "cortex" || dep["status"] != "in_progress" || dep["name"] != "touchdesigner" ||
		dep["installer_name"] != "TouchDesigner.2023.12000.exe" || dep["silent_flags"] != wantFlags ||
		dep["verify_path"] != `D:\Apps\TouchDesigner.2023.12000\bin\TouchDesigner.exe` || dep["timeout_seconds"] != int64(600) {
		t.Errorf("deployment %v", dep)
	}
	if ms, ok := dep["createdAt"].(int64); !ok || ms < s.Clock.Now().UnixMilli() || ms > s.Clock.Now().UnixMilli()+100 {
		t.Errorf("createdAt %v (ms)", dep["createdAt"])
	}
	targets, _ := json.Marshal(dep["targets"])
	if string(targets) != `[{"machineId":"M1","status":"pending"}]` {
		t.Errorf("targets %s", targets)
	}
	var cmd map[string]any
	for id, v := range s.Pending("M1") {
		if strings.HasPrefix(id, "install_"+strings.ReplaceAll(depID, "-", "_")+"_M1_") {
			cmd = v.(map[string]any)
		}
	}
	if cmd == nil || cmd["type"] != "install_software" || cmd["deployment_id"] != depID || cmd["timeout_seconds"] != int64(600) ||
		cmd["silent_flags"] != wantFlags || cmd["installer_url"] != "https://download.derivative.ca/TouchDesigner.2023.12000.exe" {
		t.Errorf("install command %v (pending %v)", cmd, s.Pending("M1"))
	}
	if out["http"]["success"] != false || !strings.Contains(out["http"]["error"].(string), "https") {
		t.Errorf("http installer: %v", out["http"])
	}
	if out["none"]["success"] != false || !strings.Contains(out["none"]["error"].(string), "installer_url") {
		t.Errorf("no installer: %v", out["none"])
	}
	if n := s.Count("sites/site-a/deployments"); n != 1 {
		t.Errorf("%d deployments", n)
	}
}

func TestTouchDesignerDir(t *testing.T) {
	for _, c := range []struct{ flags, flagsOut, verify string }{
		{"/VERYSILENT", `/VERYSILENT /DIR="C:\Program Files\Derivative\TouchDesigner.2024.10000"`, `C:\Program Files\Derivative\TouchDesigner.2024.10000\bin\TouchDesigner.exe`},
		{`/S /DIR=E:\TD /NORESTART`, `/S /DIR="E:\TouchDesigner.2024.10000" /NORESTART`, `E:\TouchDesigner.2024.10000\bin\TouchDesigner.exe`},
	} {
		f, v := cortex.TouchDesignerDir(c.flags, "2024.10000")
		if f != c.flagsOut || v != c.verify {
			t.Errorf("%q → %q %q", c.flags, f, v)
		}
	}
}
