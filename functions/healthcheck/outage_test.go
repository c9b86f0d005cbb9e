package healthcheck

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlette/server/functions/machinemetrics"
	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/trigger/triggertest"
)

// network lets a test cut a simulated agent off (every request fails at
// once, as with the cable pulled) and reconnect it.
type network struct{ down atomic.Bool }

func (n *network) RoundTrip(r *http.Request) (*http.Response, error) {
	if n.down.Load() {
		return nil, errors.New("network unreachable (simulated)")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestAgentOutage: a simulated agent (scripts/agentsim, heartbeats through
// Firestore's REST API under the rules) loses its network, later its
// power. The scheduled check, run by the test's clock, queues one offline
// e-mail and one machine.offline webhook per hour of outage; the metrics
// trigger, fed by the emulator's real change events, queues machine.online
// once per outage when the agent heartbeats again (after the network comes
// back, and after a restart whose first write is the presence merge and
// whose next ones replace the whole document). A site without e-mail
// recipients gets its webhook jobs.
func TestAgentOutage(t *testing.T) {
	e := apptest.New(t, Register)
	e.D.Config.ResendAPIKey = "re_test_key"
	testenv.LoadRules(t, e.Project)
	ctx := context.Background()
	owner, member, unsubscribed := e.Member(), e.Member("site-a"), e.Member("site-a")
	e.Site("site-a", owner.UID)
	e.Site("site-b", "") // nobody to e-mail
	set := func(path string, d map[string]any) {
		t.Helper()
		if _, err := e.FS.Doc(path).Set(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	set("users/"+unsubscribed.UID, map[string]any{"email": unsubscribed.Email, "role": "user", "sites": []any{"site-a"},
		"preferences": map[string]any{"healthAlerts": false}})
	set("sites/site-a/webhooks/h1", map[string]any{"enabled": true, "url": "https://a.example/h", "events": []any{notify.EventMachineOffline, notify.EventMachineOnline}})
	set("sites/site-b/webhooks/h2", map[string]any{"enabled": true, "url": "https://b.example/h", "events": []any{notify.EventMachineOffline}})
	// A machine of site-b that died before the test.
	set("sites/site-b/machines/KIOSK-9", map[string]any{"online": true, "lastHeartbeat": e.Clock.Now().Add(-time.Hour), "machineId": "KIOSK-9", "siteId": "site-b"})

	mm := machinemetrics.NewHandler()
	srv := triggertest.Serve(t, e.D, machinemetrics.Spec, mm.Handle)
	const machine = "SIM-1"
	machinePath := "sites/site-a/machines/" + machine
	delivered := func(after int) int { // deliveries for the machine since index after
		n := 0
		for _, d := range srv.Deliveries()[after:] {
			if d.Document == machinePath {
				if d.Err != nil {
					t.Errorf("trigger failed: %v", d.Err)
				}
				n++
			}
		}
		return n
	}

	net := &network{}
	events := make(chan sim.Event, 256)
	cfg := sim.Defaults(machine)
	cfg.ProjectID, cfg.API = e.Project, "http://127.0.0.1:1/api" // the token never needs a refresh here
	cfg.HTTP = &http.Client{Transport: net, Timeout: 10 * time.Second}
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.HeartbeatInterval, cfg.FirstHeartbeatDelay = time.Hour, time.Hour // heartbeats when the test says
	cfg.ConfigSync, cfg.EventLog, cfg.Inventory, cfg.Housekeeping = false, false, false, false
	cfg.OnEvent = func(ev sim.Event) {
		select {
		case events <- ev:
		default:
		}
	}
	creds := sim.Credentials{SiteID: "site-a", MachineID: machine, RefreshToken: "unused",
		AccessToken: e.AgentToken("site-a", machine), Expiry: time.Now().Add(time.Hour)}
	await := func(kind string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind {
					return
				}
			case <-deadline:
				t.Fatalf("no %s event from the agent", kind)
			}
		}
	}
	start := func() (a *sim.Agent, stop func()) {
		a = sim.New(cfg, &creds)
		actx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(actx) }()
		await(sim.EventStarted)
		return a, func() { cancel(); <-done }
	}
	heartbeat := func(a *sim.Agent) {
		t.Helper()
		n := len(srv.Deliveries())
		a.Heartbeat()
		await(sim.EventHeartbeat)
		srv.Wait(t, 20*time.Second, "the heartbeat's delivery", func() bool { return delivered(n) > 0 })
	}
	check := func() map[string]any {
		t.Helper()
		r := e.Do("POST", "/", nil, nil, map[string]string{guard.CronSecretHeader: cronSecret})
		if r.StatusCode != 200 {
			t.Fatalf("health check: %d %s", r.StatusCode, r.Raw)
		}
		return r.JSON
	}
	jobs := func(kind, event string) []map[string]any {
		t.Helper()
		snaps, err := e.FS.Collection(notify.Collection).Where("kind", "==", kind).Documents(ctx).GetAll()
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, s := range snaps {
			d := s.Data()
			if w, _ := d["webhook"].(map[string]any); event == "" || w["event"] == event {
				out = append(out, d)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["createdAt"].(time.Time).Before(out[j]["createdAt"].(time.Time)) })
		return out
	}
	hookMachines := func(event string) map[string]int {
		out := map[string]int{}
		for _, j := range jobs(notify.KindMachineState, event) {
			out[j["webhook"].(map[string]any)["data"].(map[string]any)["machine"].(map[string]any)["id"].(string)]++
		}
		return out
	}
	counts := func(stage string, mails int, offline, online map[string]int) {
		t.Helper()
		if n := len(jobs(notify.KindMachinesOffline, "")); n != mails {
			t.Errorf("%s: %d offline e-mail jobs, want %d", stage, n, mails)
		}
		if got := hookMachines(notify.EventMachineOffline); !reflect.DeepEqual(got, offline) {
			t.Errorf("%s: machine.offline jobs %v, want %v", stage, got, offline)
		}
		if got := hookMachines(notify.EventMachineOnline); !reflect.DeepEqual(got, online) {
			t.Errorf("%s: machine.online jobs %v, want %v", stage, got, online)
		}
	}

	// The agent starts and uploads its first metrics (its startup ends with
	// whole-document flag writes, so only this heartbeat makes it count as
	// online).
	agent, stop := start()
	heartbeat(agent)
	lastSeen := fleetwatch.Heartbeat(e.Doc(machinePath))
	if lastSeen.IsZero() {
		t.Fatalf("no heartbeat on the machine document: %v", e.Doc(machinePath))
	}

	// The network goes down. Four minutes later the check alerts it.
	net.down.Store(true)
	e.Clock.Advance(4 * time.Minute)
	got := check()
	if got["offlineMachines"] != 2.0 || got["alertsSent"] != 2.0 || got["webhooksQueued"] != 2.0 {
		t.Fatalf("first check: %v", got)
	}
	counts("first check", 1, map[string]int{machine: 1, "KIOSK-9": 1}, map[string]int{})
	mail := jobs(notify.KindMachinesOffline, "")[0]
	if mail["siteId"] != "site-a" || mail["email"].(map[string]any)["subject"] != "1 machine(s) offline in site-a" {
		t.Errorf("e-mail job %v", mail)
	}
	var uids []string
	for _, r := range mail["email"].(map[string]any)["recipients"].([]any) {
		uids = append(uids, r.(map[string]any)["uid"].(string))
	}
	sort.Strings(uids)
	if want := sortedStrings(owner.UID, member.UID); !reflect.DeepEqual(uids, want) {
		t.Errorf("recipients %v, want %v (healthAlerts off is left out)", uids, want)
	}
	off := jobs(notify.KindMachineState, notify.EventMachineOffline)
	for _, j := range off {
		m := j["webhook"].(map[string]any)["data"].(map[string]any)["machine"].(map[string]any)
		if m["id"] == machine && (m["name"] != machine || m["lastSeen"] != store.ISO(lastSeen)) {
			t.Errorf("machine.offline data %v, want lastSeen %s", m, store.ISO(lastSeen))
		}
	}

	// Still down five minutes later: nothing new.
	e.Clock.Advance(5 * time.Minute)
	if got := check(); got["offlineMachines"] != nil {
		t.Errorf("within the cooldown: %v", got)
	}
	counts("within the cooldown", 1, map[string]int{machine: 1, "KIOSK-9": 1}, map[string]int{})

	// Still down an hour after the alert: once more.
	e.Clock.Advance(56 * time.Minute)
	if got := check(); got["offlineMachines"] != 2.0 {
		t.Errorf("after the cooldown: %v", got)
	}
	counts("after the cooldown", 2, map[string]int{machine: 2, "KIOSK-9": 2}, map[string]int{})

	// The network comes back: the next heartbeat ends the outage.
	net.down.Store(false)
	heartbeat(agent)
	srv.Wait(t, 20*time.Second, "the machine.online job", func() bool { return len(hookMachines(notify.EventMachineOnline)) == 1 })
	online := jobs(notify.KindMachineState, notify.EventMachineOnline)[0]
	back := fleetwatch.Heartbeat(e.Doc(machinePath))
	if m := online["webhook"].(map[string]any)["data"].(map[string]any)["machine"].(map[string]any); m["id"] != machine || m["lastSeen"] != store.ISO(back) {
		t.Errorf("machine.online data %v, want lastSeen %s", m, store.ISO(back))
	}
	srv.Wait(t, 20*time.Second, "the marker's removal", func() bool { return fleetwatch.Marker(e.Doc(machinePath)).IsZero() })
	heartbeat(agent)
	counts("back online", 2, map[string]int{machine: 2, "KIOSK-9": 2}, map[string]int{machine: 1})

	// Power loss: the agent dies without writing online:false.
	net.down.Store(true)
	stop()
	net.down.Store(false)
	// Its last heartbeat is stale by the test's clock at once, but it was
	// alerted under an hour ago (machine_health; its marker is gone).
	if got := check(); got["offlineMachines"] != nil {
		t.Errorf("new outage within the hour: %v", got)
	}
	e.Clock.Advance(61 * time.Minute)
	if got := check(); got["offlineMachines"] != 2.0 {
		t.Errorf("new outage after the hour: %v", got)
	}
	counts("power loss", 3, map[string]int{machine: 3, "KIOSK-9": 3}, map[string]int{machine: 1})

	// The machine boots: the agent's startup (presence merge, metrics, then
	// three whole-document flag writes) ends the outage once.
	n := len(srv.Deliveries())
	_, stop = start()
	defer stop()
	srv.Wait(t, 20*time.Second, "the restart's writes", func() bool { return delivered(n) >= 5 })
	srv.Wait(t, 20*time.Second, "the second machine.online job", func() bool { return hookMachines(notify.EventMachineOnline)[machine] == 2 })
	counts("after the restart", 3, map[string]int{machine: 3, "KIOSK-9": 3}, map[string]int{machine: 2})
	if st := e.Doc("sites/site-a/machine_health/" + machine); st["onlineOwed"] != false {
		t.Errorf("machine_health %v", st)
	}
	if st := e.Doc("sites/site-b/machine_health/KIOSK-9"); st["onlineOwed"] != true {
		t.Errorf("KIOSK-9 machine_health %v", st)
	}
}

func sortedStrings(s ...string) []string { sort.Strings(s); return s }
