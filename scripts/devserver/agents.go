package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"time"

	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/session"
)

// startAgents pairs n simulated agents (SIM-1…SIM-n) with the demo site
// through the real device-code flow, approved by the seeded admin's session,
// and runs them until ctx ends. Their credentials are kept under stateDir so
// a restarted dev server reuses the same machines.
func startAgents(ctx context.Context, d *app.Deps, info *SeedInfo, base string, n int, stateDir string, log *slog.Logger) (*sim.Fleet, error) {
	rec := httptest.NewRecorder()
	if _, err := d.Sessions.Create(ctx, rec, info.AdminUID, d.Now().Add(session.CookieMaxAge), session.MFAComplete, "devserver"); err != nil {
		return nil, err
	}
	var cookie string
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.CookieName {
			cookie = c.Value
		}
	}
	cfg := sim.Defaults("")
	cfg.API = base + "/api"
	cfg.ProjectID = d.Config.ProjectID
	cfg.Log = log
	f := &sim.Fleet{Base: cfg, Pair: sim.CookiePairing(cookie, SiteID), StateDir: filepath.Clean(stateDir)}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("SIM-%d", i+1)
	}
	actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := f.Add(actx, names); err != nil {
		return f, err
	}
	return f, nil
}
