package sim

import (
	"context"
	"testing"
	"time"

	"github.com/owlette/server/shared/testenv"
)

// ownerFS is a REST client with the emulator's admin token (rules bypassed).
func ownerFS(t *testing.T) *Firestore {
	t.Helper()
	testenv.Require(t, "FIRESTORE_EMULATOR_HOST")
	return &Firestore{
		Base: DefaultFirestoreURL(), Project: testenv.IsolatedProject(), HTTP: defaultHTTP,
		Token: func(context.Context) (string, error) { return "owner", nil },
	}
}

// TestFirestoreWriteShapes pins the REST write shapes the agent relies on:
// a masked merge with server-timestamp transforms (nested leaves and the
// literal top-level "metrics.timestamp"), a whole-map replace under a mask,
// a masked field delete with a quoted id, and a replace without a mask.
func TestFirestoreWriteShapes(t *testing.T) {
	ctx := context.Background()
	fs := ownerFS(t)
	path := "sites/s1/machines/M-1"
	if err := fs.Commit(ctx, "t", fs.MergeWrite(path, []Update{
		{FieldPath{"keep"}, "me"},
		{FieldPath{"metrics", "processes"}, map[string]any{"old": map[string]any{"status": "RUNNING"}}},
		{FieldPath{"metrics", "cpu"}, map[string]any{"percent": 1.5}},
	})); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	if err := fs.Commit(ctx, "t", fs.MergeWrite(path, []Update{
		{FieldPath{"online"}, true},
		{FieldPath{"lastHeartbeat"}, ServerTimestamp},
		{FieldPath{"metrics", "cpu"}, map[string]any{"percent": 12.5, "unit": "%"}},
		{FieldPath{"metrics.timestamp"}, ServerTimestamp},
		{FieldPath{"metrics", "processes"}, map[string]any{"p1": map[string]any{"status": "KILLED", "pid": nil}}},
	})); err != nil {
		t.Fatal(err)
	}
	doc, err := fs.Get(ctx, "t", path)
	if err != nil || doc == nil {
		t.Fatalf("get: %v %v", doc, err)
	}
	f := doc.Fields
	if f["keep"] != "me" || f["online"] != true {
		t.Errorf("merge lost fields: %v", f)
	}
	if ts, ok := f["lastHeartbeat"].(time.Time); !ok || ts.Before(before) {
		t.Errorf("lastHeartbeat = %#v", f["lastHeartbeat"])
	}
	if _, ok := f["metrics.timestamp"].(time.Time); !ok {
		t.Errorf("no top-level field named metrics.timestamp: %v", f)
	}
	metrics := f["metrics"].(map[string]any)
	if _, nested := metrics["timestamp"]; nested {
		t.Errorf("metrics.timestamp written nested: %v", metrics)
	}
	procs := metrics["processes"].(map[string]any)
	if _, ok := procs["old"]; ok || len(procs) != 1 {
		t.Errorf("metrics.processes not replaced whole: %v", procs)
	}
	if cpu := metrics["cpu"].(map[string]any); cpu["percent"] != 12.5 || cpu["unit"] != "%" {
		t.Errorf("cpu = %v", cpu)
	}

	// Masked delete of a key needing quotes; the other key stays.
	pending := "sites/s1/machines/M-1/commands/pending"
	if err := fs.Replace(ctx, "t", pending, map[string]any{
		"3f2a-uuid-like": map[string]any{"type": "x"}, "plain_id": map[string]any{"type": "y"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := fs.DeleteFields(ctx, "t", pending, []string{FieldPath{"3f2a-uuid-like"}.String()}); err != nil {
		t.Fatal(err)
	}
	doc, _ = fs.Get(ctx, "t", pending)
	if _, ok := doc.Fields["3f2a-uuid-like"]; ok || doc.Fields["plain_id"] == nil {
		t.Errorf("pending after delete = %v", doc.Fields)
	}

	// A replace without a mask drops everything else.
	if err := fs.Replace(ctx, "t", path, map[string]any{"rebooting": false}); err != nil {
		t.Fatal(err)
	}
	doc, _ = fs.Get(ctx, "t", path)
	if len(doc.Fields) != 1 || doc.Fields["rebooting"] != false {
		t.Errorf("replace = %v", doc.Fields)
	}

	// batchWrite with a transform, then list.
	if err := fs.BatchWrite(ctx, "t",
		fs.ReplaceWrite(path+"/installed_software/App_1.0", map[string]any{"name": "App", "detected_at": ServerTimestamp}),
		fs.ReplaceWrite(path+"/installed_software/Other App_2.0", map[string]any{"name": "Other App"}),
	); err != nil {
		t.Fatal(err)
	}
	docs, err := fs.List(ctx, "t", path+"/installed_software")
	if err != nil || len(docs) != 2 {
		t.Fatalf("list = %d docs, %v", len(docs), err)
	}
	if missing, _ := fs.Get(ctx, "t", "sites/s1/machines/none"); missing != nil {
		t.Errorf("missing doc = %v", missing)
	}
}

func TestFieldPathQuoting(t *testing.T) {
	for _, c := range []struct {
		p    FieldPath
		want string
	}{
		{FieldPath{"online"}, "online"},
		{FieldPath{"metrics", "cpu"}, "metrics.cpu"},
		{FieldPath{"metrics.timestamp"}, "`metrics.timestamp`"},
		{FieldPath{"0ab-c", "status"}, "`0ab-c`.status"},
		{FieldPath{"a`b\\c"}, "`a\\`b\\\\c`"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%q: got %s want %s", []string(c.p), got, c.want)
		}
	}
}
