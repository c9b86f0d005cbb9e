package fleetwatch_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/fleetwatch/fleetwatchtest"
)

// TestHealthCheckCost measures a run's Firestore operations on fleets of
// 1,000 and 10,000 machines (20 sites), healthy, with 10 machines newly
// stale in 2 sites, and with the same 10 still stale within their cooldown:
// the figures docs/cost-model.md uses. A run's cost depends on the stale
// machines only, never on the fleet's size.
func TestHealthCheckCost(t *testing.T) {
	type row struct {
		fleet        int
		phase        string
		ops          fleetwatchtest.Ops
		rpcs         map[string]int
		alerted, hit int
	}
	var rows []row
	for _, fleet := range []int{1000, 10000} {
		t.Run(fmt.Sprint(fleet), func(t *testing.T) {
			f := newFixture(t)
			d, meter := fleetwatchtest.Deps(t, f.e)
			seed(t, f, fleet)
			measure := func(phase string) fleetwatch.Result {
				t.Helper()
				meter.Reset()
				res, err := fleetwatch.Check(context.Background(), d, "https://owlette.app")
				if err != nil {
					t.Fatalf("%s: %v", phase, err)
				}
				rows = append(rows, row{fleet, phase, meter.Ops(), meter.RPCs(), res.OfflineMachines, res.MachinesChecked})
				return res
			}

			if res := measure("healthy"); res.MachinesChecked != 0 {
				t.Fatalf("healthy fleet: %+v", res)
			}
			if o := meter.Ops(); o.Reads != 1 || o.RPCReads != 1 || o.Writes != 0 {
				t.Errorf("healthy fleet: %+v, want 1 read (an empty query bills one), no write", o)
			}

			// 10 machines stop: 5 in site-a, 5 in site-b.
			b := f.e.FS.Batch()
			for i := range 10 {
				site := "site-a"
				if i >= 5 {
					site = "site-b"
				}
				b.Update(f.e.FS.Doc(fmt.Sprintf("sites/%s/machines/m%05d", site, i)), []firestore.Update{{Path: "lastHeartbeat", Value: f.e.Clock.Now().Add(-10 * time.Minute)}})
			}
			if _, err := b.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			res := measure("10 newly stale")
			if res.OfflineMachines != 10 || res.MachinesChecked != 10 {
				t.Fatalf("10 stale: %+v", res)
			}
			// Query 10; per site: 5 machines + 5 machine_health in the
			// transaction, the site, its assigned users (site-a: 2, site-b:
			// none, billed 1), the webhook count, site-a's owner.
			o := meter.Ops()
			if want := 10 + (10 + 1 + 2 + 1 + 1) + (10 + 1 + 1 + 1); o.Reads != want {
				t.Errorf("10 stale: %d reads, want %d", o.Reads, want)
			}
			// Per machine: machine_health, marker, webhook job; site-a's e-mail.
			if want := 10*3 + 1; o.Writes != want {
				t.Errorf("10 stale: %d writes, want %d", o.Writes, want)
			}

			// The next run (the rest of the fleet keeps heartbeating, so
			// the clock stays put).
			measure("same 10, in cooldown")
			if o := meter.Ops(); o.Reads != 10 || o.RPCReads != 1 || o.Writes != 0 {
				t.Errorf("in cooldown: %+v, want the query's 10 reads only", o)
			}
		})
	}
	for _, r := range rows {
		t.Logf("fleet %6d  %-22s  stale %2d alerted %2d  reads %3d (RPCs %d)  writes %3d (RPCs %d)  %v",
			r.fleet, r.phase, r.hit, r.alerted, r.ops.Reads, r.ops.RPCReads, r.ops.Writes, r.ops.RPCWrites, r.rpcs)
	}
}

// seed writes n healthy machines over 20 sites (the fixture's site-a and
// site-b among them), as heartbeats leave them.
func seed(t *testing.T, f *fixture, n int) {
	t.Helper()
	ctx := context.Background()
	now := f.e.Clock.Now()
	const chunk = 500
	var wg sync.WaitGroup
	errs := make(chan error, n/chunk+1)
	sem := make(chan struct{}, 8)
	for start := 0; start < n; start += chunk {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			b := f.e.FS.Batch()
			for i := start; i < min(start+chunk, n); i++ {
				// m00000–m00004 in site-a, m00005–m00009 in site-b (the
				// machines the test stops), the rest over 18 more sites.
				site := fmt.Sprintf("site-%02d", i%18)
				if i < 10 {
					site = "site-a"
					if i >= 5 {
						site = "site-b"
					}
				}
				b.Set(f.e.FS.Doc(fmt.Sprintf("sites/%s/machines/m%05d", site, i)), map[string]any{
					"online": true, "lastHeartbeat": now.Add(-30 * time.Second), "agent_version": "2.6.0",
					"machineId": fmt.Sprintf("m%05d", i), "siteId": site, "machine_timezone": "UTC",
					"metrics": map[string]any{
						"cpu": map[string]any{"percent": 20.5, "temperature": 50.1}, "memory": map[string]any{"percent": 40.0},
						"disk": map[string]any{"percent": 43.2}, "gpu": map[string]any{"usage_percent": 10.0},
					},
				})
			}
			if _, err := b.Commit(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
