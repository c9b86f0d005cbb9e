package rulestest

import (
	"regexp"
	"testing"
	"time"

	"github.com/owlette/server/shared/testenv"
)

// The fixture: two sites; machine MEDIA-01 exists in both (same hostname,
// different site), MEDIA-02 only in site-a.
const (
	siteA = "site-a"
	siteB = "site-b"
	mA    = "MEDIA-01"
	mB    = "MEDIA-02"

	pSiteA = "sites/" + siteA
	pSiteB = "sites/" + siteB
	pM     = pSiteA + "/machines/" + mA // the agent's own machine
	pM2    = pSiteA + "/machines/" + mB // a peer machine in the same site
	pBM    = pSiteB + "/machines/" + mA // same hostname in another site
	pCfg   = "config/" + siteA + "/machines/" + mA
	pCfg2  = "config/" + siteA + "/machines/" + mB
	pCfgB  = "config/" + siteB + "/machines/" + mA
)

// Actor names.
const (
	agent          = "agent"          // agent of site-a / MEDIA-01
	agentPeer      = "agentPeer"      // agent of site-a / MEDIA-02
	agentOtherSite = "agentOtherSite" // agent of site-b / MEDIA-01
	agentPartial   = "agentPartial"   // role 'agent' + site_id, no machine_id
	owner          = "owner"          // owner of site-a (users doc without sites)
	member         = "member"         // users doc with sites [site-a]
	admin          = "admin"          // users doc with role admin
	stranger       = "stranger"       // users doc with sites [site-b]
	nodoc          = "nodoc"          // signed in, no users doc
	anon           = "anon"           // no token
)

// Groups of actors.
var (
	siteAUsers = who(owner, member, admin)
	siteBUsers = who(stranger, admin)
	allUsers   = who(owner, member, admin, stranger, nodoc)
	everyone   = who(agent, agentPeer, agentOtherSite, agentPartial, owner, member, admin, stranger, nodoc, anon)
	nobody     = who()
)

var unsafeUID = regexp.MustCompile(`[^A-Za-z0-9_]`)

// agentUID is the Firebase uid the server gives an agent (datamodel §0.2).
func agentUID(site, machine string) string {
	return "agent_" + unsafeUID.ReplaceAllString(site, "_") + "_" + unsafeUID.ReplaceAllString(machine, "_")
}

func agentClaims(site, machine string) map[string]any {
	return map[string]any{"role": "agent", "site_id": site, "machine_id": machine, "version": "2.1.0"}
}

// newWorld is a rig with every actor (real Auth-emulator ID tokens) and the
// fixture seeded.
func newWorld(t *testing.T) *rig {
	t.Helper()
	r := newRig(t)
	tok := func(name, uid string, claims map[string]any) {
		r.add(&actor{name: name, uid: uid, token: r.env.IDTokenFor(uid, claims)})
	}
	tok(agent, agentUID(siteA, mA), agentClaims(siteA, mA))
	tok(agentPeer, agentUID(siteA, mB), agentClaims(siteA, mB))
	tok(agentOtherSite, agentUID(siteB, mA), agentClaims(siteB, mA))
	tok(agentPartial, agentUID(siteA, "x"), map[string]any{"role": "agent", "site_id": siteA})
	for _, n := range []string{owner, member, admin, stranger, nodoc} {
		tok(n, testenv.UniqueID(n+"-"), nil)
	}
	r.add(&actor{name: anon, uid: "anonymous"})
	r.seedDocs = fixture
	r.reset()
	return r
}

func process(name, status, mode string) map[string]any {
	return map[string]any{
		"name": name, "exe_path": `C:\apps\` + name + `.exe`, "file_path": "", "cwd": "",
		"autolaunch": mode != "off", "launch_mode": mode, "schedules": nil,
		"priority": "Normal", "visibility": "Show", "time_delay": 0, "time_to_init": 10,
		"relaunch_attempts": 3, "index": 0, "pid": 4242, "status": status, "responsive": true,
		"last_updated": 1764000000,
	}
}

func machineDoc(site, m string, now time.Time) map[string]any {
	return map[string]any{
		"online": true, "lastHeartbeat": now, "machineId": m, "siteId": site,
		"agent_version": "2.1.0", "machine_timezone": "Pacific Standard Time",
		"metrics": map[string]any{
			"cpu":    map[string]any{"name": "Ryzen", "percent": 12.5, "unit": "%"},
			"memory": map[string]any{"used_gb": 8.0, "total_gb": 32.0, "percent": 25.0, "unit": "GB"},
			"processes": map[string]any{
				"p1":     process("TouchDesigner", "RUNNING", "always"),
				"proc-2": process("Resolume", "STOPPED", "scheduled"),
			},
			"timestamp": now,
		},
		"health":           map[string]any{"status": "ok", "error_code": "ok"},
		"configChangeFlag": true,
		"rebootSchedule":   map[string]any{"enabled": false, "schedules": []any{}},
		"lastScreenshot":   map[string]any{"url": "https://storage.example/latest.jpg?t=1", "timestamp": now, "sizeKB": 120},
	}
}

func configDoc() map[string]any {
	return map[string]any{
		"version": "1.6.0", "environment": "production",
		"processes": []any{map[string]any{"id": "p1", "name": "TouchDesigner", "launch_mode": "always", "autolaunch": true}},
		"logging":   map[string]any{"level": "INFO", "max_age_days": 7},
	}
}

// serverOnly lists documents of collections no client may touch.
func serverOnly(r *rig) []string {
	m := r.byName[member].uid
	return []string{
		"sessions/sid-1", "ratelimits/api:1.2.3.4:100", "api_keys/0123abcd", "agent_tokens/regcode-1",
		"agent_refresh_tokens/0123abcd", "device_codes/amber-brook-cedar", "mfa_pending/" + m,
		"webauthn_challenges/chal-1", "installer_uploads/upload-1", "bug_reports/bug-1",
		"webhook_deliveries/del-1", "alert_queue/q-1", "email_queue/q-1", "cortex_queue/q-1",
		"users/" + m + "/api_keys/key-1", "users/" + m + "/passkeys/cred-1",
		pSiteA + "/alert_cooldowns/rule-1_" + mA, pSiteA + "/cortex-state/lock",
		pSiteA + "/webhook_deliveries/del-1", pM + "/logs/log-1",
	}
}

func fixture(r *rig) map[string]map[string]any {
	now := time.Now().UTC().Truncate(time.Millisecond)
	uid := func(n string) string { return r.byName[n].uid }
	d := map[string]map[string]any{
		// users
		"users/" + uid(owner): {"email": "owner@example.test", "role": "user", "sites": []any{}, "createdAt": now},
		"users/" + uid(member): {"email": "member@example.test", "role": "user", "sites": []any{siteA}, "createdAt": now,
			"mfaEnrolled": true, "mfaSecret": "c2FsdA==:aXY=:dGFn:Y3Q=", "backupCodes": []any{"abc"}},
		"users/" + uid(admin):                    {"email": "admin@example.test", "role": "admin", "sites": []any{}, "createdAt": now},
		"users/" + uid(stranger):                 {"email": "stranger@example.test", "role": "user", "sites": []any{siteB}, "createdAt": now},
		"users/" + uid(member) + "/settings/llm": {"provider": "anthropic", "apiKeyEncrypted": "a:b:c:d", "model": nil},

		// sites
		pSiteA: {"name": "Site A", "owner": uid(owner), "createdAt": now, "timezone": "America/New_York"},
		pSiteB: {"name": "Site B", "owner": "someone-else", "createdAt": now, "timezone": "UTC"},

		// machines and what is under them
		pM:  machineDoc(siteA, mA, now),
		pM2: machineDoc(siteA, mB, now),
		pBM: machineDoc(siteB, mA, now),
		pM + "/commands/pending": {
			"cmd_1":      map[string]any{"type": "restart_process", "process_name": "TouchDesigner", "timestamp": now, "status": "pending"},
			"cmd-2-uuid": map[string]any{"type": "capture_screenshot", "monitor": 0, "timestamp": now.UnixMilli()},
		},
		pM + "/commands/completed": {
			"old_1": map[string]any{"status": "completed", "result": "ok", "completedAt": now, "type": "kill_process"},
		},
		pBM + "/commands/pending":                        {"b_1": map[string]any{"type": "kill_process", "process_name": "x", "timestamp": now}},
		pM + "/installed_software/sw1":                   {"name": "7-Zip", "version": "23.01", "installer_type": "msi", "detected_at": now},
		pM2 + "/installed_software/sw1":                  {"name": "7-Zip", "version": "23.01", "installer_type": "msi", "detected_at": now},
		pM + "/metrics_history/2026-11-26":               {"samples": []any{map[string]any{"t": 1764000000, "c": 1.5}}, "meta": map[string]any{"lastSampleTime": 1764000000, "resolution": "1min"}},
		pM + "/screenshots/shot-1":                       {"url": "https://storage.example/h/1.jpg", "timestamp": now, "sizeKB": 100},
		pM + "/cortex/active-chat":                       {"pendingMessage": "hi", "chatId": "chat-1", "status": "pending", "response": map[string]any{"content": "", "complete": false, "parts": []any{}}, "updatedAt": now},
		pM2 + "/cortex/active-chat":                      {"pendingMessage": "hi", "chatId": "chat-2", "status": "pending", "updatedAt": now},
		pSiteA + "/deployments/deploy-1":                 {"name": "Chrome", "installer_name": "chrome.exe", "installer_url": "https://dl.example/chrome.exe", "silent_flags": "/S", "targets": []any{map[string]any{"machineId": mA, "status": "pending"}}, "status": "in_progress", "createdAt": now},
		pSiteA + "/installer_templates/template-1":       {"name": "Chrome", "installer_name": "chrome.exe", "installer_url": "https://dl.example/chrome.exe", "silent_flags": "/S", "createdAt": now},
		pSiteA + "/project_templates/project-template-1": {"name": "Show", "project_name": "show.zip", "project_url": "https://dl.example/show.zip", "createdAt": now},
		pSiteA + "/project_distributions/project-dist-1": {"name": "Show", "project_name": "show.zip", "project_url": "https://dl.example/show.zip", "targets": []any{map[string]any{"machineId": mA, "status": "pending"}}, "status": "in_progress", "createdAt": now},
		pSiteA + "/logs/log-1":                           {"timestamp": now, "action": "agent_started", "level": "info", "machineId": mA, "machineName": mA},
		pSiteA + "/webhooks/wh-1":                        {"url": "https://hooks.example/x", "name": "x", "events": []any{"process.crashed"}, "enabled": true, "secret": "ab12", "createdAt": now, "createdBy": "", "lastTriggered": nil, "lastStatus": 0, "failCount": 0},
		pSiteA + "/settings/alerts":                      {"rules": []any{}},
		pSiteA + "/settings/llm":                         {"provider": "anthropic", "apiKeyEncrypted": "a:b:c:d", "model": nil},
		pSiteA + "/cortex-events/evt-1":                  {"machineId": mA, "machineName": mA, "processName": "TouchDesigner", "eventType": "process_crash", "status": "investigating", "timestamp": now},
		pSiteA + "/cortex-events/evt-2":                  {"machineId": mB, "machineName": mB, "processName": "Resolume", "eventType": "process_crash", "status": "investigating", "timestamp": now},

		// config
		pCfg:  configDoc(),
		pCfg2: configDoc(),
		pCfgB: configDoc(),
		"config/" + siteA + "/schedule_presets/sched-1": {"name": "Office hours", "blocks": []any{}, "isBuiltIn": false, "order": 1, "createdBy": uid(member), "createdAt": now},

		// global
		"installer_metadata/latest":              {"version": "2.1.0", "download_url": "https://dl.example/o.exe", "checksum_sha256": "00", "release_date": "2026-11-01T00:00:00Z"},
		"installer_metadata/data/versions/2.1.0": {"version": "2.1.0", "download_url": "https://dl.example/o.exe"},
		"system_presets/preset-1":                {"name": "Chrome", "software_name": "Google Chrome", "category": "Browsers", "installer_name": "chrome.exe", "silent_flags": "/S", "order": 1, "createdAt": now},
		"chats/chat-member":                      {"userId": uid(member), "siteId": siteA, "targetType": "machine", "targetMachineId": mA, "machineName": mA, "title": "t", "messages": []any{}, "createdAt": now, "updatedAt": now},
		"chats/chat-member/messages/msg-1":       {"role": "user", "content": "hi"},
		"chats/auto_1_MEDIA-01":                  {"source": "autonomous", "siteId": siteA, "targetType": "machine", "targetMachineId": mA, "title": "auto", "messages": []any{}, "createdAt": now, "updatedAt": now},
		"chats/auto_1_B":                         {"source": "autonomous", "siteId": siteB, "targetType": "machine", "targetMachineId": mA, "title": "auto", "messages": []any{}, "createdAt": now, "updatedAt": now},
	}
	for _, p := range serverOnly(r) {
		d[p] = map[string]any{"seeded": true, "createdAt": now}
	}
	return d
}
