package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/testenv"
)

// TestRoundTripWithSimulatedAgent sends commands with wait:true to a
// simulated agent (scripts/agentsim/sim) that polls commands/pending over
// Firestore REST with its own agent token, under firestore.rules, runs the
// command, writes completed and removes the pending key. The server's
// listener answers with the agent's entry and removes it from completed.
func TestRoundTripWithSimulatedAgent(t *testing.T) {
	testenv.Require(t, "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST")
	s := newAgentStack(t)
	machine := "SIM-RT.1"       // a dot in the hostname, as some real ones have
	s.startAgent(t, machine, 4) // poll 0.5 s growing to 1.25 s
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cases := []struct {
		command string
		data    map[string]any
		status  string
		field   string // result or error
		text    string
	}{
		{"restart_process", map[string]any{"process_name": "TouchDesigner"}, "completed", "result", "Process TouchDesigner restarted with new PID"},
		{"mcp_tool_call", map[string]any{"tool_name": "get_system_info", "tool_params": map[string]any{}}, "completed", "result", `"hostname":"` + machine + `"`},
		{"kill_process", map[string]any{"process_name": "NoSuchApp"}, "failed", "error", "Error: Process NoSuchApp not found in configuration"},
		{"frobnicate", nil, "completed", "result", "Unknown command type: frobnicate"},
	}
	for _, c := range cases {
		t.Run(c.command, func(t *testing.T) {
			start := time.Now()
			status, out, err := s.send(ctx, map[string]any{"siteId": s.site, "machineId": machine, "command": c.command, "data": c.data, "wait": true, "timeout": 30})
			if err != nil || status != 200 {
				t.Fatalf("send: %d %v %v", status, out, err)
			}
			res, _ := out["result"].(map[string]any)
			if out["success"] != true || res["status"] != c.status || res["type"] != c.command || !strings.Contains(fmt.Sprint(res[c.field]), c.text) {
				t.Fatalf("answer %v", out)
			}
			at, ok := res["completedAt"].(map[string]any)
			if !ok || at["_seconds"] == nil || at["_nanoseconds"] == nil {
				t.Errorf("completedAt = %#v, want {_seconds,_nanoseconds}", res["completedAt"])
			}
			id := out["commandId"].(string)
			if _, ok := s.completed(machine)[id]; ok {
				t.Error("the consumed result is still in completed")
			}
			// The agent removes the pending key after writing completed,
			// so the answer may come first.
			deadline := time.Now().Add(10 * time.Second)
			for _, ok := s.pending(machine)[id]; ok; _, ok = s.pending(machine)[id] {
				if time.Now().After(deadline) {
					t.Fatal("the agent left the command in pending")
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("%s answered in %v", c.command, time.Since(start).Round(time.Millisecond))
		})
	}
	t.Run("X05 tool", func(t *testing.T) {
		// wait defaults to true; the tool is relayed as an mcp_tool_call.
		status, out, err := s.post(ctx, "/api/admin/tools/execute", map[string]any{"siteId": s.site, "machineId": machine, "tool": "get_agent_health"})
		res, _ := out["result"].(map[string]any)
		if err != nil || status != 200 || out["tool"] != "get_agent_health" || out["tier"] != 1.0 ||
			res["status"] != "completed" || res["type"] != "mcp_tool_call" || res["result"] != `{"connected":true,"status":"ok"}` {
			t.Fatalf("execute: %d %v %v", status, out, err)
		}
	})
}

// BenchmarkCommandRoundTrip measures send with wait:true → the simulated
// agent, at the real agent's timing (poll 2 s growing ×1.3 to 5 s while
// nothing changes), runs the command → the response; sends come at a random
// 0–3 s after the previous answer. Reported per command:
//   - p50-ms / p99-ms / max-ms: the whole round trip as the caller sees it;
//   - agent-p50-ms: send → the agent's completedAt (what the agent's poll
//     interval costs, the floor for any server);
//   - notify-p50-ms / notify-p99-ms: completedAt → response (what the
//     listener costs);
//   - mean-ms, and poll1500-mean-ms / poll1500-p99-ms: what the original's
//     1.5 s polling loop (first read after 1.5 s) would have answered for
//     the same completion times, read latency not even counted.
//
// Run: go test ./functions/commands -run '^$' -bench CommandRoundTrip -benchtime 60x
func BenchmarkCommandRoundTrip(b *testing.B) {
	s := newAgentStack(b)
	machine := "SIM-BENCH"
	s.startAgent(b, machine, 1)
	ctx := context.Background()
	// Rotate command types so the agent's 5 s same-type gap never applies.
	kinds := []struct {
		command string
		data    map[string]any
	}{
		{"restart_process", map[string]any{"process_name": "TouchDesigner"}},
		{"mcp_tool_call", map[string]any{"tool_name": "get_agent_health", "tool_params": map[string]any{}}},
		{"set_launch_mode", map[string]any{"process_name": "Signage", "mode": "off"}},
		{"refresh_software_inventory", nil},
		{"kill_process", map[string]any{"process_name": "Signage"}},
	}
	var total, agent, notify, poll []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := kinds[i%len(kinds)]
		// Back-to-back sends would land just after the agent's poll every
		// time (it polls again 2 s after a change): a random pause puts
		// each send at a random phase of its poll, as real callers do.
		b.StopTimer()
		time.Sleep(rand.N(3 * time.Second))
		b.StartTimer()
		start := time.Now()
		status, out, err := s.send(ctx, map[string]any{"siteId": s.site, "machineId": machine, "command": k.command, "data": k.data, "wait": true, "timeout": 60})
		end := time.Now()
		res, _ := out["result"].(map[string]any)
		if err != nil || status != 200 || res == nil {
			b.Fatalf("send %s: %d %v %v", k.command, status, out, err)
		}
		at, _ := res["completedAt"].(map[string]any)
		sec, _ := at["_seconds"].(float64)
		ns, _ := at["_nanoseconds"].(float64)
		done := time.Unix(int64(sec), int64(ns))
		total = append(total, end.Sub(start))
		agent = append(agent, done.Sub(start))
		notify = append(notify, end.Sub(done))
		ticks := math.Max(1, math.Ceil(done.Sub(start).Seconds()/1.5))
		poll = append(poll, time.Duration(ticks*1.5*float64(time.Second)))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(pct(total, 50)), "p50-ms")
	b.ReportMetric(ms(pct(total, 99)), "p99-ms")
	b.ReportMetric(ms(pct(total, 100)), "max-ms")
	b.ReportMetric(ms(pct(agent, 50)), "agent-p50-ms")
	b.ReportMetric(ms(pct(notify, 50)), "notify-p50-ms")
	b.ReportMetric(ms(pct(notify, 99)), "notify-p99-ms")
	b.ReportMetric(ms(mean(total)), "mean-ms")
	b.ReportMetric(ms(mean(poll)), "poll1500-mean-ms")
	b.ReportMetric(ms(pct(poll, 99)), "poll1500-p99-ms")
	if b.N > 1 {
		j, _ := json.Marshal(map[string]any{"n": b.N, "total": total, "agent": agent, "notify": notify})
		b.Logf("samples (ns): %s", j)
	}
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(float64(p)/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
