package machinemetrics

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// TestInstances measures the trigger over an hour of heartbeats of 10
// machines (after 10 minutes of warm-up, so cold caches do not count),
// events spread at random over 1, 2 or 4 function instances (as Eventarc
// spreads them when the function scales out), for the agent's cadences:
// 30 s (a process running), 30 s with extra uploads after commands (one
// heartbeat in five followed by another 2–20 s later), and 120 s (idle).
// It checks that samples stay ≥ 55 s apart whatever the spread, and
// reports bucket reads, rules reads and writes per upload
// (docs/cost-model.md).
func TestInstances(t *testing.T) {
	type scenario struct {
		name     string
		interval time.Duration
		extra    float64 // chance of an extra upload after a heartbeat
	}
	scenarios := []scenario{{"30 s", 30 * time.Second, 0}, {"30 s + extra uploads", 30 * time.Second, 0.2}, {"120 s idle", 120 * time.Second, 0}}
	const machines, warmup, measured = 10, 10 * time.Minute, time.Hour
	for _, sc := range scenarios {
		for _, n := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%s/%d instances", sc.name, n), func(t *testing.T) {
				t.Parallel()
				v := newEnv(t)
				if v.e.Clock.Now().UTC().Hour() == 23 {
					v.e.Clock.Advance(2 * time.Hour)
				}
				rng := rand.New(rand.NewPCG(uint64(n), 7))
				handlers := make([]*Handler, n)
				for i := range handlers {
					handlers[i] = NewHandler()
				}
				// Every upload of every machine over the hour, in time order.
				type up struct {
					machine string
					at      time.Time
				}
				var ups []up
				t0 := v.e.Clock.Now().Truncate(time.Second)
				for m := range machines {
					id := fmt.Sprintf("m%02d", m)
					at := t0.Add(time.Duration(rng.IntN(int(sc.interval/time.Second))) * time.Second)
					for at.Before(t0.Add(warmup + measured)) {
						ups = append(ups, up{id, at})
						if rng.Float64() < sc.extra {
							ups = append(ups, up{id, at.Add(time.Duration(2+rng.IntN(19)) * time.Second)})
						}
						at = at.Add(sc.interval)
					}
				}
				sort.Slice(ups, func(i, j int) bool { return ups[i].at.Before(ups[j].at) })
				last := map[string]map[string]any{}
				v.meter.Reset()
				counted, warm := 0, false
				for _, u := range ups {
					if !warm && !u.at.Before(t0.Add(warmup)) {
						v.meter.Reset()
						warm = true
					}
					if warm {
						counted++
					}
					if d := u.at.Sub(v.e.Clock.Now()); d > 0 {
						v.e.Clock.Advance(d)
					}
					doc := upload("site-a", u.machine, u.at, metrics(20, 30))
					ev := event("site-a", u.machine, last[u.machine], doc)
					last[u.machine] = doc
					if err := handlers[rng.IntN(n)].Handle(v.ctx, v.d, ev); err != nil {
						t.Fatal(err)
					}
				}
				ops, rpcs := v.meter.Ops(), v.meter.RPCs()
				total := 0
				for m := range machines {
					s := v.samples("site-a", fmt.Sprintf("m%02d", m))
					total += len(s)
					for i := 1; i < len(s); i++ {
						if gap := s[i]["t"].(int64) - s[i-1]["t"].(int64); gap < 55 {
							t.Errorf("m%02d: samples %d s apart", m, gap)
						}
					}
				}
				// Bucket reads are the projected queries; the rest are rules.
				per := func(x int) float64 { return float64(x) / float64(counted) }
				t.Logf("%-22s %d instance(s): %4d uploads measured, %.1f samples per machine-hour; per upload: bucket reads %.3f, rules reads %.3f, writes %.3f",
					sc.name, n, counted, float64(total)*float64(time.Hour)/float64(warmup+measured)/machines,
					per(rpcs["RunQuery"]), per(ops.Reads-rpcs["RunQuery"]), per(ops.Writes))
				// A 30 s cadence gives a sample a minute, whatever the spread.
				if sc.interval == 30*time.Second && total < machines*65 {
					t.Errorf("only %d samples in 70 minutes", total)
				}
			})
		}
	}
}
