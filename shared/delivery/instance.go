package delivery

import (
	"context"
	"sync"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/autonomous"
)

var (
	instMu sync.Mutex
	inst   = map[*app.Deps]*Deliverer{}
)

// For returns the Deliverer of an instance's Deps, created on first use
// (its Resend sender and webhook client are kept for the instance's life).
// The notifications trigger and the sweep share it.
func For(d *app.Deps) *Deliverer {
	instMu.Lock()
	defer instMu.Unlock()
	if x := inst[d]; x != nil {
		return x
	}
	x := New(Options{FS: d.Firestore, Config: d.Config, Now: d.Now, Log: d.Log, Accept: accept(d)})
	inst[d] = x
	return x
}

// accept hands an agent alert's autonomous part to the investigation gates
// (E53's), which queue the investigation in the same commit as its slot.
func accept(d *app.Deps) AcceptFunc {
	return func(ctx context.Context, body map[string]any) (bool, string, string, error) {
		return autonomous.AcceptBody(ctx, d, body)
	}
}
