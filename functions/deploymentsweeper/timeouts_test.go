package deploymentsweeper

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/owlette/server/functions/deploymentstatus"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/trigger"
)

func sweepNow(t *testing.T, e *apptest.Env) *apptest.Response {
	t.Helper()
	r := e.Do("POST", "/", apptest.NoCred, nil, map[string]string{guard.CronSecretHeader: cronSecret})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("sweep: %d %s", r.StatusCode, r.Raw)
	}
	return r
}

func setDoc(t *testing.T, e *apptest.Env, path string, data map[string]any) {
	t.Helper()
	if _, err := e.FS.Doc(path).Set(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

func targets(pairs ...string) []any {
	out := []any{}
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, map[string]any{"machineId": pairs[i], "status": pairs[i+1]})
	}
	return out
}

func targetMap(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, x := range doc["targets"].([]any) {
		if m, ok := x.(map[string]any); ok {
			out[m["machineId"].(string)] = m
		}
	}
	return out
}

// TestTimeouts walks the injected clock past the 15- and 30-minute marks
// (§7.2) and checks exactly which targets fail, with which error, and the
// deployment roll-up.
func TestTimeouts(t *testing.T) {
	e := apptest.New(t, Register)
	created := e.Clock.Now()
	e.Site("s1", "")
	e.Site("s2", "")
	mixed := "sites/s1/deployments/deploy-1"
	setDoc(t, e, mixed, map[string]any{
		"name": "TD", "installer_name": "td.exe", "status": "in_progress", "createdAt": created,
		"progress": 5, "targets": append(targets(
			"P", "pending", "D", "downloading", "I", "installing", "U", "uninstalling",
			"C", "closing_processes", "X", "extracting", "OK", "completed"), "junk"),
	})
	// Cortex stores createdAt in epoch ms (§2.9); only pending targets.
	onlyPending := "sites/s2/deployments/deploy-2"
	setDoc(t, e, onlyPending, map[string]any{"name": "TD", "installer_name": "td.exe", "status": "pending",
		"createdAt": created.UnixMilli(), "targets": targets("A", "pending", "B", "pending")})
	// Terminal deployments are not swept, whatever their targets say.
	done := "sites/s1/deployments/deploy-3"
	setDoc(t, e, done, map[string]any{"status": "partial", "createdAt": created, "targets": targets("A", "pending")})
	noDate := "sites/s1/deployments/deploy-4"
	setDoc(t, e, noDate, map[string]any{"status": "in_progress", "targets": targets("A", "pending")})
	// A deployment under a site document that does not exist is still swept.
	orphan := "sites/ghost/deployments/deploy-5"
	setDoc(t, e, orphan, map[string]any{"status": "in_progress", "createdAt": created, "targets": targets("A", "installing")})

	snapshot := func() map[string]map[string]any {
		return map[string]map[string]any{mixed: e.Doc(mixed), onlyPending: e.Doc(onlyPending), done: e.Doc(done), noDate: e.Doc(noDate), orphan: e.Doc(orphan)}
	}
	before := snapshot()

	// 15 minutes exactly: not yet (the deadline must be passed).
	e.Clock.Advance(PendingTimeout)
	r := sweepNow(t, e)
	if v, _ := r.Get("deploymentsUpdated"); v != float64(0) {
		t.Fatalf("at 15 min: %s", r.Raw)
	}
	if v, _ := r.Get("deploymentsWithoutCreatedAt"); v != float64(1) {
		t.Errorf("deploymentsWithoutCreatedAt: %s", r.Raw)
	}
	if got := snapshot(); !equal(got, before) {
		t.Fatal("documents changed at 15 min")
	}

	// Just past 15 minutes: pending targets fail.
	e.Clock.Advance(time.Millisecond)
	t15 := e.Clock.Now()
	r = sweepNow(t, e)
	if v, _ := r.Get("targetsTimedOut"); v != float64(3) {
		t.Errorf("timed out: %s", r.Raw)
	}
	if v, _ := r.Get("sitesScanned"); v != float64(3) { // s1, s2, ghost
		t.Errorf("sites: %s", r.Raw)
	}
	ts := targetMap(t, e.Doc(mixed))
	if p := ts["P"]; p["status"] != "failed" || p["error"] != "Timed out: agent did not start after 15 minutes" || !p["completedAt"].(time.Time).Equal(t15) {
		t.Errorf("pending target = %v", p)
	}
	for _, m := range []string{"D", "I", "U", "C", "X"} {
		if s := ts[m]["status"]; s == "failed" {
			t.Errorf("target %s failed at 15 min", m)
		}
	}
	if d := e.Doc(mixed); d["status"] != "in_progress" || d["completedAt"] != nil || d["updatedAt"] == nil {
		t.Errorf("mixed deployment = %v", d)
	}
	d2 := e.Doc(onlyPending)
	if d2["status"] != "failed" || !d2["completedAt"].(time.Time).Equal(t15) {
		t.Errorf("only-pending deployment = %v", d2)
	}

	// Past 30 minutes: the active ones fail too; closing_processes and
	// extracting never time out.
	e.Clock.Advance(15 * time.Minute)
	t30 := e.Clock.Now()
	sweepNow(t, e)
	doc := e.Doc(mixed)
	ts = targetMap(t, doc)
	for m, status := range map[string]string{"D": "downloading", "I": "installing", "U": "uninstalling"} {
		want := "Timed out: agent stalled during " + status + " after 30 minutes"
		if ts[m]["status"] != "failed" || ts[m]["error"] != want || !ts[m]["completedAt"].(time.Time).Equal(t30) {
			t.Errorf("target %s = %v", m, ts[m])
		}
	}
	if ts["C"]["status"] != "closing_processes" || ts["X"]["status"] != "extracting" || ts["OK"]["status"] != "completed" {
		t.Errorf("untouchable targets changed: %v", ts)
	}
	if !ts["P"]["completedAt"].(time.Time).Equal(t15) {
		t.Error("an already failed target was stamped again")
	}
	if arr := doc["targets"].([]any); arr[len(arr)-1] != "junk" {
		t.Error("a non-map element was lost")
	}
	if doc["status"] != "in_progress" { // closing_processes and extracting are still running
		t.Errorf("status = %v", doc["status"])
	}
	if o := e.Doc(orphan); o["status"] != "failed" {
		t.Errorf("orphan = %v", o)
	}
	if !equal(map[string]map[string]any{"done": e.Doc(done), "noDate": e.Doc(noDate)}, map[string]map[string]any{"done": before[done], "noDate": before[noDate]}) {
		t.Error("terminal or undated deployment changed")
	}

	// A second run finds nothing more to do and writes nothing.
	e.RPCs.Reset()
	r = sweepNow(t, e)
	if v, _ := r.Get("deploymentsUpdated"); v != float64(0) || e.RPCs.Writes() != 0 {
		t.Errorf("second sweep: %s, %d writes", r.Raw, e.RPCs.Writes())
	}
}

func equal(a, b map[string]map[string]any) bool { return reflect.DeepEqual(a, b) }

// §7.2 "Conflicts": a long install failed by the sweeper is flipped to
// completed when the agent finally reports (terminal → terminal), and the
// deployment keeps the completedAt of its first terminal status.
func TestSweptTargetFlipsOnLateCompletion(t *testing.T) {
	e := apptest.New(t, Register)
	ctx := context.Background()
	e.Site("s1", "")
	path := "sites/s1/deployments/deploy-1"
	setDoc(t, e, path, map[string]any{"status": "in_progress", "createdAt": e.Clock.Now(), "targets": targets("M1", "installing")})
	e.Clock.Advance(31 * time.Minute)
	sweepNow(t, e)
	swept := e.Doc(path)
	if swept["status"] != "failed" {
		t.Fatalf("swept = %v", swept)
	}
	// Ten minutes later the 40-minute install finishes.
	e.Clock.Advance(10 * time.Minute)
	completed := "sites/s1/machines/M1/commands/completed"
	entry := map[string]any{"install_1": map[string]any{"status": "completed", "type": "install_software",
		"deployment_id": "deploy-1", "result": "ok", "completedAt": e.Clock.Now()}}
	if _, err := e.FS.Doc(completed).Set(ctx, entry); err != nil {
		t.Fatal(err)
	}
	ev := &trigger.Event{Path: completed, After: &trigger.Document{Fields: e.Doc(completed)}}
	if err := deploymentstatus.Handle(ctx, e.D, ev); err != nil {
		t.Fatal(err)
	}
	d := e.Doc(path)
	tg := targetMap(t, d)["M1"]
	if d["status"] != "completed" || tg["status"] != "completed" || !d["completedAt"].(time.Time).Equal(swept["completedAt"].(time.Time)) {
		t.Errorf("after the late completion: %v", d)
	}
}
