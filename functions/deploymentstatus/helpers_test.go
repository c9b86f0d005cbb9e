package deploymentstatus

import (
	"context"
	"reflect"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/trigger"
)

// fixture is one site with one deployment, against the emulator.
type fixture struct {
	t    *testing.T
	e    *apptest.Env
	site string
	dep  string
	ctx  context.Context
}

func newFixture(t *testing.T, machines ...string) *fixture {
	t.Helper()
	e := apptest.New(t)
	f := &fixture{t: t, e: e, site: "site-a", dep: "deploy-1700000000000", ctx: context.Background()}
	e.Site(f.site, "")
	f.createDeployment(f.dep, machines...)
	return f
}

// createDeployment writes a deployment as the API creates it (E31), after
// its commands were queued: targets pending, status in_progress.
func (f *fixture) createDeployment(id string, machines ...string) {
	f.t.Helper()
	targets := make([]any, len(machines))
	for i, m := range machines {
		targets[i] = map[string]any{"machineId": m, "status": "pending"}
	}
	_, err := f.e.FS.Doc(f.depPath(id)).Set(f.ctx, map[string]any{
		"name": "TouchDesigner", "installer_name": "td.exe", "installer_url": "https://example.com/td.exe",
		"silent_flags": "/S", "targets": targets, "status": "in_progress", "createdAt": f.e.Clock.Now(),
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) depPath(id string) string { return "sites/" + f.site + "/deployments/" + id }

func (f *fixture) completedPath(machine string) string {
	return "sites/" + f.site + "/machines/" + machine + "/commands/completed"
}

// write merges entry into the machine's completed document as the agent
// does (leaf merge, server-side time), and returns the change event the
// trigger would get. It does not deliver it.
func (f *fixture) write(machine, cmd string, entry map[string]any) *trigger.Event {
	f.t.Helper()
	f.e.Clock.Advance(time.Second)
	ref := f.e.FS.Doc(f.completedPath(machine))
	before := f.fields(ref)
	if _, err := ref.Set(f.ctx, map[string]any{cmd: entry}, firestore.MergeAll); err != nil {
		f.t.Fatal(err)
	}
	after := f.fields(ref)
	ev := &trigger.Event{ID: cmd, Type: trigger.Written, Path: f.completedPath(machine), After: &trigger.Document{Path: f.completedPath(machine), Fields: after}}
	if before != nil {
		ev.Before = &trigger.Document{Path: f.completedPath(machine), Fields: before}
	}
	return ev
}

// deliver runs the trigger on an event.
func (f *fixture) deliver(ev *trigger.Event) {
	f.t.Helper()
	if err := Handle(f.ctx, f.e.D, ev); err != nil {
		f.t.Fatalf("Handle(%s): %v", ev.ID, err)
	}
}

// step writes and delivers.
func (f *fixture) step(machine, cmd string, entry map[string]any) *trigger.Event {
	f.t.Helper()
	ev := f.write(machine, cmd, entry)
	f.deliver(ev)
	return ev
}

func (f *fixture) fields(ref *firestore.DocumentRef) map[string]any {
	snap, err := ref.Get(f.ctx)
	if err != nil {
		if snap != nil && !snap.Exists() {
			return nil
		}
		f.t.Fatal(err)
	}
	return snap.Data()
}

func (f *fixture) deployment() map[string]any {
	f.t.Helper()
	return f.e.Doc(f.depPath(f.dep))
}

// target returns the deployment's target for machine.
func (f *fixture) target(machine string) map[string]any {
	f.t.Helper()
	for _, t := range f.deployment()["targets"].([]any) {
		if m, ok := t.(map[string]any); ok && m["machineId"] == machine {
			return m
		}
	}
	f.t.Fatalf("no target %s", machine)
	return nil
}

// Agent entries (datamodel.md §2.3): progress writes carry no type; terminal
// writes carry type, completedAt and result|error.
func (f *fixture) progress(dep, status string, pct int) map[string]any {
	m := map[string]any{"status": status, "deployment_id": dep, "updatedAt": f.e.Clock.Now().Add(time.Second)}
	if pct >= 0 {
		m["progress"] = pct
	}
	return m
}

func (f *fixture) done(dep, status, typ, text string) map[string]any {
	m := map[string]any{"status": status, "type": typ, "deployment_id": dep, "completedAt": f.e.Clock.Now().Add(time.Second)}
	if status == "failed" {
		m["error"] = text
	} else {
		m["result"] = text
	}
	return m
}

func equalDocs(a, b map[string]any) bool { return reflect.DeepEqual(a, b) }
