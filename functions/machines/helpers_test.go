package machines_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/owlette/server/functions/machines"
	"github.com/owlette/server/shared/apptest"
)

// fixture is one isolated server with a site, its users and an outsider.
type fixture struct {
	*apptest.Env
	site                          string
	admin, member, owner, outside *apptest.User
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	e := apptest.New(t, machines.Register)
	ten := e.Tenancy("site-a", "site-b")
	return &fixture{Env: e, site: ten.Site, admin: ten.Admin, member: ten.Member, owner: ten.Owner, outside: ten.Stranger}
}

// agentToken is a real agent ID token for site (uid unique: the Auth
// emulator is shared).
func (f *fixture) agentToken(site string) string { return f.AgentToken(site, "m1") }

// set writes a document as is (map keys are literal field names).
func (f *fixture) set(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := f.FS.Doc(path).Set(context.Background(), data); err != nil {
		t.Fatalf("set %s: %v", path, err)
	}
}

func (f *fixture) machine(t testing.TB, id string, data map[string]any) {
	t.Helper()
	f.set(t, "sites/"+f.site+"/machines/"+id, data)
}

// agentDoc is a machine document as the agent's metrics upload leaves it
// (datamodel.md §2.2, §5.2, §13): lastHeartbeat and the literal top-level
// field "metrics.timestamp" are Firestore timestamps, processes are under
// metrics.processes keyed by process-config id.
func agentDoc(machineID, site string, hb time.Time, running int) map[string]any {
	procs := map[string]any{}
	for i := 0; i < running; i++ {
		id := fmt.Sprintf("proc-%d", i)
		procs[id] = map[string]any{
			"name": fmt.Sprintf("App %d", i), "exe_path": `C:\Apps\app.exe`, "file_path": "", "cwd": `C:\Apps`,
			"autolaunch": true, "launch_mode": "always", "schedules": nil, "priority": "Normal", "visibility": "Show",
			"time_delay": int64(0), "time_to_init": int64(60), "relaunch_attempts": int64(3), "index": int64(i),
			"pid": int64(4000 + i), "status": "RUNNING", "responsive": true, "last_updated": float64(hb.Unix()),
		}
	}
	return map[string]any{
		"online": true, "lastHeartbeat": hb, "machineId": machineID, "siteId": site,
		"agent_version": "2.6.0", "machine_timezone": "Pacific Standard Time",
		"metrics": map[string]any{
			"cpu":    map[string]any{"name": "Intel Core i7", "percent": 12.5, "unit": "%", "temperature": 48.2},
			"memory": map[string]any{"used_gb": 7.9, "total_gb": 31.9, "percent": 24.8, "unit": "GB"},
			"disk":   map[string]any{"used_gb": 211.3, "total_gb": 953.8, "percent": 22.2, "unit": "GB"},
			"gpu":    map[string]any{"name": "NVIDIA RTX A4000", "usage_percent": 31.0, "vram_used_gb": 3.2, "vram_total_gb": 16.0, "unit": "GB"},
			"network": map[string]any{
				"interfaces": map[string]any{"Ethernet": map[string]any{"tx_bps": 1200.0, "rx_bps": 5400.0, "tx_util": 0.01, "rx_util": 0.04, "link_speed": int64(1000)}},
				"gateway_ip": "192.168.1.1", "latency_ms": 1.4, "packet_loss_pct": 0.0,
			},
			"processes": procs,
		},
		"metrics.timestamp": hb,
		"health":            map[string]any{"status": "ok", "error_code": "ok", "error_message": "", "last_checked_at": hb, "last_error_at": nil},
	}
}

// tsJSON is a stored time as the original renders a raw Timestamp.
func tsJSON(t time.Time) map[string]any {
	return map[string]any{"_seconds": t.Unix(), "_nanoseconds": t.Nanosecond()}
}
