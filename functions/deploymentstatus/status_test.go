package deploymentstatus

import (
	"fmt"

	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/trigger"
)

const dep = "deploy-1700000000000"

// step is one agent write in a sequence, and what must follow from it.
type step struct {
	machine, cmd string
	entry        func(f *fixture) map[string]any
	// target status (and progress, -1: absent) of machine afterwards,
	// and the deployment's status.
	target   string
	progress int
	overall  string
}

func prog(status string, pct int) func(*fixture) map[string]any {
	return func(f *fixture) map[string]any { return f.progress(dep, status, pct) }
}

func term(status, typ, text string) func(*fixture) map[string]any {
	return func(f *fixture) map[string]any { return f.done(dep, status, typ, text) }
}

const (
	install = "install_deploy_1700000000000_M1_1700000000001"
	cancel  = "cancel_1700000000500_M1"
)

// TestSequences drives completed-entry sequences through the trigger and
// checks the target and overall status after every write (§7.1).
func TestSequences(t *testing.T) {
	cases := []struct {
		name     string
		machines []string
		steps    []step
	}{
		{"install completes", []string{"M1", "M2"}, []step{
			{"M1", install, prog("downloading", 0), "downloading", 0, "in_progress"},
			{"M1", install, prog("downloading", 100), "downloading", 100, "in_progress"},
			{"M1", install, prog("installing", -1), "installing", 100, "in_progress"},
			{"M1", install, term("completed", "install_software", "Installation completed"), "completed", -1, "in_progress"},
			{"M2", "install_2", term("completed", "install_software", "ok"), "completed", -1, "completed"},
		}},
		{"closing_processes passes through", []string{"M1"}, []step{
			{"M1", install, prog("closing_processes", -1), "closing_processes", -1, "in_progress"},
			{"M1", install, prog("extracting", 30), "extracting", 30, "in_progress"},
		}},
		{"install fails", []string{"M1"}, []step{
			{"M1", install, prog("downloading", 10), "downloading", 10, "in_progress"},
			{"M1", install, term("failed", "install_software", "Error: Installer td.exe exited with code 1"), "failed", -1, "failed"},
		}},
		{"uninstall maps to uninstalled", []string{"M1"}, []step{
			{"M1", "uninstall-1", prog("uninstalling", -1), "uninstalling", -1, "in_progress"},
			{"M1", "uninstall-1", term("completed", "uninstall_software", "Uninstalled"), "uninstalled", -1, "uninstalled"},
		}},
		{"cancelled only is cancelled, not failed", []string{"M1"}, []step{
			{"M1", cancel, term("cancelled", "cancel_installation", "Installation cancelled: td.exe"), "cancelled", -1, "cancelled"},
		}},
		{"terminal guard: late progress does not reopen a target", []string{"M1"}, []step{
			{"M1", install, term("completed", "install_software", "ok"), "completed", -1, "completed"},
			{"M1", "install_again", prog("installing", 50), "completed", -1, "completed"},
		}},
		{"terminal to terminal: cancel after the install finished", []string{"M1"}, []step{
			{"M1", install, prog("installing", -1), "installing", -1, "in_progress"},
			{"M1", install, term("completed", "install_software", "ok"), "completed", -1, "completed"},
			{"M1", cancel, term("cancelled", "cancel_installation", "No active installation found"), "cancelled", -1, "cancelled"},
		}},
		{"mixed terminal statuses are partial", []string{"M1", "M2", "M3"}, []step{
			{"M1", install, term("completed", "install_software", "ok"), "completed", -1, "in_progress"},
			{"M2", "install_2", term("failed", "install_software", "Error: x"), "failed", -1, "in_progress"},
			{"M3", cancel, term("cancelled", "cancel_installation", "cancelled"), "cancelled", -1, "partial"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.machines...)
			for i, s := range c.steps {
				f.step(s.machine, s.cmd, s.entry(f))
				tg := f.target(s.machine)
				if tg["status"] != s.target {
					t.Fatalf("step %d (%s): target %s = %v, want %s", i, s.cmd, s.machine, tg["status"], s.target)
				}
				if s.progress >= 0 && tg["progress"] != int64(s.progress) {
					t.Errorf("step %d: progress = %v, want %d", i, tg["progress"], s.progress)
				}
				if s.progress < 0 && tg["progress"] != nil {
					t.Errorf("step %d: progress = %v, want none", i, tg["progress"])
				}
				d := f.deployment()
				if d["status"] != s.overall {
					t.Errorf("step %d: deployment status = %v, want %s", i, d["status"], s.overall)
				}
				if _, ok := d["updatedAt"].(time.Time); !ok {
					t.Errorf("step %d: updatedAt = %v", i, d["updatedAt"])
				}
			}
		})
	}
}

// Terminal targets carry the right stamp and the error; the deployment gets
// completedAt once, when it first becomes terminal.
func TestStampsAndErrors(t *testing.T) {
	f := newFixture(t, "M1", "M2", "M3")
	f.step("M1", install, f.done(dep, "failed", "install_software", "Error: Installer td.exe exited with code 1"))
	m1 := f.target("M1")
	if m1["error"] != "Error: Installer td.exe exited with code 1" || !m1["completedAt"].(time.Time).Equal(f.e.Clock.Now()) {
		t.Errorf("failed target = %v", m1)
	}
	f.step("M2", "uninstall-2", f.done(dep, "completed", "uninstall_software", "Uninstalled"))
	if m2 := f.target("M2"); m2["uninstalledAt"] == nil || m2["completedAt"] != nil || m2["error"] != nil {
		t.Errorf("uninstalled target = %v", m2)
	}
	if f.deployment()["completedAt"] != nil {
		t.Error("completedAt before the deployment is terminal")
	}
	f.step("M3", cancel, f.done(dep, "cancelled", "cancel_installation", "cancelled"))
	m3 := f.target("M3")
	if m3["cancelledAt"] == nil || m3["completedAt"] != nil {
		t.Errorf("cancelled target = %v", m3)
	}
	d := f.deployment()
	first, ok := d["completedAt"].(time.Time)
	if d["status"] != "partial" || !ok || !first.Equal(f.e.Clock.Now()) {
		t.Fatalf("deployment = %v", d)
	}
	// Terminal → terminal keeps the first completedAt of the deployment.
	f.step("M1", "install_retry", f.done(dep, "completed", "install_software", "ok"))
	d = f.deployment()
	if d["status"] != "partial" || !d["completedAt"].(time.Time).Equal(first) {
		t.Errorf("after a flip: %v", d)
	}
	if m1 := f.target("M1"); m1["status"] != "completed" || m1["error"] == nil {
		// §7.1 sets error only when truthy and never clears it.
		t.Errorf("flipped target = %v", m1)
	}
}

// Entries that name no deployment, unknown deployments and machines that
// are not targets change nothing; entries of other commands cost no RPC.
func TestIgnored(t *testing.T) {
	f := newFixture(t, "M1")
	before := f.deployment()

	f.e.RPCs.Reset()
	f.step("M1", "restart_process_1", map[string]any{"status": "completed", "type": "restart_process", "result": "ok", "completedAt": f.e.Clock.Now()})
	f.step("M1", "weird", map[string]any{"deployment_id": dep}) // no status
	f.write("M1", "mcp", map[string]any{"status": "completed"})
	if err := Handle(f.ctx, f.e.D, &trigger.Event{Path: f.completedPath("M1")}); err != nil { // deleted document: no after
		t.Fatal(err)
	}
	f.e.RPCs.Reset()
	f.deliver(&trigger.Event{Path: f.completedPath("M1"), Before: &trigger.Document{Fields: map[string]any{"a": 1}}})
	if n := f.e.RPCs.Reads() + f.e.RPCs.Writes(); n != 0 {
		t.Errorf("non-deployment events cost %d RPCs", n)
	}

	f.step("M1", "x1", f.done("deploy-unknown", "completed", "install_software", "ok"))
	f.step("M9", "x2", f.done(dep, "completed", "install_software", "ok"))      // not a target
	f.step("M1", "x3", f.done("bad/id", "completed", "install_software", "ok")) // not a document id
	if err := Handle(f.ctx, f.e.D, &trigger.Event{Path: "sites/a/b"}); err != nil {
		t.Fatal(err)
	}
	if after := f.deployment(); !equalDocs(before, after) {
		t.Errorf("deployment changed:\n%v\n%v", before, after)
	}
}

// Redelivery: every event of a run delivered again, in order and reversed,
// leaves the final document exactly as it was (no write at all).
func TestRedeliveryIsIdempotent(t *testing.T) {
	f := newFixture(t, "M1", "M2")
	var evs []*trigger.Event
	evs = append(evs,
		f.step("M1", install, f.progress(dep, "downloading", 0)),
		f.step("M1", install, f.progress(dep, "downloading", 100)),
		f.step("M1", install, f.progress(dep, "installing", -1)),
		f.step("M1", install, f.done(dep, "completed", "install_software", "ok")),
		f.step("M2", "install_2", f.progress(dep, "downloading", 50)),
		f.step("M2", "install_2", f.done(dep, "failed", "install_software", "Error: x")),
	)
	final := f.deployment()
	if final["status"] != "partial" {
		t.Fatalf("final = %v", final)
	}
	f.e.Clock.Advance(time.Hour)
	f.e.RPCs.Reset()
	for _, ev := range evs {
		f.deliver(ev)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		f.deliver(evs[i])
	}
	if got := f.deployment(); !equalDocs(final, got) {
		t.Errorf("redelivery changed the deployment:\n%v\n%v", final, got)
	}
	if w := f.e.RPCs.Writes(); w != 0 {
		t.Errorf("redelivery wrote %d times", w)
	}
}

// Out of order: the cancel's event handled before the install's terminal
// event (Eventarc does not order deliveries) still ends cancelled, as
// in-order delivery does.
func TestOutOfOrderDelivery(t *testing.T) {
	f := newFixture(t, "M1")
	p := f.write("M1", install, f.progress(dep, "installing", -1))
	done := f.write("M1", install, f.done(dep, "completed", "install_software", "ok"))
	c := f.write("M1", cancel, f.done(dep, "cancelled", "cancel_installation", "cancelled"))
	f.deliver(c)
	f.deliver(done)
	f.deliver(p)
	if tg := f.target("M1"); tg["status"] != "cancelled" {
		t.Errorf("target = %v, want cancelled", tg)
	}
	if d := f.deployment(); d["status"] != "cancelled" {
		t.Errorf("deployment = %v", d["status"])
	}
}

// Concurrent completions of many machines of one deployment: each handled
// in its own goroutine, none lost (transactions).
func TestConcurrentCompletions(t *testing.T) {
	const n = 12
	machines := make([]string, n)
	for i := range machines {
		machines[i] = fmt.Sprintf("M%02d", i)
	}
	f := newFixture(t, machines...)
	evs := make([]*trigger.Event, n)
	for i, m := range machines {
		status := "completed"
		if i == n-1 {
			status = "failed"
		}
		evs[i] = f.write(m, "install_"+m, f.done(dep, status, "install_software", "Error: x"))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, ev := range evs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Handle(f.ctx, f.e.D, ev)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range machines {
		want := "completed"
		if i == n-1 {
			want = "failed"
		}
		if s := f.target(m)["status"]; s != want {
			t.Errorf("target %s = %v, want %s (lost update)", m, s, want)
		}
	}
	if d := f.deployment(); d["status"] != "partial" || d["completedAt"] == nil {
		t.Errorf("deployment = %v", d)
	}
}

// The dashboard also rolls deployments up client-side (§12.18): its writes
// (a cancelled-only deployment marked failed, its own fields on targets, a
// non-map element) are tolerated, and the trigger puts the overall status
// back on the next event while leaving a matching roll-up alone.
func TestDashboardRollupTolerated(t *testing.T) {
	f := newFixture(t, "M1", "M2")
	ev1 := f.step("M1", cancel, f.done(dep, "cancelled", "cancel_installation", "cancelled"))
	f.step("M2", "cancel_2", f.done(dep, "cancelled", "cancel_installation", "cancelled"))
	if s := f.deployment()["status"]; s != "cancelled" {
		t.Fatalf("status = %v", s)
	}
	// The dashboard's hook rewrites the doc with its own aggregation.
	d := f.deployment()
	targets := d["targets"].([]any)
	targets[0].(map[string]any)["dashboardNote"] = "seen"
	targets = append(targets, "not-a-target")
	if _, err := f.e.FS.Doc(f.depPath(dep)).Update(f.ctx, []firestore.Update{{Path: "status", Value: "failed"}, {Path: "targets", Value: targets}}); err != nil {
		t.Fatal(err)
	}
	f.deliver(ev1) // any later event for the deployment (here a redelivery)
	d = f.deployment()
	if d["status"] != "cancelled" {
		t.Errorf("status = %v, want the trigger's cancelled", d["status"])
	}
	got := d["targets"].([]any)
	if len(got) != 3 || got[2] != "not-a-target" || got[0].(map[string]any)["dashboardNote"] != "seen" {
		t.Errorf("dashboard data lost: %v", got)
	}

	// A dashboard roll-up that already matches is left alone: no write.
	f2 := newFixture(t, "M1")
	ev := f2.write("M1", install, f2.done(dep, "completed", "install_software", "ok"))
	if _, err := f2.e.FS.Doc(f2.depPath(dep)).Update(f2.ctx, []firestore.Update{
		{Path: "targets", Value: []any{map[string]any{"machineId": "M1", "status": "completed", "completedAt": f2.e.Clock.Now()}}},
		{Path: "status", Value: "completed"}, {Path: "completedAt", Value: f2.e.Clock.Now()},
	}); err != nil {
		t.Fatal(err)
	}
	f2.e.RPCs.Reset()
	f2.deliver(ev)
	if w := f2.e.RPCs.Writes(); w != 0 {
		t.Errorf("%d writes over a matching dashboard roll-up", w)
	}
}

// The function is deployed as a trigger on every write of a completed
// document.
func TestSpec(t *testing.T) {
	if Spec.Kind != fn.Firestore || Spec.Document != Document || Spec.EventType != trigger.Written || !Spec.Retry || Spec.Package() != "functions/deploymentstatus" {
		t.Errorf("spec = %+v, package %s", Spec, Spec.Package())
	}
}
