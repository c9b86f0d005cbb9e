package sim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"regexp"
	"strings"
	"sync"
	"time"
)

// handle runs one command (datamodel.md §5.8) and returns the handler's
// text: "Error: …" means failed.
func (a *Agent) handle(ctx context.Context, j job) string {
	c := j.cmd
	switch j.typ {
	case "restart_process":
		name := str(c, "process_name")
		res := a.m.restart(name)
		if strings.Contains(res, "PID") && a.cfg.EventLog {
			_ = a.logEvent(ctx, "command_executed", "info", name, res)
		}
		return res
	case "kill_process":
		name := str(c, "process_name")
		res := a.m.kill(name)
		if !strings.HasPrefix(res, "Error:") && a.cfg.EventLog {
			_ = a.logEvent(ctx, "process_killed", "info", name, "Killed from dashboard")
		}
		return res
	case "set_launch_mode":
		sched, has := c["schedules"]
		return a.m.setLaunchMode(str(c, "process_name"), str(c, "mode"), sched, has)
	case "toggle_autolaunch":
		mode := "off"
		if b, _ := c["autolaunch"].(bool); b {
			mode = "always"
		}
		return a.m.setLaunchMode(str(c, "process_name"), mode, nil, false)
	case "update_config":
		conf, ok := c["config"].(map[string]any)
		if !ok {
			return "Error: config is required"
		}
		if procs, ok := conf["processes"].([]any); ok {
			a.m.applyConfig(procs)
		}
		return "Configuration updated"
	case "install_software":
		return a.install(ctx, j)
	case "cancel_installation":
		name := str(c, "installer_name")
		if name == "" {
			return "Error: installer_name is required"
		}
		a.fxMu.Lock()
		cancel := a.installs[name]
		a.fxMu.Unlock()
		if cancel != nil {
			cancel()
			return fmt.Sprintf("Installation cancelled: %s", name)
		}
		return fmt.Sprintf("No active installation found for %s (marked cancelled)", name)
	case "uninstall_software":
		return a.uninstall(ctx, j)
	case "cancel_uninstall":
		name := str(c, "software_name")
		a.fxMu.Lock()
		cancel := a.uninstalls[name]
		a.fxMu.Unlock()
		if cancel == nil {
			return fmt.Sprintf("No active uninstall found for %s", name)
		}
		cancel()
		return fmt.Sprintf("Uninstall cancelled: %s", name)
	case "refresh_software_inventory":
		if err := a.syncInventory(ctx, true); err != nil {
			return "Error: inventory sync failed: " + err.Error()
		}
		docs, _ := a.m.softwareDocs()
		return fmt.Sprintf("Software inventory refreshed (%d items)", len(docs))
	case "distribute_project":
		return a.distribute(ctx, j)
	case "cancel_distribution":
		return fmt.Sprintf("Distribution cancelled: %s", str(c, "project_name"))
	case "update_owlette":
		return a.selfUpdate(ctx, j)
	case "mcp_tool_call":
		return a.toolCall(c)
	case "capture_screenshot":
		url, kb, err := a.screenshot(ctx)
		if err != nil {
			return "Screenshot failed: " + err.Error()
		}
		if a.cfg.EventLog {
			_ = a.logEvent(ctx, "command_executed", "info", "", "Screenshot captured")
		}
		return fmt.Sprintf("Screenshot captured (%dKB) — URL: %s", kb, url)
	case "start_live_view":
		return a.startLiveView(ctx, c)
	case "stop_live_view":
		a.fxMu.Lock()
		if a.liveView != nil {
			a.liveView()
			a.liveView = nil
		}
		a.fxMu.Unlock()
		if err := a.fs.Replace(ctx, "flag", a.machinePath(), map[string]any{"liveView": map[string]any{"active": false}}); err != nil {
			return "Error: " + err.Error()
		}
		return "Live view stopped"
	case "reboot_machine":
		return a.powerAction(ctx, "rebooting", "Reboot")
	case "shutdown_machine":
		return a.powerAction(ctx, "shuttingDown", "Shutdown")
	case "cancel_reboot":
		a.fxMu.Lock()
		pending := a.reboot != nil
		if pending {
			a.reboot()
			a.reboot = nil
		}
		a.fxMu.Unlock()
		for _, flag := range []string{"rebooting", "shuttingDown"} {
			if err := a.fs.Replace(ctx, "flag", a.machinePath(), map[string]any{flag: false}); err != nil {
				return "Error: " + err.Error()
			}
		}
		if a.cfg.EventLog {
			_ = a.logEvent(ctx, "command_executed", "info", "", "Reboot/shutdown cancelled")
		}
		if !pending {
			return "No pending reboot or shutdown to cancel"
		}
		return "Reboot/shutdown cancelled"
	case "dismiss_reboot_pending":
		if err := a.fs.Replace(ctx, "flag", a.machinePath(), map[string]any{
			"rebootPending": map[string]any{"active": false, "processName": nil, "reason": nil, "timestamp": nil},
		}); err != nil {
			return "Error: " + err.Error()
		}
		return fmt.Sprintf("Reboot pending dismissed for %s", str(c, "process_name"))
	case "provision_cortex_key":
		// The agent at the reference commit always fails here (§12.8).
		return "Error: Failed to store API key: write_config() takes 1 positional argument but 2 were given"
	default:
		return fmt.Sprintf("Unknown command type: %s", j.typ)
	}
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func strList(m map[string]any, k string) []string {
	raw, _ := m[k].([]any)
	var out []string
	for _, v := range raw {
		if s, ok := v.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// step waits one simulated install step; false when cancelled.
func (a *Agent) step(ctx context.Context) bool {
	return sleep(ctx, a.cfg.scaled(a.cfg.StepDelay)) == nil
}

var versionInURL = regexp.MustCompile(`v?(\d+\.\d+\.\d+)`)

// install simulates install_software: closing_processes (when asked) →
// downloading → installing → result. An installer_url containing "fail"
// makes the installer exit with code 1.
func (a *Agent) install(ctx context.Context, j job) string {
	c := j.cmd
	url := str(c, "installer_url")
	if url == "" {
		return "Error: installer_url is required"
	}
	name := str(c, "installer_name")
	if name == "" {
		name = "installer.exe"
	}
	dep := str(c, "deployment_id")
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.fxMu.Lock()
	a.installs[name] = cancel
	a.fxMu.Unlock()
	defer func() {
		a.fxMu.Lock()
		delete(a.installs, name)
		a.fxMu.Unlock()
	}()
	if len(strList(c, "close_processes")) > 0 || len(strList(c, "suppress_projects")) > 0 {
		if a.progress(ctx, j, "closing_processes", -1, dep) != nil || !a.step(ictx) {
			return cancelledOr(ctx, "Error: Installation cancelled")
		}
	}
	for _, pct := range []int{0, 100} {
		if a.progress(ctx, j, "downloading", pct, dep) != nil {
			return "Error: could not report progress"
		}
		if !a.step(ictx) {
			return cancelledOr(ctx, "Error: Installation cancelled")
		}
	}
	if a.progress(ctx, j, "installing", -1, dep) != nil || !a.step(ictx) {
		return cancelledOr(ctx, "Error: Installation cancelled")
	}
	if strings.Contains(strings.ToLower(url), "fail") {
		return fmt.Sprintf("Error: Installer %s exited with code 1", name)
	}
	version := "1.0.0"
	if m := versionInURL.FindStringSubmatch(url); m != nil {
		version = m[1]
	}
	a.m.installSoftware(strings.TrimSuffix(name, ".exe"), version)
	if a.cfg.Inventory {
		if err := a.syncInventory(ctx, false); err != nil {
			a.failed("inventory sync", err)
		}
	}
	return fmt.Sprintf("Installation completed successfully: %s (exit code 0)", name)
}

func cancelledOr(ctx context.Context, msg string) string {
	if ctx.Err() != nil {
		return "Error: agent stopping"
	}
	return msg
}

func (a *Agent) uninstall(ctx context.Context, j job) string {
	c := j.cmd
	name, cmdline := str(c, "software_name"), str(c, "uninstall_command")
	if name == "" || cmdline == "" {
		return "Error: software_name and uninstall_command are required"
	}
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.fxMu.Lock()
	a.uninstalls[name] = cancel
	a.fxMu.Unlock()
	defer func() {
		a.fxMu.Lock()
		delete(a.uninstalls, name)
		a.fxMu.Unlock()
	}()
	if a.progress(ctx, j, "uninstalling", -1, str(c, "deployment_id")) != nil {
		return "Error: could not report progress"
	}
	if !a.step(uctx) {
		return cancelledOr(ctx, "Error: Uninstall cancelled")
	}
	a.m.uninstallSoftware(name)
	if a.cfg.Inventory {
		if err := a.syncInventory(ctx, false); err != nil {
			a.failed("inventory sync", err)
		}
	}
	return fmt.Sprintf("Successfully uninstalled %s (exit code 0)", name)
}

// distribute mirrors distribute_project: progress entries carry the
// distribution id as deployment_id, the terminal entry none (§12.7).
func (a *Agent) distribute(ctx context.Context, j job) string {
	c := j.cmd
	if str(c, "project_url") == "" {
		return "Error: project_url is required"
	}
	name := str(c, "project_name")
	if name == "" {
		name = "project.zip"
	}
	dist := str(c, "distribution_id")
	for _, s := range []struct {
		status string
		pct    int
	}{{"downloading", 0}, {"downloading", 100}, {"extracting", 0}, {"extracting", 100}} {
		if a.progress(ctx, j, s.status, s.pct, dist) != nil {
			return "Error: could not report progress"
		}
		if !a.step(ctx) {
			return "Error: agent stopping"
		}
	}
	return fmt.Sprintf("Project %s distributed successfully", name)
}

// selfUpdate mirrors update_owlette's checks and returns at once after
// "launching" the installer; the simulated agent then reports the new
// version.
func (a *Agent) selfUpdate(ctx context.Context, j job) string {
	c := j.cmd
	url := str(c, "installer_url")
	if url == "" {
		return "Error: installer_url is required"
	}
	if str(c, "checksum_sha256") == "" {
		return "Error: checksum_sha256 is required for self-update"
	}
	a.fxMu.Lock()
	dup := !a.updateAt.IsZero() && time.Since(a.updateAt) < a.cfg.scaled(10*time.Minute)
	if !dup {
		a.updateAt = time.Now()
	}
	a.fxMu.Unlock()
	if dup {
		return "Update already in progress"
	}
	target := str(c, "target_version")
	if target == "" {
		if m := versionInURL.FindStringSubmatch(url); m != nil {
			target = m[1]
		}
	}
	dep := str(c, "deployment_id")
	for _, s := range []string{"downloading", "installing"} {
		if a.progress(ctx, j, s, -1, dep) != nil {
			return "Error: could not report progress"
		}
		if !a.step(ctx) {
			return "Error: agent stopping"
		}
	}
	if target != "" {
		a.verMu.Lock()
		a.version = target
		a.verMu.Unlock()
	}
	return fmt.Sprintf("Self-update initiated: installing version %s (the agent will restart)", target)
}

// toolCall answers mcp_tool_call with a JSON string (always completed).
func (a *Agent) toolCall(c map[string]any) string {
	tool := str(c, "tool_name")
	var out any
	switch tool {
	case "":
		out = map[string]any{"error": "tool_name is required"}
	case "get_system_info":
		out = map[string]any{"hostname": a.cfg.MachineID, "os": "Windows 11 Pro 10.0.22631", "agent_version": a.agentVersion(), "metrics": a.m.metrics()}
	case "get_process_list", "get_running_processes":
		out = map[string]any{"processes": a.m.processesMap()}
	case "get_agent_health":
		out = map[string]any{"status": "ok", "connected": true}
	case "get_gpu_processes", "get_network_info", "get_disk_usage", "get_event_logs", "get_service_status",
		"get_agent_config", "get_agent_logs", "run_command", "run_powershell", "execute_script", "read_file",
		"write_file", "list_directory", "run_python", "capture_screenshot":
		out = map[string]any{"success": true, "tool": tool, "simulated": true, "params": c["tool_params"]}
	default:
		out = map[string]any{"error": "Unknown tool: " + tool}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// powerAction sets the rebooting/shuttingDown flag (whole-document write)
// and, unless cancel_reboot comes within 30 s, "reboots" (clears the flag
// as the restarted agent does) or shuts down (the agent stops).
func (a *Agent) powerAction(ctx context.Context, flag, what string) string {
	if err := a.fs.Replace(ctx, "flag", a.machinePath(), map[string]any{flag: true}); err != nil {
		return "Error: " + err.Error()
	}
	if a.cfg.EventLog {
		_ = a.logEvent(ctx, "command_executed", "info", "", what+" scheduled in 30 seconds")
	}
	pctx, cancel := context.WithCancel(ctx)
	a.fxMu.Lock()
	if a.reboot != nil {
		a.reboot()
	}
	a.reboot = cancel
	a.fxMu.Unlock()
	go func() {
		if sleep(pctx, a.cfg.scaled(30*time.Second)) != nil {
			return
		}
		a.fxMu.Lock()
		a.reboot = nil
		a.fxMu.Unlock()
		if flag == "shuttingDown" {
			a.log.Info("simulated shutdown: agent stops")
			a.stop(errShutdown)
			return
		}
		a.log.Info("simulated reboot: agent restarts")
		if err := a.fs.Replace(ctx, "flag", a.machinePath(), map[string]any{"rebooting": false}); err != nil {
			a.failed("clear rebooting", err)
		}
		a.Heartbeat()
	}()
	return what + " scheduled in 30 seconds"
}

func (a *Agent) startLiveView(ctx context.Context, c map[string]any) string {
	interval := clampInt(c["interval"], 5, 60, 10)
	duration := clampInt(c["duration"], 60, 1800, 600)
	now := float64(time.Now().UnixMilli()) / 1000
	if err := a.fs.Replace(ctx, "flag", a.machinePath(), map[string]any{"liveView": map[string]any{
		"active": true, "interval": interval, "startedAt": now, "expiresAt": now + float64(duration),
	}}); err != nil {
		return "Error: " + err.Error()
	}
	lctx, cancel := context.WithTimeout(ctx, a.cfg.scaled(time.Duration(duration)*time.Second))
	a.fxMu.Lock()
	if a.liveView != nil {
		a.liveView()
	}
	a.liveView = cancel
	a.fxMu.Unlock()
	go func() {
		defer cancel()
		for sleep(lctx, a.cfg.scaled(time.Duration(interval)*time.Second)) == nil {
			if _, _, err := a.screenshot(lctx); err != nil && lctx.Err() == nil {
				a.failed("live view frame", err)
			}
		}
	}()
	return fmt.Sprintf("Live view started (every %ds for %ds)", interval, duration)
}

func clampInt(v any, lo, hi, def int) int {
	var n int
	switch x := v.(type) {
	case int64:
		n = int(x)
	case float64:
		n = int(x)
	default:
		return def
	}
	return max(lo, min(hi, n))
}

// screenshot uploads a small generated JPEG to /agent/screenshot.
func (a *Agent) screenshot(ctx context.Context) (string, int, error) {
	tok, err := a.token(ctx)
	if err != nil {
		return "", 0, err
	}
	return a.api.Screenshot(ctx, tok, a.site, a.cfg.MachineID, testJPEG(), a.agentVersion())
}

var (
	jpegOnce sync.Once
	jpegB64  string
)

// testJPEG is a 64×36 gradient, base64-encoded.
func testJPEG() string {
	jpegOnce.Do(func() {
		img := image.NewRGBA(image.Rect(0, 0, 64, 36))
		for y := 0; y < 36; y++ {
			for x := 0; x < 64; x++ {
				img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 7), 160, 255})
			}
		}
		var buf bytes.Buffer
		_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 72})
		jpegB64 = base64.StdEncoding.EncodeToString(buf.Bytes())
	})
	return jpegB64
}
