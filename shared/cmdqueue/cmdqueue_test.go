package cmdqueue_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/cmdqueue"
)

func TestWaitFor(t *testing.T) {
	for _, c := range []struct {
		in   any
		want time.Duration
	}{
		{nil, 30 * time.Second}, {float64(0), 30 * time.Second}, {"", 30 * time.Second}, {false, 30 * time.Second},
		{float64(10), 10 * time.Second}, {float64(0.25), 250 * time.Millisecond}, {float64(500), cmdqueue.MaxWait},
		{"45", 45 * time.Second}, {" 45 ", 45 * time.Second}, {"0x10", 16 * time.Second}, {"Infinity", cmdqueue.MaxWait},
		{true, time.Second}, {[]any{float64(7)}, 7 * time.Second}, {[]any{"8"}, 8 * time.Second},
		// Immediate timeouts: negative, NaN, or a truthy zero.
		{float64(-5), 0}, {"-1", 0}, {"abc", 0}, {"12px", 0}, {"inf", 0}, {"1_0", 0}, {" ", 0}, {"0", 0},
		{[]any{}, 0}, {[]any{float64(1), float64(2)}, 0}, {map[string]any{}, 0}, {[]any{true}, 0},
	} {
		if got := cmdqueue.WaitFor(c.in); got != c.want {
			t.Errorf("WaitFor(%#v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(cmdqueue.Number("1e")) || cmdqueue.Number("1e3") != 1000 || cmdqueue.Number(".5") != 0.5 || cmdqueue.Number("1e999") != math.Inf(1) {
		t.Error("Number parses like JavaScript")
	}
}

func TestFinal(t *testing.T) {
	for _, c := range []struct {
		entry any
		want  bool
	}{
		{map[string]any{"status": "completed", "result": "ok"}, true},
		{map[string]any{"status": "failed", "error": "Error: x"}, true},
		{map[string]any{"status": "cancelled"}, true},
		{map[string]any{"status": "something new"}, true},
		{map[string]any{"result": "no status"}, true},
		{"not a map", true},
		{map[string]any{"status": "downloading", "progress": int64(40)}, false},
		{map[string]any{"status": "installing"}, false},
		{map[string]any{"status": "closing_processes"}, false},
		{map[string]any{"status": "uninstalling"}, false},
		{map[string]any{"status": "extracting"}, false},
	} {
		if got := cmdqueue.Final(c.entry); got != c.want {
			t.Errorf("Final(%v) = %t", c.entry, got)
		}
	}
}

const site, machine = "s1", "pc.local" // a machine id with a dot

func TestEnqueueAndWait(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	completed := cmdqueue.Completed(e.FS, site, machine)
	id := "update_owlette_1_" + machine // contains a dot: one literal field
	if err := cmdqueue.Enqueue(ctx, e.FS, site, machine, id, map[string]any{"type": "x", "timestamp": firestore.ServerTimestamp}); err != nil {
		t.Fatal(err)
	}
	pending := e.Doc("sites/" + site + "/machines/" + machine + "/commands/pending")
	if cmd, _ := pending[id].(map[string]any); cmd["type"] != "x" || len(pending) != 1 {
		t.Fatalf("pending = %v", pending)
	}
	// A second enqueue merges: the first command stays.
	if err := cmdqueue.Enqueue(ctx, e.FS, site, machine, "other", map[string]any{"type": "y"}); err != nil {
		t.Fatal(err)
	}
	if p := e.Doc("sites/" + site + "/machines/" + machine + "/commands/pending"); len(p) != 2 {
		t.Fatalf("pending after a second enqueue = %v", p)
	}

	// Another command's result and a deployment's entry share the document.
	if _, err := completed.Set(ctx, map[string]any{"unrelated": map[string]any{"status": "completed"}}); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		entry any
		err   error
		at    time.Time
	}
	done := make(chan outcome, 1)
	go func() {
		entry, err := cmdqueue.Wait(ctx, e.FS, site, machine, id, 20*time.Second)
		done <- outcome{entry, err, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond)
	// A progress write is not the result: the wait goes on, nothing removed.
	if _, err := completed.Set(ctx, map[string]any{id: map[string]any{"status": "downloading", "progress": int64(10)}}, firestore.Merge(firestore.FieldPath{id})); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-done:
		t.Fatalf("wait ended on a progress entry: %v %v", o.entry, o.err)
	case <-time.After(500 * time.Millisecond):
	}
	wrote := time.Now()
	final := map[string]any{"status": "completed", "result": "Self-update initiated", "type": "update_owlette", "completedAt": firestore.ServerTimestamp}
	if _, err := completed.Update(ctx, []firestore.Update{{FieldPath: firestore.FieldPath{id}, Value: final}}); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	entry, _ := o.entry.(map[string]any)
	if entry["status"] != "completed" || entry["result"] != "Self-update initiated" {
		t.Errorf("entry = %v", o.entry)
	}
	if _, ok := entry["completedAt"].(time.Time); !ok {
		t.Errorf("completedAt = %#v", entry["completedAt"])
	}
	// The listener hears the write at once: far below the 1.5 s poll.
	if lag := o.at.Sub(wrote); lag > 500*time.Millisecond {
		t.Errorf("result arrived %v after it was written", lag)
	}
	doc := e.Doc("sites/" + site + "/machines/" + machine + "/commands/completed")
	if _, ok := doc[id]; ok || doc["unrelated"] == nil || len(doc) != 1 {
		t.Errorf("completed after the wait = %v (only the consumed field must go)", doc)
	}
}

func TestWaitResultAlreadyThere(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	if _, err := cmdqueue.Completed(e.FS, site, machine).Set(ctx, map[string]any{"c1": map[string]any{"status": "failed", "error": "Error: nope"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	entry, err := cmdqueue.Wait(ctx, e.FS, site, machine, "c1", 10*time.Second)
	if err != nil || entry.(map[string]any)["error"] != "Error: nope" || time.Since(start) > 2*time.Second {
		t.Fatalf("entry %v, err %v after %v", entry, err, time.Since(start))
	}
	if d := e.Doc("sites/" + site + "/machines/" + machine + "/commands/completed"); len(d) != 0 {
		t.Errorf("completed = %v", d)
	}
}

func TestWaitTimeoutAndCancel(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	e.RPCs.Reset()
	if _, err := cmdqueue.Wait(ctx, e.FS, site, machine, "c1", 0); !errors.Is(err, cmdqueue.ErrTimeout) {
		t.Fatalf("zero wait: %v", err)
	}
	if n := len(e.RPCs.Snapshot()); n != 0 {
		t.Errorf("an immediate timeout made RPCs: %v", e.RPCs.Snapshot())
	}
	start := time.Now()
	_, err := cmdqueue.Wait(ctx, e.FS, site, machine, "c1", 400*time.Millisecond)
	if el := time.Since(start); !errors.Is(err, cmdqueue.ErrTimeout) || el < 400*time.Millisecond || el > 3*time.Second {
		t.Fatalf("timeout: %v after %v", err, el)
	}
	// The caller going away ends the wait with its context's error.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, err = cmdqueue.Wait(cctx, e.FS, site, machine, "c1", time.Minute)
	if el := time.Since(start); !errors.Is(err, context.Canceled) || el > 3*time.Second {
		t.Fatalf("cancel: %v after %v", err, el)
	}
}
