package processes_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/owlette/server/functions/processes"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

const base = "/api/admin/processes"

// fixture is an Env with one site and the callers that matter for G-MEMBER.
type fixture struct {
	*apptest.Env
	site, otherSite string
	admin           *apptest.User
	member          *apptest.User // assigned to site
	owner           *apptest.User // owns site, not assigned
	stranger        *apptest.User // assigned to otherSite only
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	e := apptest.New(t, processes.Register)
	ten := e.Tenancy(testenv.UniqueID("site-"), testenv.UniqueID("other-"))
	return &fixture{Env: e, site: ten.Site, otherSite: ten.OtherSite, admin: ten.Admin, member: ten.Member, owner: ten.Owner, stranger: ten.Stranger}
}

// agentToken is an agent ID token for machine m1 of site.
func (f *fixture) agentToken(site string) string { return f.AgentToken(site, "m1") }

func (f *fixture) set(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := f.FS.Doc(path).Set(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

func configPath(site, machine string) string  { return "config/" + site + "/machines/" + machine }
func machinePath(site, machine string) string { return "sites/" + site + "/machines/" + machine }

// agentProcess is a process entry as the agent writes it into the config
// document (numbers, check_responsive, index).
func agentProcess(id, name string, index int) map[string]any {
	return map[string]any{
		"id": id, "name": name,
		"exe_path":  `C:\Program Files\Derivative\TouchDesigner\bin\TouchDesigner.exe`,
		"file_path": `C:\show\` + name + `.toe`, "cwd": `C:\show`,
		"priority": "High", "visibility": "Show",
		"time_delay": int64(0), "time_to_init": int64(10), "relaunch_attempts": int64(3),
		"autolaunch": true, "launch_mode": "always", "schedules": nil,
		"check_responsive": true, "index": int64(index),
	}
}

// agentConfig is a config document as the agent writes it (its config.json
// without the firebase section).
func agentConfig(procs ...map[string]any) map[string]any {
	ps := make([]any, len(procs))
	for i, p := range procs {
		ps[i] = p
	}
	return map[string]any{
		"version": "1.6.0", "environment": "production", "_comment": "owlette configuration",
		"processes": ps,
		"logging":   map[string]any{"level": "INFO", "max_age_days": int64(90), "firebase_shipping": map[string]any{"enabled": false, "ship_errors_only": true}},
		"cortex":    map[string]any{"enabled": false, "provider": "anthropic", "apiKeyEncrypted": "gAAAAAB-fernet", "maxTier": int64(2), "autonomousEnabled": false},
	}
}

// agentMachine is a machine document as the agent's metrics upload leaves
// it, with live entries for the given processes.
func agentMachine(now time.Time, procs ...map[string]any) map[string]any {
	live := map[string]any{}
	for i, p := range procs {
		live[p["id"].(string)] = map[string]any{
			"name": p["name"], "exe_path": p["exe_path"], "autolaunch": true, "launch_mode": "always", "schedules": nil,
			"pid": int64(4000 + i), "status": "RUNNING", "responsive": true, "last_updated": float64(now.Unix()), "index": int64(i),
		}
	}
	return map[string]any{
		"online": true, "lastHeartbeat": now, "agent_version": "2.4.2", "machine_timezone": "Pacific Standard Time",
		"metrics": map[string]any{
			"cpu":       map[string]any{"name": "AMD Ryzen 9", "percent": 12.5, "unit": "%"},
			"memory":    map[string]any{"used_gb": 11.2, "total_gb": 32.0, "percent": 35.0, "unit": "GB"},
			"processes": live,
		},
		"metrics.timestamp": now,
		"health":            map[string]any{"status": "ok", "error_code": "ok", "error_message": "", "last_checked_at": now},
	}
}

// seedMachine writes an agent-shaped config and machine document with n
// processes p0…p(n-1) and returns the process ids.
func (f *fixture) seedMachine(t testing.TB, site, machine string, n int) []string {
	t.Helper()
	procs := make([]map[string]any, n)
	ids := make([]string, n)
	for i := range procs {
		ids[i] = fmt.Sprintf("proc-%s-%d", machine, i)
		procs[i] = agentProcess(ids[i], fmt.Sprintf("p%d", i), i)
	}
	f.set(t, configPath(site, machine), agentConfig(procs...))
	f.set(t, machinePath(site, machine), agentMachine(f.Clock.Now(), procs...))
	return ids
}

// processes returns the stored processes array.
func (f *fixture) processes(t testing.TB, site, machine string) []any {
	t.Helper()
	d := f.Doc(configPath(site, machine))
	if d == nil {
		t.Fatalf("config %s/%s missing", site, machine)
	}
	ps, _ := d["processes"].([]any)
	return ps
}

// byID finds a stored process by id.
func byID(ps []any, id string) map[string]any {
	for _, p := range ps {
		if m, ok := p.(map[string]any); ok && m["id"] == id {
			return m
		}
	}
	return nil
}

// get walks nested maps.
func get(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}
