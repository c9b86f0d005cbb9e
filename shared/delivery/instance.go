package delivery

import (
	"sync"

	"github.com/owlette/server/shared/app"
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

// accept is the autonomous hand-off of d's deployment (nil: none).
var accept = func(*app.Deps) AcceptFunc { return nil }
