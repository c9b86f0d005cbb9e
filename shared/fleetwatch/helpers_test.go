package fleetwatch_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/ratelimit"
)

const checkPath = "/api/cron/health-check"

// register mounts E63 as functions/utilities does.
func register(rt *app.Router) {
	rt.Handle("GET "+checkPath, guard.Cron, ratelimit.None, fleetwatch.Handler(rt.D))
}

var cron = map[string]string{guard.CronSecretHeader: "apptest-cron-secret"}

// fixture: site-a has an owner, a member and a member who unsubscribed
// (healthAlerts false), and a webhook for machine.offline and
// machine.online; site-b has nobody to e-mail (no admin fallback either)
// and a webhook for machine.offline.
type fixture struct {
	t                       *testing.T
	e                       *apptest.Env
	ctx                     context.Context
	owner, member, optedOut *apptest.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := apptest.New(t, register)
	e.D.Config.ResendAPIKey = "re_test_key"
	f := &fixture{t: t, e: e, ctx: context.Background()}
	f.owner, f.member, f.optedOut = e.Member(), e.Member("site-a"), e.Member("site-a")
	e.Site("site-a", f.owner.UID)
	e.Site("site-b", "")
	f.set("users/"+f.optedOut.UID, map[string]any{"preferences": map[string]any{"healthAlerts": false}}, true)
	f.set("sites/site-a/webhooks/h1", map[string]any{"enabled": true, "url": "https://a.example/h", "events": []any{notify.EventMachineOffline, notify.EventMachineOnline}}, false)
	f.set("sites/site-b/webhooks/h2", map[string]any{"enabled": true, "url": "https://b.example/h", "events": []any{notify.EventMachineOffline}}, false)
	return f
}

func (f *fixture) set(path string, d map[string]any, merge bool) {
	f.t.Helper()
	var err error
	if merge {
		_, err = f.e.FS.Doc(path).Set(f.ctx, d, firestore.MergeAll)
	} else {
		_, err = f.e.FS.Doc(path).Set(f.ctx, d)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// machine writes a machine document as the agent's heartbeat leaves it,
// with its last heartbeat age before the clock.
func (f *fixture) machine(site, id string, online bool, age time.Duration) {
	f.t.Helper()
	f.set("sites/"+site+"/machines/"+id, map[string]any{
		"online": online, "lastHeartbeat": f.e.Clock.Now().Add(-age), "machineId": id, "siteId": site,
		"machine_timezone": "Pacific Standard Time", "agent_version": "2.6.0",
		"metrics": map[string]any{"cpu": map[string]any{"percent": 12.5}},
	}, false)
}

// heartbeat refreshes a machine's lastHeartbeat to the clock (masked
// update, as the agent's upload: other fields stay).
func (f *fixture) heartbeat(site, id string) {
	f.t.Helper()
	_, err := f.e.FS.Doc("sites/"+site+"/machines/"+id).Update(f.ctx, []firestore.Update{
		{Path: "lastHeartbeat", Value: f.e.Clock.Now()}, {Path: "online", Value: true},
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// run calls E63 and returns its body.
func (f *fixture) run() map[string]any {
	f.t.Helper()
	r := f.e.Do("GET", checkPath, nil, nil, cron)
	if r.StatusCode != 200 {
		f.t.Fatalf("health check: %d %s", r.StatusCode, r.Raw)
	}
	return r.JSON
}

// jobs returns the queue documents of kind (and webhook event, if given).
func (f *fixture) jobs(kind, event string) []map[string]any {
	f.t.Helper()
	snaps, err := f.e.FS.Collection(notify.Collection).Where("kind", "==", kind).Documents(f.ctx).GetAll()
	if err != nil {
		f.t.Fatal(err)
	}
	var out []map[string]any
	for _, s := range snaps {
		d := s.Data()
		if event != "" {
			w, _ := d["webhook"].(map[string]any)
			if w["event"] != event {
				continue
			}
		}
		d["_id"] = s.Ref.ID
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["createdAt"].(time.Time).Before(out[j]["createdAt"].(time.Time)) })
	return out
}

// machinesOf returns the machine ids of machine_state jobs for site.
func machinesOf(jobs []map[string]any, site string) []string {
	var out []string
	for _, j := range jobs {
		if j["siteId"] != site {
			continue
		}
		m := j["webhook"].(map[string]any)["data"].(map[string]any)["machine"].(map[string]any)
		out = append(out, m["id"].(string))
	}
	sort.Strings(out)
	return out
}

func recipientUIDs(job map[string]any) []string {
	var out []string
	for _, r := range job["email"].(map[string]any)["recipients"].([]any) {
		out = append(out, r.(map[string]any)["uid"].(string))
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string { sort.Strings(s); return s }
