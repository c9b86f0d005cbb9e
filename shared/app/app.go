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
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
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

var (
	requireMu sync.Mutex
	required  []string // nil: every secret (a process serving every function)
)

// Require declares secrets this process's function reads (fn.Spec.Serve
// calls it from init, before Default): only those are required in
// production (config.LoadFor).
func Require(secrets ...string) {
	requireMu.Lock()
	defer requireMu.Unlock()
	if required == nil {
		required = []string{}
	}
	for _, s := range secrets {
		if !slices.Contains(required, s) {
			required = append(required, s)
		}
	}
}

func requiredSecrets() []string {
	requireMu.Lock()
	defer requireMu.Unlock()
	if required == nil {
		return config.AllSecrets
	}
	return slices.Clone(required)
}

// FromEnv loads the configuration and creates the clients from the process
// environment, requiring the secrets declared with Require (all of them
// when none was declared).
func FromEnv(ctx context.Context) (*Deps, error) {
	getenv := config.Environ()
	// Any *_EMULATOR_HOST, not only the ones config knows, disables token
	// signature checks somewhere: refuse them all on Cloud Run.
	if getenv("K_SERVICE") != "" {
		for _, kv := range os.Environ() {
			if name, _, _ := strings.Cut(kv, "="); strings.HasSuffix(name, "_EMULATOR_HOST") {
				return nil, fmt.Errorf("refusing to start on Cloud Run with emulator variable %s set", name)
			}
		}
	}
	var res config.SecretResolver
	if config.NeedsResolver(getenv) {
		sm, err := secretmanager.NewClient(ctx)
		if err != nil {
			return nil, fmt.Errorf("secret manager: %w", err)
		}
		defer sm.Close()
		res = config.SecretManager{Client: sm}
	}
	cfg, err := config.LoadFor(ctx, getenv, res, requiredSecrets())
	if err != nil {
		return nil, err
	}
	fs, err := firestore.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("firestore: %w", err)
	}
	fb, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: cfg.ProjectID, StorageBucket: cfg.StorageBucket})
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
	if os.Getenv("K_SERVICE") == "" {
		return
	}
	if _, err := Default(); err != nil {
		logging.Default().Error("refusing to start", "error", err.Error())
		os.Exit(1)
	}
}
