package rulestest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlette/server/shared/testenv"
)

// cases counts every (operation, actor) pair checked, for the log.
var cases atomic.Int64

// runMatrix checks each case against every actor, in a fresh world.
func runMatrix(t *testing.T, build func(r *rig) []rc) {
	t.Parallel()
	r := newWorld(t)
	n := r.run(build(r))
	cases.Add(int64(n))
	t.Logf("%d cases", n)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if n := cases.Load(); n > 0 {
		fmt.Printf("rulestest: %d (operation, actor) cases checked\n", n)
	}
	os.Exit(code)
}

var (
	mirror = map[string]any{"launch_mode": "scheduled", "autolaunch": true,
		"schedules":        []any{map[string]any{"days": []any{"mon"}, "ranges": []any{map[string]any{"start": "09:00", "stop": "17:00"}}}},
		"schedulePresetId": "sched-1"}
	software = []field{F("name", "VLC"), F("version", "3.0"), F("publisher", "VideoLAN"),
		F("install_location", `C:\Program Files\VLC`), F("uninstall_command", `"C:\u.exe"`),
		F("registry_key", `HKLM\x`), F("installer_type", "nsis"), Now("detected_at")}
)

// presence is the agent's merge of online/lastHeartbeat (a :commit with a
// mask and a server-timestamp transform).
func presence(path, site, machine string) op {
	return commit(path, F("online", true), Now("lastHeartbeat"), F("machineId", machine), F("siteId", site))
}

// completedEntry is the agent's terminal write into commands/completed.
func completedEntry(path, id string) op {
	return commit(path, F(id+".status", "completed"), F(id+".result", "Process TouchDesigner restarted with new PID 1"),
		F(id+".type", "restart_process"), Now(id+".completedAt"))
}

// logEntry is the agent's log_event (set with a server timestamp).
func logEntry(path, machine string) op {
	return commit(path, F("action", "process_started"), F("level", "info"), F("machineId", machine),
		F("machineName", machine), F("processName", "TouchDesigner"), F("details", "started"), Now("timestamp"))
}

// TestAgentMachineDoc: the agent's own machine doc and nothing else's.
func TestAgentMachineDoc(t *testing.T) {
	runMatrix(t, func(r *rig) []rc {
		return []rc{
			{"read own machine", get(pM), plus(who(agent), siteAUsers)},
			{"read peer machine", get(pM2), plus(who(agentPeer), siteAUsers)},
			{"read same hostname in other site", get(pBM), plus(who(agentOtherSite), siteBUsers)},
			{"flag write replaces the whole doc", replaceDoc(pM, F("rebooting", true)), who(agent)},
			{"reboot pending whole-doc write", replaceDoc(pM, F("rebootPending", map[string]any{"active": true, "processName": "TouchDesigner", "reason": "relaunch limit", "timestamp": 1764000000.5})), who(agent)},
			{"whole-doc write creates a missing machine doc", replaceDoc(pSiteA+"/machines/NEW-PC", F("liveView", map[string]any{"active": false})), nobody},
			{"presence merge", presence(pM, siteA, mA), who(agent)},
			{"presence merge on peer", presence(pM2, siteA, mB), who(agentPeer)},
			{"presence merge in other site", presence(pBM, siteB, mA), who(agentOtherSite)},
			{"metrics upload", commit(pM, F("online", true), Now("lastHeartbeat"), F("agent_version", "2.1.1"),
				F("machine_timezone", "Pacific Standard Time"), F("machineId", mA), F("siteId", siteA),
				F("metrics.cpu", map[string]any{"name": "Ryzen", "percent": 3.5, "unit": "%"}),
				F("metrics.processes", map[string]any{"p1": process("TouchDesigner", "RUNNING", "always")}),
				Now("`metrics.timestamp`")), who(agent)},
			{"health merge", commit(pM, F("health.status", "connection_failure"), F("health.error_code", "fatal_error"),
				F("health.error_message", "boom"), Now("health.last_checked_at"), Now("health.last_error_at")), who(agent)},
			{"local cortex heartbeat", commit(pM, F("cortexStatus.online", true), F("cortexStatus.status", "idle"), Now("cortexStatus.lastHeartbeat")), who(agent)},
			{"stop: online false", commit(pM, F("online", false), Now("lastHeartbeat")), who(agent)},
			{"delete machine (leave site / dashboard)", del(pM), plus(who(agent), siteAUsers)},
			{"dashboard machine removal: one batch deleting machine, config and queue", commitAll(del(pM), del(pCfg),
				del(pM+"/commands/pending"), del(pM+"/commands/completed")), siteAUsers},
			{"list machines of the site", query(pSiteA, "machines"), siteAUsers},
		}
	})
}

// TestWebMachineWhitelist: the dashboard's machine-doc updates (12.2).
func TestWebMachineWhitelist(t *testing.T) {
	mir := func(id string) []field {
		fs := []field{F("configChangeFlag", true)}
		for k, v := range mirror {
			fs = append(fs, F("metrics.processes.`"+id+"`."+k, v))
		}
		return fs
	}
	runMatrix(t, func(r *rig) []rc {
		withAgent := plus(who(agent), siteAUsers)
		return []rc{
			{"configChangeFlag true when already true (no-op diff)", patch(pM, F("configChangeFlag", true)), withAgent},
			{"rebootSchedule alone", patch(pM, F("rebootSchedule", map[string]any{"enabled": true, "schedules": []any{map[string]any{"days": []any{"sun"}, "ranges": []any{map[string]any{"start": "03:00", "stop": "03:30"}}}}})), withAgent},
			{"configChangeFlag + mirror fields of p1", patch(pM, mir("p1")...), withAgent},
			{"mirror fields of a hyphenated process id", patch(pM, mir("proc-2")...), withAgent},
			{"mirror fields of a process not reported yet", patch(pM, mir("p-new")...), withAgent},
			{"mirror: delete schedulePresetId", patch(pM, F("configChangeFlag", true), Del("metrics.processes.p1.schedulePresetId")), withAgent},
			{"mirror on peer machine", patch(pM2, mir("p1")...), plus(who(agentPeer), siteAUsers)},
			{"mirror on other site's machine", patch(pBM, mir("p1")...), plus(who(agentOtherSite), siteBUsers)},
			{"member sets online", patch(pM, F("online", false)), who(agent)},
			{"member sets lastHeartbeat", patch(pM, F("lastHeartbeat", time.Now())), who(agent)},
			{"member sets online with configChangeFlag", patch(pM, F("configChangeFlag", true), F("online", false)), who(agent)},
			{"member sets metrics.cpu", patch(pM, F("metrics.cpu.percent", 99.0)), who(agent)},
			{"member sets a process status", patch(pM, F("metrics.processes.p1.status", "KILLED")), who(agent)},
			{"mirror plus a process pid", patch(pM, append(mir("p1"), F("metrics.processes.p1.pid", 1))...), who(agent)},
			{"member removes a process entry", patch(pM, Del("metrics.processes.`proc-2`")), who(agent)},
			{"member replaces the processes map", patch(pM, F("metrics.processes", map[string]any{"p1": mirror})), who(agent)},
			{"member replaces the whole doc", replaceDoc(pM, F("configChangeFlag", true)), who(agent)},
			{"member sets lastScreenshot", patch(pM, F("lastScreenshot", nil)), who(agent)},
			{"member sets top-level `metrics.timestamp`", patch(pM, F("`metrics.timestamp`", time.Now())), who(agent)},
			{"member sets agent_version", patch(pM, F("agent_version", "9.9.9")), who(agent)},
		}
	})
}

// TestCommandQueue: commands/pending and commands/completed.
func TestCommandQueue(t *testing.T) {
	pend, comp := pM+"/commands/pending", pM+"/commands/completed"
	runMatrix(t, func(r *rig) []rc {
		withAgent := plus(who(agent), siteAUsers)
		return []rc{
			{"read pending", get(pend), withAgent},
			{"read completed", get(comp), withAgent},
			{"read peer pending", get(pM2 + "/commands/pending"), plus(who(agentPeer), siteAUsers)},
			{"read other site pending", get(pBM + "/commands/pending"), plus(who(agentOtherSite), siteBUsers)},
			{"read another commands doc", get(pM + "/commands/other"), siteAUsers},
			{"delete a key from pending", patch(pend, Del("cmd_1")), withAgent},
			{"delete a UUID key from pending (backticked)", patch(pend, Del("`cmd-2-uuid`")), withAgent},
			{"delete keys from pending via commit", commit(pend, Del("cmd_1"), Del("`cmd-2-uuid`")), withAgent},
			{"delete a key from a missing pending doc", patch(pM2+"/commands/pending", Del("gone_1")), plus(who(agentPeer), siteAUsers)},
			{"delete a key from other site pending", patch(pBM+"/commands/pending", Del("b_1")), plus(who(agentOtherSite), siteBUsers)},
			{"add a command to pending", patch(pend, F("kill_1", map[string]any{"type": "kill_process", "process_name": "TouchDesigner", "timestamp": time.Now(), "status": "pending"})), siteAUsers},
			{"change a pending command", patch(pend, F("cmd_1.process_name", "cmd.exe")), siteAUsers},
			{"rewrite the whole pending doc", replaceDoc(pend, F("uninstall-1", map[string]any{"type": "uninstall_software", "software_name": "VLC", "uninstall_command": "u.exe"})), siteAUsers},
			{"delete the pending doc", del(pend), siteAUsers},
			{"terminal result into completed", completedEntry(comp, "cmd_1"), withAgent},
			{"progress into completed (hyphenated id)", commit(comp, F("`install_deploy-1_MEDIA-01_1`.status", "downloading"),
				F("`install_deploy-1_MEDIA-01_1`.progress", 40), F("`install_deploy-1_MEDIA-01_1`.deployment_id", "deploy-1"),
				Now("`install_deploy-1_MEDIA-01_1`.updatedAt")), withAgent},
			{"housekeeping: delete a completed key", patch(comp, Del("old_1")), withAgent},
			{"result into peer completed", completedEntry(pM2+"/commands/completed", "x_1"), plus(who(agentPeer), siteAUsers)},
			{"result into other site completed", completedEntry(pBM+"/commands/completed", "x_1"), plus(who(agentOtherSite), siteBUsers)},
			{"write another commands doc", patch(pM+"/commands/other", F("x", 1)), siteAUsers},
		}
	})
}

// TestMachineSubcollections: inventory, metrics history, screenshots, the
// local Cortex bridge, the dead machine logs, and config docs.
func TestMachineSubcollections(t *testing.T) {
	sw := pM + "/installed_software"
	runMatrix(t, func(r *rig) []rc {
		withAgent := plus(who(agent), siteAUsers)
		return []rc{
			{"read inventory", get(sw + "/sw1"), withAgent},
			{"list inventory", query(pM, "installed_software"), withAgent},
			{"list inventory (GET on the collection)", get(sw), withAgent},
			{"list peer inventory (GET on the collection)", get(pM2 + "/installed_software"), plus(who(agentPeer), siteAUsers)},
			{"write inventory", commit(sw+"/VLC_3.0", software...), who(agent)},
			// :batchWrite is refused to every non-admin caller before rules
			// are evaluated ("Batch writes require admin authentication"); the
			// agent then falls back to single writes (§2.4), checked above.
			{"resync via :batchWrite", batch(del(sw+"/sw1"), commit(sw+"/VLC_3.0", software...)), nobody},
			{"delete inventory entry", del(sw + "/sw1"), withAgent},
			{"write peer inventory", commit(pM2+"/installed_software/VLC_3.0", software...), who(agentPeer)},
			{"write other site inventory", commit(pBM+"/installed_software/VLC_3.0", software...), who(agentOtherSite)},

			{"read metrics history", get(pM + "/metrics_history/2026-11-26"), withAgent},
			{"write metrics history", patch(pM+"/metrics_history/2026-11-26", F("meta.lastSampleTime", 1764000060)), who(agent)},
			{"write peer metrics history", patch(pM2+"/metrics_history/2026-11-26", F("meta.lastSampleTime", 1764000060)), who(agentPeer)},

			{"read screenshot history", get(pM + "/screenshots/shot-1"), siteAUsers},
			{"write screenshot history", replaceDoc(pM+"/screenshots/shot-2", F("url", "https://x"), F("sizeKB", 1)), nobody},

			{"read cortex/active-chat", get(pM + "/cortex/active-chat"), who(agent)},
			{"stream a cortex reply", commit(pM+"/cortex/active-chat", F("status", "streaming"), F("response.content", "Hello"),
				F("response.complete", false), F("response.parts", []any{}), Now("updatedAt")), who(agent)},
			{"finish a cortex reply", patch(pM+"/cortex/active-chat", F("status", "complete"), F("response.complete", true),
				F("response.metadata", map[string]any{"durationMs": 1200, "chatId": "chat-1"})), who(agent)},
			{"read peer cortex/active-chat", get(pM2 + "/cortex/active-chat"), who(agentPeer)},
			{"write peer cortex/active-chat", patch(pM2+"/cortex/active-chat", F("status", "error")), who(agentPeer)},

			{"read dead machine logs", get(pM + "/logs/log-1"), nobody},
			{"write dead machine logs", replaceDoc(pM+"/logs/log-2", F("message", "x")), nobody},

			{"read config", get(pCfg), withAgent},
			{"read peer config", get(pCfg2), plus(who(agentPeer), siteAUsers)},
			{"read other site config", get(pCfgB), plus(who(agentOtherSite), siteBUsers)},
			{"seed/replace config (no mask)", replaceDoc(pCfg, F("version", "1.6.0"), F("environment", "production"),
				F("processes", []any{map[string]any{"id": "p1", "name": "TouchDesigner", "launch_mode": "off"}}),
				F("logging", map[string]any{"level": "INFO"})), withAgent},
			{"seed a missing config doc", replaceDoc("config/"+siteA+"/machines/NEW-PC", F("processes", []any{})), siteAUsers},
			{"update processes", patch(pCfg, F("processes", []any{})), withAgent},
			{"replace other site config", replaceDoc(pCfgB, F("processes", []any{})), plus(who(agentOtherSite), siteBUsers)},
			{"delete config", del(pCfg), siteAUsers},
			{"read config/{site} itself", get("config/" + siteA), nobody},
			{"read schedule preset", get("config/" + siteA + "/schedule_presets/sched-1"), siteAUsers},
			{"write schedule preset", patch("config/"+siteA+"/schedule_presets/sched-2", F("name", "Nights"), F("blocks", []any{})), siteAUsers},
		}
	})
}

// TestSiteCollections: the site doc and site-level collections.
func TestSiteCollections(t *testing.T) {
	deployment := []field{F("name", "Chrome"), F("installer_name", "chrome.exe"), F("installer_url", "https://dl.example/c.exe"),
		F("silent_flags", "/S"), F("targets", []any{map[string]any{"machineId": mA, "status": "pending"}}), F("status", "pending"), F("createdAt", time.Now())}
	runMatrix(t, func(r *rig) []rc {
		ownerUID := r.byName[owner].uid
		return []rc{
			{"read site (agent reads timezone)", get(pSiteA), plus(who(agent, agentPeer), siteAUsers)},
			{"read other site", get(pSiteB), plus(who(agentOtherSite), siteBUsers)},
			{"update site timezone", patch(pSiteA, F("timezone", "Europe/Paris")), siteAUsers},
			{"set site owner to self", patch(pSiteA, F("owner", "$uid")), who(owner, admin)},
			{"keep site owner", patch(pSiteA, F("owner", ownerUID), F("name", "Renamed")), siteAUsers},
			{"create a site as its owner", replaceDoc(pSiteA+"-new", F("name", "New"), F("owner", "$uid"), F("timezone", "UTC"), F("createdAt", time.Now())), allUsers},
			{"create a site owned by someone else", replaceDoc(pSiteA+"-new", F("name", "New"), F("owner", "someone-else")), who(admin)},
			{"delete site", del(pSiteA), siteAUsers},

			{"read deployment", get(pSiteA + "/deployments/deploy-1"), siteAUsers},
			{"create deployment", replaceDoc(pSiteA+"/deployments/deploy-2", deployment...), siteAUsers},
			{"create deployment without targets", replaceDoc(pSiteA+"/deployments/deploy-3", F("name", "x"), F("installer_name", "x"), F("status", "pending"), F("createdAt", time.Now())), nobody},
			{"client-side rollup", patch(pSiteA+"/deployments/deploy-1", F("status", "completed"), F("targets", []any{map[string]any{"machineId": mA, "status": "completed"}})), siteAUsers},
			{"delete deployment", del(pSiteA + "/deployments/deploy-1"), siteAUsers},
			{"create deployment in other site", replaceDoc(pSiteB+"/deployments/deploy-2", deployment...), siteBUsers},

			{"read installer template", get(pSiteA + "/installer_templates/template-1"), siteAUsers},
			{"create installer template", replaceDoc(pSiteA+"/installer_templates/template-2", F("name", "VLC"), F("installer_name", "vlc.exe"), F("installer_url", "https://x"), F("silent_flags", "/S"), F("createdAt", time.Now())), siteAUsers},
			{"create installer template without installer_name", replaceDoc(pSiteA+"/installer_templates/template-3", F("name", "VLC"), F("createdAt", time.Now())), nobody},

			{"create project template (dashboard fields)", replaceDoc(pSiteA+"/project_templates/project-template-2", F("name", "Show"), F("project_name", "show.zip"),
				F("project_url", "https://dl.example/show.zip"), F("extract_path", `C:\shows`), F("verify_files", []any{"show.toe"}), F("createdAt", time.Now())), siteAUsers},
			{"create project template (legacy file_name)", replaceDoc(pSiteA+"/project_templates/project-template-3", F("name", "Show"), F("file_name", "show.zip"),
				F("project_url", "https://dl.example/show.zip"), F("createdAt", time.Now())), siteAUsers},
			{"create project template without project_url", replaceDoc(pSiteA+"/project_templates/project-template-4", F("name", "Show"), F("project_name", "show.zip"), F("createdAt", time.Now())), nobody},
			{"create project distribution", replaceDoc(pSiteA+"/project_distributions/project-dist-2", F("name", "Show"), F("project_name", "show.zip"),
				F("project_url", "https://dl.example/show.zip"), F("targets", []any{map[string]any{"machineId": mA, "status": "pending"}}), F("status", "pending"), F("createdAt", time.Now())), siteAUsers},
			{"create project distribution without targets", replaceDoc(pSiteA+"/project_distributions/project-dist-3", F("name", "Show"), F("project_name", "show.zip"),
				F("project_url", "https://dl.example/show.zip"), F("status", "pending"), F("createdAt", time.Now())), nobody},
			{"update project distribution", patch(pSiteA+"/project_distributions/project-dist-1", F("status", "completed")), siteAUsers},

			{"read event log entry of MEDIA-01", get(pSiteA + "/logs/log-1"), plus(who(agent), siteAUsers)},
			{"query event log of MEDIA-01", query(pSiteA, "logs", "machineId", mA), plus(who(agent), siteAUsers)},
			{"query the whole event log", query(pSiteA, "logs"), siteAUsers},
			{"log_event as MEDIA-01", logEntry(pSiteA+"/logs/0b7e2c1a-uuid", mA), plus(who(agent), siteAUsers)},
			{"log_event as MEDIA-02", logEntry(pSiteA+"/logs/0b7e2c1a-uuid", mB), plus(who(agentPeer), siteAUsers)},
			{"log_event in other site", logEntry(pSiteB+"/logs/0b7e2c1a-uuid", mA), plus(who(agentOtherSite), siteBUsers)},
			{"log without action", commit(pSiteA+"/logs/no-action", F("level", "info"), F("machineId", mA), Now("timestamp")), nobody},
			{"log without timestamp", patch(pSiteA+"/logs/no-ts", F("action", "agent_started"), F("level", "info"), F("machineId", mA)), nobody},
			{"log without machineId", commit(pSiteA+"/logs/no-machine", F("action", "agent_started"), F("level", "info"), Now("timestamp")), nobody},
			{"update a log entry", patch(pSiteA+"/logs/log-1", F("details", "edited")), nobody},
			{"delete a log entry", del(pSiteA + "/logs/log-1"), siteAUsers},

			{"read webhook", get(pSiteA + "/webhooks/wh-1"), siteAUsers},
			{"update webhook", patch(pSiteA+"/webhooks/wh-1", F("enabled", false)), who(admin)},
			{"create webhook", replaceDoc(pSiteA+"/webhooks/wh-2", F("url", "https://hooks.example/y"), F("name", "y"), F("events", []any{"machine.offline"}), F("enabled", true), F("secret", strings.Repeat("a", 64))), who(admin)},
			{"delete webhook", del(pSiteA + "/webhooks/wh-1"), who(admin)},

			{"read alert settings", get(pSiteA + "/settings/alerts"), siteAUsers},
			{"write alert settings", patch(pSiteA+"/settings/alerts", F("rules", []any{})), who(admin)},
			{"read site llm settings", get(pSiteA + "/settings/llm"), siteAUsers},

			{"create cortex event for own machine", commit(pSiteA+"/cortex-events/auto_1764000000_MEDIA-01", F("machineId", mA), F("machineName", mA),
				F("processName", "TouchDesigner"), F("eventType", "process_crash"), F("status", "investigating"), F("source", "local"),
				F("actions", []any{map[string]any{"tool": "get_process_list", "timestamp": 1764000000.5}}), Now("timestamp")), who(agent)},
			{"create cortex event for MEDIA-02", commit(pSiteA+"/cortex-events/auto_1764000000_MEDIA-02", F("machineId", mB), F("status", "investigating"), Now("timestamp")), who(agentPeer)},
			{"create cortex event without machineId", commit(pSiteA+"/cortex-events/auto_x", F("status", "investigating"), Now("timestamp")), nobody},
			{"escalate own cortex event", commit(pSiteA+"/cortex-events/evt-1", F("status", "escalated"), F("escalationPending", true), Now("escalatedAt")), who(agent)},
			{"escalate MEDIA-02's cortex event", patch(pSiteA+"/cortex-events/evt-2", F("status", "escalated")), who(agentPeer)},
			{"move a cortex event to another machine", patch(pSiteA+"/cortex-events/evt-1", F("machineId", mB)), nobody},
			{"read own cortex event", get(pSiteA + "/cortex-events/evt-1"), who(agent)},
			{"list cortex events", query(pSiteA, "cortex-events"), nobody},
			{"delete cortex event", del(pSiteA + "/cortex-events/evt-1"), nobody},
			{"create cortex event in other site", commit(pSiteB+"/cortex-events/auto_1_MEDIA-01", F("machineId", mA), Now("timestamp")), who(agentOtherSite)},
		}
	})
}

// TestUsers: users/{uid} and its subcollections.
func TestUsers(t *testing.T) {
	runMatrix(t, func(r *rig) []rc {
		m, nd := "users/"+r.byName[member].uid, "users/"+r.byName[nodoc].uid
		return []rc{
			{"read own users doc", get("users/$uid"), allUsers},
			{"read member's users doc", get(m), who(member, admin)},
			{"list all users", query("", "users"), who(admin)},
			{"self update preferences", patch("users/$uid", F("displayName", "Me"), F("preferences.timezone", "UTC"), F("lastSiteId", siteA)), allUsers},
			// The admin's write changes nothing (TestUsersCannotChangeTheirOwnStanding).
			{"self update role", patch("users/$uid", F("role", "admin")), who(admin)},
			{"self update sites", patch("users/$uid", F("sites", []any{siteA, siteB})), nobody},
			// nodoc's PATCH creates its doc: email is settable at self-creation.
			{"self update email", patch("users/$uid", F("email", "new@example.test")), who(nodoc)},
			{"member disables own MFA", patch(m, F("mfaEnrolled", false)), who(admin)},
			{"member removes own MFA secret", patch(m, Del("mfaSecret")), who(admin)},
			{"member replaces own backup codes", patch(m, F("backupCodes", []any{"x"})), who(admin)},
			{"self-create as user", replaceDoc(nd, F("email", "n@example.test"), F("role", "user"), F("sites", []any{}), F("requiresMfaSetup", true), F("createdAt", time.Now())), who(nodoc, admin)},
			{"self-create as admin", replaceDoc(nd, F("email", "n@example.test"), F("role", "admin"), F("sites", []any{})), who(admin)},
			{"self-create with sites", replaceDoc(nd, F("email", "n@example.test"), F("role", "user"), F("sites", []any{siteA})), who(admin)},
			{"assign member to a site", patch(m, F("sites", []any{siteA, siteB})), who(admin)},
			{"delete member", del(m), who(admin)},
			{"read own llm settings", get(m + "/settings/llm"), who(member)},
			{"write own llm settings", patch(m+"/settings/llm", F("model", "claude")), who(member)},
		}
	})
}

// TestUsersCannotChangeTheirOwnStanding is issue 15's attack by the client on
// its own user: when its Firestore connection stalls, the dashboard
// overwrites users/{uid} with {role:'user', sites:[], requiresMfaSetup:true}.
// Nobody, an admin included, may change their own role, sites, email or MFA
// state, replace their own doc wholesale or delete it; another admin still
// manages them, and everyone keeps writing their harmless fields.
func TestUsersCannotChangeTheirOwnStanding(t *testing.T) {
	t.Parallel()
	r := newWorld(t)
	// A second admin; MFA on the first; the member still to set MFA up.
	const admin2 = "admin2"
	uid2 := testenv.UniqueID("admin2-")
	r.add(&actor{name: admin2, uid: uid2, token: r.env.IDTokenFor(uid2, nil)})
	now := time.Now().UTC().Truncate(time.Millisecond)
	const sealed = "c2FsdA==:aXY=:dGFn:Y3Q="
	r.seedDocs = func(r *rig) map[string]map[string]any {
		d := fixture(r)
		a := d["users/"+r.byName[admin].uid]
		a["mfaEnrolled"], a["mfaSecret"], a["backupCodes"], a["mfaEnrolledAt"], a["requiresMfaSetup"], a["passkeyEnrolled"] =
			true, sealed, []any{"abc"}, now, false, true
		a["preferences"] = map[string]any{"timezone": "UTC", "healthAlerts": true}
		d["users/"+r.byName[member].uid]["requiresMfaSetup"] = true
		d["users/"+uid2] = map[string]any{"email": "admin2@example.test", "role": "admin", "sites": []any{}, "createdAt": now}
		return d
	}
	r.reset()
	pA, pA2 := "users/"+r.byName[admin].uid, "users/"+uid2
	pM, pO, pN := "users/"+r.byName[member].uid, "users/"+r.byName[owner].uid, "users/"+r.byName[nodoc].uid
	users := plus(allUsers, who(admin2))
	admins := who(admin, admin2)
	// The stalled dashboard's write: a set(), the whole document.
	stall := []field{F("role", "user"), F("sites", []any{}), F("requiresMfaSetup", true)}
	n := r.run([]rc{
		// nodoc has no doc: this is its first-login creation.
		{"stalled dashboard overwrites own users doc", replaceDoc("users/$uid", stall...), who(nodoc)},
		{"stalled dashboard overwrites the admin's doc", replaceDoc(pA, stall...), who(admin2)},
		{"admin demotes self", patch(pA, F("role", "user")), who(admin2)},
		{"admin2 demotes self", patch(pA2, F("role", "user")), who(admin)},
		{"admin clears own sites", patch(pA, F("sites", []any{siteA})), who(admin2)},
		{"admin changes own email", patch(pA, F("email", "x@example.test")), who(admin2)},
		{"admin disables own MFA", patch(pA, F("mfaEnrolled", false)), who(admin2)},
		{"admin removes own MFA secret", patch(pA, Del("mfaSecret")), who(admin2)},
		{"admin replaces own backup codes", patch(pA, F("backupCodes", []any{"x"})), who(admin2)},
		{"admin removes own mfaEnrolledAt", patch(pA, Del("mfaEnrolledAt")), who(admin2)},
		{"admin sets own requiresMfaSetup", patch(pA, F("requiresMfaSetup", true)), who(admin2)},
		{"admin clears own passkeyEnrolled", patch(pA, F("passkeyEnrolled", false)), who(admin2)},
		{"admin deletes own doc", del(pA), who(admin2)},
		{"admin drops own preferences", patch(pA, Del("preferences")), who(admin2)},
		{"admin replaces own doc, standing kept, preferences dropped", replaceDoc(pA, F("email", "admin@example.test"), F("role", "admin"),
			F("sites", []any{}), F("createdAt", now), F("mfaEnrolled", true), F("mfaSecret", sealed), F("backupCodes", []any{"abc"}),
			F("mfaEnrolledAt", now), F("requiresMfaSetup", false), F("passkeyEnrolled", true)), who(admin2)},
		{"member deletes own doc", del(pM), admins},
		{"member removes own MFA", patch(pM, F("mfaEnrolled", false), Del("mfaSecret"), Del("backupCodes")), admins},
		{"member skips own MFA setup prompt", patch(pM, F("requiresMfaSetup", false)), admins},
		{"owner sets own mfaEnrolled", patch(pO, F("mfaEnrolled", true)), admins},
		{"owner sets own mfaSecret", patch(pO, F("mfaSecret", "a:b:c:d")), admins},
		{"owner sets own backupCodes", patch(pO, F("backupCodes", []any{"x"})), admins},
		{"owner sets own mfaEnrolledAt", patch(pO, F("mfaEnrolledAt", now)), admins},
		{"owner sets own passkeyEnrolled", patch(pO, F("passkeyEnrolled", true)), admins},
		{"self-create with MFA state", replaceDoc(pN, F("email", "n@example.test"), F("role", "user"), F("sites", []any{}),
			F("mfaEnrolled", true), F("mfaSecret", "a:b:c:d")), admins},
		{"self-create with a passkey", replaceDoc(pN, F("email", "n@example.test"), F("role", "user"), F("passkeyEnrolled", true)), admins},
		// What the dashboard writes to its own doc keeps working.
		{"own preferences, display name, last site and machine", patch("users/$uid", F("displayName", "Me"),
			F("preferences.temperatureUnit", "F"), F("preferences.timezone", "Europe/Berlin"), F("preferences.timeFormat", "24h"),
			F("preferences.healthAlerts", false), F("preferences.processAlerts", true), F("preferences.alertCcEmails", []any{"ops@example.test"}),
			F("preferences.statsExpanded", true), F("preferences.processesExpanded", false),
			F("lastSiteId", siteA), F("lastMachineIds."+siteA, mA)), users},
		{"own preferences map replaced", patch("users/$uid", F("preferences", map[string]any{"temperatureUnit": "C", "healthAlerts": true})), users},
		{"own standing written unchanged with a preference", patch(pA, F("role", "admin"), F("sites", []any{}), F("preferences.timezone", "UTC")), admins},
		// Another admin manages users.
		{"promote a member", patch(pM, F("role", "admin")), admins},
		{"assign a member to sites", patch(pM, F("sites", []any{siteA, siteB})), admins},
		{"replace a member's doc", replaceDoc(pM, F("email", "member@example.test"), F("role", "user"), F("sites", []any{})), admins},
		{"create a users doc for someone", replaceDoc("users/someone-new", F("email", "new@example.test"), F("role", "user"), F("sites", []any{siteA})), admins},
	})
	cases.Add(int64(n))
	t.Logf("%d cases", n)
}

// TestGlobalCollections: installer metadata, system presets and chats.
func TestGlobalCollections(t *testing.T) {
	runMatrix(t, func(r *rig) []rc {
		memberUID := r.byName[member].uid
		return []rc{
			{"read installer_metadata/latest", get("installer_metadata/latest"), everyone},
			{"read an installer version", get("installer_metadata/data/versions/2.1.0"), everyone},
			{"write installer_metadata/latest", patch("installer_metadata/latest", F("version", "9.9.9")), who(admin)},
			{"write an installer version", replaceDoc("installer_metadata/data/versions/9.9.9", F("version", "9.9.9")), who(admin)},

			{"read system preset", get("system_presets/preset-1"), allUsers},
			{"create system preset", replaceDoc("system_presets/preset-2", F("name", "VLC"), F("software_name", "VLC"), F("category", "Media"),
				F("installer_name", "vlc.exe"), F("silent_flags", "/S"), F("order", 2), F("createdAt", time.Now())), who(admin)},
			{"create system preset without category", replaceDoc("system_presets/preset-3", F("name", "VLC"), F("software_name", "VLC"),
				F("installer_name", "vlc.exe"), F("silent_flags", "/S"), F("order", 2), F("createdAt", time.Now())), nobody},
			{"update system preset", patch("system_presets/preset-1", F("order", 5)), who(admin)},

			{"read own chat", get("chats/chat-member"), who(member)},
			{"read autonomous chat of site-a", get("chats/auto_1_MEDIA-01"), siteAUsers},
			{"read autonomous chat of site-b", get("chats/auto_1_B"), siteBUsers},
			{"list own chats", query("", "chats", "userId", memberUID), who(member)},
			{"list own chats (each caller's own)", query("", "chats", "userId", "$uid"), allUsers},
			{"list autonomous chats of site-a", query("", "chats", "source", "autonomous", "siteId", siteA), siteAUsers},
			{"create own chat", replaceDoc("chats/chat-new", F("userId", "$uid"), F("siteId", siteA), F("targetType", "site"), F("title", "New"), F("messages", []any{})), allUsers},
			{"create chat for someone else", replaceDoc("chats/chat-new", F("userId", memberUID), F("siteId", siteA)), who(member)},
			{"rename own chat", patch("chats/chat-member", F("title", "Renamed")), who(member)},
			{"give own chat away", patch("chats/chat-member", F("userId", "someone-else")), nobody},
			{"delete own chat", del("chats/chat-member"), who(member)},
			{"read legacy message", get("chats/chat-member/messages/msg-1"), who(member)},
			{"write legacy message", replaceDoc("chats/chat-member/messages/msg-2", F("role", "user"), F("content", "x")), who(member)},
		}
	})
}

// TestServerOnlyCollections: no client reaches them, admins and agents
// included.
func TestServerOnlyCollections(t *testing.T) {
	runMatrix(t, func(r *rig) []rc {
		var out []rc
		for _, p := range serverOnly(r) {
			out = append(out,
				rc{"read " + p, get(p), nobody},
				rc{"update " + p, patch(p, F("seeded", false)), nobody},
				rc{"create beside " + p, replaceDoc(p+"-new", F("x", 1)), nobody},
				rc{"delete " + p, del(p), nobody},
			)
			if i := strings.LastIndex(p, "/"); i > 0 {
				parent, coll := "", p[:i]
				if j := strings.LastIndex(coll, "/"); j > 0 {
					parent, coll = coll[:j], coll[j+1:]
				}
				out = append(out, rc{"list " + p[:i], query(parent, coll), nobody})
			}
		}
		return out
	})
}

// TestAgentCommandRoundTrip follows the agent's exact sequence on the queue
// and checks the data, not only the verdicts.
func TestAgentCommandRoundTrip(t *testing.T) {
	t.Parallel()
	r := newWorld(t)
	a := r.byName[agent]
	pend, comp := pM+"/commands/pending", pM+"/commands/completed"
	for _, step := range []op{
		get(pend),
		completedEntry(comp, "`cmd-2-uuid`"),
		patch(pend, Del("`cmd-2-uuid`")),
		presence(pM, siteA, mA),
	} {
		if res := r.do(a, step); res.denied || res.status != 200 {
			t.Fatalf("%s: status %d denied=%v: %s", step, res.status, res.denied, res.msg)
		}
	}
	ctx := context.Background()
	p, err := r.fs.Doc(pend).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Data()["cmd-2-uuid"]; ok || p.Data()["cmd_1"] == nil {
		t.Errorf("pending after delete-key: %v", p.Data())
	}
	c, err := r.fs.Doc(comp).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entry, _ := c.Data()["cmd-2-uuid"].(map[string]any)
	if entry["status"] != "completed" || entry["type"] != "restart_process" {
		t.Errorf("completed entry: %v", c.Data())
	}
	if _, ok := entry["completedAt"].(time.Time); !ok {
		t.Errorf("completedAt is not a server timestamp: %v", entry["completedAt"])
	}
	if c.Data()["old_1"] == nil {
		t.Errorf("merge dropped old entries: %v", c.Data())
	}
	m, err := r.fs.Doc(pM).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Data()["online"] != true || m.Data()["metrics"] == nil || m.Data()["rebootSchedule"] == nil {
		t.Errorf("presence merge replaced the machine doc: %v", m.Data())
	}
}

// TestMirrorWhitelistScales: the per-process mirror check holds for a
// machine with 64 reported processes (the rule's bound), within the rules
// engine's 1000-expression limit, and refuses beyond it.
func TestMirrorWhitelistScales(t *testing.T) {
	t.Parallel()
	r := newWorld(t)
	mem := r.byName[member]
	withProcesses := func(n int) []string {
		procs := map[string]any{}
		var ids []string
		for i := range n {
			id := fmt.Sprintf("proc-%03d", i)
			ids = append(ids, id)
			procs[id] = process("P"+id, "RUNNING", "always")
		}
		doc := machineDoc(siteA, mA, time.Now())
		doc["metrics"].(map[string]any)["processes"] = procs
		r.set(map[string]map[string]any{pM: doc})
		return ids
	}
	mirrorOf := func(id, mode string) []field {
		return []field{F("metrics.processes.`"+id+"`.launch_mode", mode), F("metrics.processes.`"+id+"`.autolaunch", mode != "off"),
			F("metrics.processes.`"+id+"`.schedules", nil), F("metrics.processes.`"+id+"`.schedulePresetId", "sched-1")}
	}
	ids := withProcesses(maxMirroredProcesses)
	for _, id := range []string{ids[0], ids[9], ids[31], ids[maxMirroredProcesses-1]} {
		w := patch(pM, append([]field{F("configChangeFlag", true)}, mirrorOf(id, "off")...)...)
		if res := r.do(mem, w); res.denied || res.status != 200 {
			t.Errorf("%d processes, mirror write on %s: status %d, denied: %s", maxMirroredProcesses, id, res.status, res.msg)
		}
		withProcesses(maxMirroredProcesses)
		w = patch(pM, append(mirrorOf(id, "always"), F("metrics.processes.`"+id+"`.status", "KILLED"))...)
		if res := r.do(mem, w); !res.denied {
			t.Errorf("%d processes, status write on %s was allowed", maxMirroredProcesses, id)
		}
	}
	// How many processes one dashboard write may mirror at once (adjacent
	// ids, and ids spread over blocks); the dashboard mirrors one per write.
	capacity := func(step int) int {
		most := 0
		for k := 1; k*step <= len(ids) && k <= 16; k++ {
			withProcesses(maxMirroredProcesses)
			var fs []field
			for i := 0; i < k; i++ {
				fs = append(fs, mirrorOf(ids[i*step], "scheduled")...)
			}
			res := r.do(mem, patch(pM, fs...))
			if res.denied {
				if !strings.Contains(res.msg, "maximum of 1000 expressions") {
					t.Errorf("%d simultaneous mirror writes denied for another reason: %s", k, res.msg)
				}
				break
			}
			most = k
		}
		return most
	}
	adjacent, spread := capacity(1), capacity(8)
	t.Logf("with %d processes, one write may mirror %d adjacent or %d spread processes (evaluation limit)", maxMirroredProcesses, adjacent, spread)
	if adjacent < 4 || spread < 2 {
		t.Errorf("mirror capacity per write: %d adjacent, %d spread; want at least 4 and 2", adjacent, spread)
	}
	ids = withProcesses(maxMirroredProcesses + 1)
	if res := r.do(mem, patch(pM, mirrorOf(ids[0], "off")...)); !res.denied {
		t.Errorf("%d processes: mirror write allowed, the rule documents refusal beyond %d", maxMirroredProcesses+1, maxMirroredProcesses)
	}
	// The flag and rebootSchedule stay writable whatever the process count.
	if res := r.do(mem, patch(pM, F("configChangeFlag", true), F("rebootSchedule.enabled", true))); res.denied {
		t.Errorf("%d processes, configChangeFlag/rebootSchedule denied: %s", maxMirroredProcesses+1, res.msg)
	}
}

// maxMirroredProcesses is the bound written in firestore.rules.
const maxMirroredProcesses = 64

// TestBrokenRulesAreReported: a compile error comes back as a readable
// message (what newRig shows when firestore.rules is broken).
func TestBrokenRulesAreReported(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	msg, err := putRules(r.project, "rules_version = '2';\nservice cloud.firestore { match /x { allow read: if ; } }")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "400") || !strings.Contains(strings.ToLower(msg), "error") {
		t.Fatalf("broken rules: got %q, want a 400 with the compiler's message", msg)
	}
}

// TestStorageRulesCompile: storage.rules cannot be evaluated offline (the
// Storage emulator needs a download), but the Firestore emulator's rules
// compiler parses it: a syntax error fails here. Its only complaints may be
// the cross-service firestore.get/exists calls it does not know.
func TestStorageRulesCompile(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "FIRESTORE_EMULATOR_HOST")
	_, file, _, _ := runtime.Caller(0)
	text, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "storage.rules"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"rules": map[string]any{
		"files": []any{map[string]any{"name": "storage.rules", "content": string(text)}},
	}})
	req, _ := http.NewRequest(http.MethodPut, emulatorBase()+"/emulator/v1/projects/"+testenv.IsolatedProject()+":securityRules", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("storage.rules does not compile: %s", emulatorMessage(raw))
	}
	var out struct {
		Issues []struct {
			Description string `json:"description"`
			Source      struct {
				Line int `json:"line"`
			} `json:"sourcePosition"`
		} `json:"issues"`
	}
	_ = json.Unmarshal(raw, &out)
	for _, is := range out.Issues {
		d := is.Description
		if d == "Invalid variable name: firestore." || d == "Invalid function name: exists." ||
			d == "Incorrect number of arguments supplied to function: get." {
			continue
		}
		t.Errorf("storage.rules line %d: %s", is.Source.Line, d)
	}
}
