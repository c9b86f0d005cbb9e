package machinemetrics

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/fleetwatch/fleetwatchtest"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/trigger"
)

// metrics is an agent's metrics upload (datamodel.md §2.2) with the given
// cpu and disk percentages.
func metrics(cpu, disk float64) map[string]any {
	return map[string]any{
		"cpu":    map[string]any{"name": "Intel(R) Core(TM) i7-12700K", "percent": cpu, "unit": "%", "temperature": 52.3},
		"memory": map[string]any{"used_gb": 12.8, "total_gb": 32.0, "percent": 40.0, "unit": "GB"},
		"disk":   map[string]any{"used_gb": 412.3, "total_gb": 953.9, "percent": disk, "unit": "GB"},
		"gpu":    map[string]any{"name": "NVIDIA GeForce RTX 4080", "usage_percent": 20.0, "vram_used_gb": 3.2, "vram_total_gb": 16.0, "unit": "GB", "temperature": 43.0},
		"network": map[string]any{
			"interfaces": map[string]any{"Ethernet": map[string]any{"tx_bps": int64(20000), "rx_bps": int64(50000), "tx_util": 0.0, "rx_util": 0.0, "link_speed": int64(1000)}},
			"gateway_ip": "192.168.1.1", "latency_ms": 2.1, "packet_loss_pct": 0.0,
		},
		"processes": map[string]any{},
	}
}

// upload is a machine document as the agent's heartbeat leaves it (§5.2,
// §13: lastHeartbeat and the literal "metrics.timestamp" at the same time).
func upload(site, machine string, at time.Time, m map[string]any) map[string]any {
	return map[string]any{
		"online": true, "lastHeartbeat": at, "metrics.timestamp": at, "agent_version": "2.6.0",
		"machine_timezone": "Pacific Standard Time", "machineId": machine, "siteId": site, "metrics": m,
	}
}

// event is the change of a machine document from before to after (nil:
// absent).
func event(site, machine string, before, after map[string]any) *trigger.Event {
	path := "sites/" + site + "/machines/" + machine
	e := &trigger.Event{ID: "ev", Type: trigger.Written, Path: path}
	if before != nil {
		e.Before = &trigger.Document{Path: path, Fields: before}
	}
	if after != nil {
		e.After = &trigger.Document{Path: path, Fields: after}
	}
	return e
}

// with returns a copy of doc with kv set.
func with(doc map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(doc)+len(kv)/2)
	for k, v := range doc {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// env is one site with recipients and webhooks, a metered Deps and a
// fresh handler (a new function instance).
type env struct {
	t     *testing.T
	e     *apptest.Env
	d     *app.Deps
	meter *fleetwatchtest.Meter
	h     *Handler
	ctx   context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := apptest.New(t)
	e.D.Config.ResendAPIKey = "re_test_key"
	d, m := fleetwatchtest.Deps(t, e)
	v := &env{t: t, e: e, d: d, meter: m, h: NewHandler(), ctx: context.Background()}
	owner := e.Member()
	e.Site("site-a", owner.UID)
	e.Member("site-a")
	v.set("sites/site-a/webhooks/h1", map[string]any{"enabled": true, "url": "https://a.example/h",
		"events": []any{notify.EventThresholdBreached, notify.EventMachineOffline, notify.EventMachineOnline}})
	return v
}

func (v *env) set(path string, d map[string]any) {
	v.t.Helper()
	if _, err := v.e.FS.Doc(path).Set(v.ctx, d); err != nil {
		v.t.Fatal(err)
	}
}

// handle runs ev on h and returns what it cost.
func (v *env) handle(h *Handler, ev *trigger.Event) fleetwatchtest.Ops {
	v.t.Helper()
	v.meter.Reset()
	if err := h.Handle(v.ctx, v.d, ev); err != nil {
		v.t.Fatalf("Handle: %v", err)
	}
	return v.meter.Ops()
}

// samples returns a machine's samples from every bucket, by time.
func (v *env) samples(site, machine string) []map[string]any {
	v.t.Helper()
	snaps, err := v.e.FS.Collection("sites/" + site + "/machines/" + machine + "/" + History).Documents(v.ctx).GetAll()
	if err != nil {
		v.t.Fatal(err)
	}
	var out []map[string]any
	for _, s := range snaps {
		for _, x := range s.Data()["samples"].([]any) {
			out = append(out, x.(map[string]any))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["t"].(int64) < out[j]["t"].(int64) })
	return out
}

// jobs returns the queue documents of kind.
func (v *env) jobs(kind string) []map[string]any {
	v.t.Helper()
	snaps, err := v.e.FS.Collection(notify.Collection).Where("kind", "==", kind).Documents(v.ctx).GetAll()
	if err != nil {
		v.t.Fatal(err)
	}
	var out []map[string]any
	for _, s := range snaps {
		out = append(out, s.Data())
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["createdAt"].(time.Time).Before(out[j]["createdAt"].(time.Time)) })
	return out
}

// rules writes the site's settings/alerts.
func (v *env) rules(rules ...map[string]any) {
	v.t.Helper()
	list := make([]any, len(rules))
	for i, r := range rules {
		list[i] = r
	}
	v.set("sites/site-a/settings/alerts", map[string]any{"rules": list})
}
