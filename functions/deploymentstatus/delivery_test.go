package deploymentstatus

import (
	"context"
	"sort"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/trigger/triggertest"
)

// TestRealDelivery goes through the Firestore emulator for real: the
// trigger is registered on the emulator for this test's isolated project,
// the agent-shaped writes below are plain Firestore writes, and the
// deployment document changes only because the emulator delivered the
// change events (through the relay and the bridge) to Handle. It also
// reports the delivery latency: write committed → trigger handled.
func TestRealDelivery(t *testing.T) {
	f := newFixture(t, "M1", "M2")
	srv := triggertest.Serve(t, f.e.D, Spec)
	ref := func(m string) *firestore.DocumentRef { return f.e.FS.Doc(f.completedPath(m)) }
	wait := func(what string, cond func(d map[string]any) bool) {
		t.Helper()
		srv.Wait(t, 20*time.Second, what, func() bool { return cond(f.deployment()) })
	}
	status := func(d map[string]any, m string) any {
		for _, x := range d["targets"].([]any) {
			if tm, _ := x.(map[string]any); tm["machineId"] == m {
				return tm["status"]
			}
		}
		return nil
	}

	var lat []time.Duration
	write := func(m, cmd string, entry map[string]any) time.Time {
		t.Helper()
		n := len(srv.Deliveries())
		at := time.Now()
		if _, err := ref(m).Set(context.Background(), map[string]any{cmd: entry}, firestore.MergeAll); err != nil {
			t.Fatal(err)
		}
		srv.Wait(t, 20*time.Second, "the delivery of "+cmd, func() bool { return len(srv.Deliveries()) > n })
		d := srv.Deliveries()[n]
		if d.Err != nil || d.Document != f.completedPath(m) || d.Trigger != Name {
			t.Fatalf("delivery %+v", d)
		}
		lat = append(lat, d.At.Sub(at))
		return at
	}

	write("M1", install, map[string]any{"status": "downloading", "deployment_id": dep, "progress": 40, "updatedAt": firestore.ServerTimestamp})
	wait("M1 downloading", func(d map[string]any) bool { return status(d, "M1") == "downloading" })
	write("M1", install, map[string]any{"status": "completed", "type": "install_software", "deployment_id": dep, "result": "ok", "completedAt": firestore.ServerTimestamp})
	write("M2", "install_2", map[string]any{"status": "failed", "type": "install_software", "deployment_id": dep, "error": "Error: x", "completedAt": firestore.ServerTimestamp})
	wait("the deployment to become partial", func(d map[string]any) bool { return d["status"] == "partial" })
	d := f.deployment()
	if status(d, "M1") != "completed" || status(d, "M2") != "failed" || d["completedAt"] == nil {
		t.Errorf("deployment = %v", d)
	}
	// A write that names no deployment is delivered too, and changes nothing.
	write("M1", "restart_1", map[string]any{"status": "completed", "type": "restart_process", "result": "ok"})
	if after := f.deployment(); !equalDocs(d, after) {
		t.Errorf("unrelated command changed the deployment")
	}

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("write → trigger handled, %d deliveries: min %s, median %s, max %s",
		len(lat), lat[0].Round(time.Millisecond), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}
