package apptest

import (
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/logging"
)

// Instance is another instance of the server under test serving groups:
// the same project, clock and RPC counts as e, its own Deps (so its own
// in-instance caches and rate budgets), as a second Cloud Run instance
// would be.
func (e *Env) Instance(groups ...app.Register) *Env {
	e.T.Helper()
	d, err := app.New(Config(e.Project), app.Clients{Firestore: e.FS, Auth: AuthClient(e.T)}, logging.New(logWriter(), nil), e.Clock.Now)
	if err != nil {
		e.T.Fatalf("deps: %v", err)
	}
	return &Env{T: e.T, D: d, H: app.Build(d, groups...), FS: e.FS, Project: e.Project, Clock: e.Clock, RPCs: e.RPCs, NoContract: e.NoContract}
}
