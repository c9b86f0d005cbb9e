package processes

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyedLock(t *testing.T) {
	k := newKeyedLock()
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := k.lock(context.Background(), "s/m")
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders at once", most.Load())
	}
	// Other keys do not wait; a cancelled wait gives up; nothing leaks.
	unlock, _ := k.lock(context.Background(), "s/m")
	other, err := k.lock(context.Background(), "s/other")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(ctx, "s/m"); err == nil {
		t.Error("lock held twice")
	}
	unlock()
	other()
	if len(k.m) != 0 {
		t.Errorf("%d lock entries left", len(k.m))
	}
}

func TestCleanSchedules(t *testing.T) {
	in := []any{
		map[string]any{"days": []any{"mon"}, "startTime": "09:00", "endTime": "17:00", "extra": 1},
		map[string]any{"days": []any{"tue"}, "ranges": []any{map[string]any{"start": "1", "stop": "2"}}, "startTime": "x", "name": "n", "colorIndex": int64(4)},
		map[string]any{"days": nil},
		"not a block",
	}
	got := CleanSchedules(in).([]any)
	if len(got) != 4 || got[3] != "not a block" {
		t.Fatalf("%v", got)
	}
	b0, b1, b2 := got[0].(map[string]any), got[1].(map[string]any), got[2].(map[string]any)
	if len(b0) != 2 || b0["ranges"].([]any)[0].(map[string]any)["stop"] != "17:00" {
		t.Errorf("reference form: %v", b0)
	}
	if len(b1) != 4 || b1["ranges"].([]any)[0].(map[string]any)["start"] != "1" || b1["name"] != "n" {
		t.Errorf("ranges form wins: %v", b1)
	}
	if v, ok := b2["days"]; len(b2) != 1 || !ok || v != nil {
		t.Errorf("null days kept: %v", b2)
	}
	if CleanSchedules(nil) != nil || CleanSchedules("x") != "x" {
		t.Error("non-arrays are kept")
	}
	// The input is not modified.
	if _, ok := in[0].(map[string]any)["extra"]; !ok {
		t.Error("input modified")
	}
}
