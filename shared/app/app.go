// Package app wires a function together: the configuration read once at cold
// start, the clients created once per instance (Firestore, Auth, Storage), the
// session manager, guards and rate limiter, and the router every route group
// registers on.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/storage"
	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/web"
)

// Deps is everything a handler may use. One per instance.
type Deps struct {
	Config    *config.Config
	Log       *slog.Logger
	Firestore *firestore.Client
	Auth      *auth.Client
	Sessions  *session.Manager
	Guards    *guard.Service
	Limiter   *ratelimit.Limiter
	Now       func() time.Time

	storageOnce sync.Once
	storage     *storage.Client
	storageErr  error
}

// Clients are the external clients Deps is built from.
type Clients struct {
	Firestore *firestore.Client
	Auth      *auth.Client
}

// New assembles Deps from a configuration and clients. now may be nil.
func New(cfg *config.Config, c Clients, log *slog.Logger, now func() time.Time) (*Deps, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = logging.Default()
	}
	sm, err := session.NewManager(cfg.SessionSecret, c.Firestore, cfg.Production(), now)
	if err != nil {
		return nil, err
	}
	return &Deps{
		Config:    cfg,
		Log:       log,
		Firestore: c.Firestore,
		Auth:      c.Auth,
		Sessions:  sm,
		Guards: &guard.Service{FS: c.Firestore, Auth: c.Auth, Sessions: sm, Now: now,
			Config: cfg,
			OIDC:   &guard.OIDC{ServiceAccount: cfg.SchedulerServiceAccount, Audience: cfg.SchedulerAudience}},
		Limiter: ratelimit.New(c.Firestore, ratelimit.Options{Dev: cfg.Dev, Now: now, Logger: log}),
		Now:     now,
	}, nil
}

// WebOptions are the request middleware's settings from the configuration.
func (d *Deps) WebOptions() web.Options {
	return web.Options{Project: d.Config.ProjectID, Client: web.ClientAddr{Hops: d.Config.TrustedProxyHops, Header: d.Config.ClientIPHeader}}
}

// Storage returns the Cloud Storage client, created on first use (most
// functions never need it).
func (d *Deps) Storage(ctx context.Context) (*storage.Client, error) {
	d.storageOnce.Do(func() { d.storage, d.storageErr = storage.NewClient(context.WithoutCancel(ctx)) })
	return d.storage, d.storageErr
}

// FromEnv loads the configuration of the groups this process's functions
// declared (config.FromEnv) and creates the clients.
func FromEnv(ctx context.Context) (*Deps, error) {
	cfg, err := config.FromEnv(ctx)
	if err != nil {
		return nil, err
	}
	fs, err := firestore.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("firestore: %w", err)
	}
	fb, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: cfg.ProjectID})
	if err != nil {
		return nil, fmt.Errorf("firebase: %w", err)
	}
	ac, err := fb.Auth(ctx)
	if err != nil {
		return nil, fmt.Errorf("firebase auth: %w", err)
	}
	return New(cfg, Clients{Firestore: fs, Auth: ac}, logging.Default(), nil)
}

var (
	defaultOnce sync.Once
	defaultDeps *Deps
	defaultErr  error
)

// Default returns the process-wide Deps, built from the environment once.
func Default() (*Deps, error) {
	defaultOnce.Do(func() { defaultDeps, defaultErr = FromEnv(context.Background()) })
	return defaultDeps, defaultErr
}

// MustStartOnCloudRun validates the configuration at cold start when running
// on Cloud Run (K_SERVICE set): a function with bad configuration, or with
// any emulator variable set, refuses to start instead of serving. It is a
// no-op elsewhere, so tests and the local server choose their own setup.
func MustStartOnCloudRun() {
	if !config.OnCloudRun() {
		return
	}
	if _, err := Default(); err != nil {
		logging.Default().Error("refusing to start", "error", err.Error())
		os.Exit(1)
	}
}
