package processes_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/owlette/server/functions/processes"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
)

// TestConcurrentEdits fires adds, updates (several on one process, each a
// different field), deletes and launch-mode changes at one machine at once
// and checks that none is lost. "two instances" spreads them over two
// handler sets (each with its own per-machine lock, as two Cloud Run
// instances would be), so they collide in Firestore and only the
// transactions keep them apart.
func TestConcurrentEdits(t *testing.T) {
	f := newFixture(t)
	cred := apptest.WithAPIKey(f.member.APIKey())
	instance := func() *apptest.Env {
		e := *f.Env
		e.H = app.Build(f.D, processes.Register)
		return &e
	}
	four := []*apptest.Env{f.Env, instance(), instance(), instance()}

	for _, tc := range []struct {
		name      string
		instances []*apptest.Env
	}{
		{"one instance", []*apptest.Env{f.Env}},
		{"two instances", []*apptest.Env{f.Env, instance()}},
		{"four instances", four},
	} {
		t.Run(tc.name, func(t *testing.T) {
			machine := "busy-" + fmt.Sprint(len(tc.instances))
			ids := f.seedMachine(t, f.site, machine, 10)
			before := f.Doc(configPath(f.site, machine))
			type op struct {
				method, path string
				body         any
			}
			var ops []op
			for i := range 10 {
				ops = append(ops, op{"POST", base, map[string]any{"siteId": f.site, "machineId": machine, "name": fmt.Sprintf("new-%d", i), "exe_path": fmt.Sprintf(`C:\new%d.exe`, i)}})
			}
			for i := range 4 {
				ops = append(ops, op{"PATCH", base + "/" + ids[i], map[string]any{"siteId": f.site, "machineId": machine, "priority": fmt.Sprintf("U%d", i)}})
			}
			for _, kv := range [][2]string{{"cwd", `D:\`}, {"file_path", `D:\x.toe`}, {"visibility", "Hide"}} {
				ops = append(ops, op{"PATCH", base + "/" + ids[4], map[string]any{"siteId": f.site, "machineId": machine, kv[0]: kv[1]}})
			}
			for i := 5; i < 8; i++ {
				ops = append(ops, op{"DELETE", base + "/" + ids[i] + "?siteId=" + f.site + "&machineId=" + machine, nil})
			}
			sched := []any{map[string]any{"days": []any{"mon"}, "ranges": []any{map[string]any{"start": "09:00", "stop": "10:00"}}}}
			ops = append(ops,
				op{"PATCH", base + "/" + ids[8] + "/launch-mode", map[string]any{"siteId": f.site, "machineId": machine, "mode": "scheduled", "schedules": sched}},
				op{"PATCH", base + "/" + ids[9] + "/launch-mode", map[string]any{"siteId": f.site, "machineId": machine, "mode": "off"}},
			)

			f.RPCs.Reset()
			start := make(chan struct{})
			res := make([]*apptest.Response, len(ops))
			var wg sync.WaitGroup
			began := time.Now()
			for i, o := range ops {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res[i] = tc.instances[i%len(tc.instances)].Do(o.method, o.path, cred, o.body, nil)
				}()
			}
			close(start)
			wg.Wait()
			elapsed := time.Since(began)
			created := map[string]string{}
			for i, r := range res {
				if r.StatusCode != 200 {
					t.Fatalf("%s %s: %d %s", ops[i].method, ops[i].path, r.StatusCode, r.Raw)
				}
				if id, ok := r.JSON["processId"].(string); ok {
					created[id] = ops[i].body.(map[string]any)["name"].(string)
				}
			}
			rpcs := f.RPCs.Snapshot()
			t.Logf("%d changes in %v; %d transactions begun, %d commits", len(ops), elapsed, rpcs["BeginTransaction"], rpcs["Commit"])

			ps := f.processes(t, f.site, machine)
			if len(ps) != 10+10-3 {
				t.Errorf("%d processes, want 17", len(ps))
			}
			seen := map[string]int{}
			for _, p := range ps {
				seen[p.(map[string]any)["id"].(string)]++
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("process %s appears %d times", id, n)
				}
			}
			if len(created) != 10 {
				t.Fatalf("%d distinct ids created", len(created))
			}
			for id, name := range created {
				if p := byID(ps, id); p == nil || p["name"] != name {
					t.Errorf("add of %s lost", name)
				}
			}
			for i := range 4 {
				if p := byID(ps, ids[i]); p["priority"] != fmt.Sprintf("U%d", i) || p["time_to_init"] != int64(10) {
					t.Errorf("update of %s lost: %v", ids[i], p)
				}
			}
			if p := byID(ps, ids[4]); p["cwd"] != `D:\` || p["file_path"] != `D:\x.toe` || p["visibility"] != "Hide" || p["priority"] != "High" {
				t.Errorf("concurrent updates of one process lost one another: %v", p)
			}
			for i := 5; i < 8; i++ {
				if byID(ps, ids[i]) != nil {
					t.Errorf("delete of %s lost", ids[i])
				}
			}
			if p := byID(ps, ids[8]); p["launch_mode"] != "scheduled" || !reflect.DeepEqual(p["schedules"], sched) {
				t.Errorf("launch mode of %s lost: %v", ids[8], p)
			}
			if p := byID(ps, ids[9]); p["launch_mode"] != "off" || p["autolaunch"] != false {
				t.Errorf("launch mode of %s lost: %v", ids[9], p)
			}
			m := f.Doc(machinePath(f.site, machine))
			if get(m, "metrics", "processes", ids[8], "launch_mode") != "scheduled" || get(m, "metrics", "processes", ids[9], "autolaunch") != false || m["configChangeFlag"] != true {
				t.Errorf("machine mirror: %v", get(m, "metrics", "processes"))
			}
			after := f.Doc(configPath(f.site, machine))
			for _, k := range []string{"version", "logging", "cortex", "environment"} {
				if !reflect.DeepEqual(after[k], before[k]) {
					t.Errorf("config field %s changed", k)
				}
			}
		})
	}
}
