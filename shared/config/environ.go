package config

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/owlette/server/shared/logging"
)

// The groups this process's functions declared (fn.Spec.Serve calls
// Declare from init, before anything loads the configuration).
var declared struct {
	mu  sync.Mutex
	set bool
	g   Groups
}

// Declare adds the groups a function this process serves reads.
func Declare(g Groups) {
	declared.mu.Lock()
	defer declared.mu.Unlock()
	declared.set = true
	declared.g |= g
}

// Declared returns the groups this process's functions declared: the union
// when the process serves several functions (the dev server), All when none
// was declared (a tool, a test of shared code).
func Declared() Groups {
	declared.mu.Lock()
	defer declared.mu.Unlock()
	if !declared.set {
		return All
	}
	return declared.g
}

// OnCloudRun reports whether this process runs on Cloud Run (K_SERVICE set).
func OnCloudRun() bool { return os.Getenv("K_SERVICE") != "" }

// FromEnv loads the configuration of this process from its environment: the
// Base and the Declared groups, secret references resolved through Secret
// Manager. It sets the process's log level (LOG_LEVEL). On Cloud Run any
// *_EMULATOR_HOST variable, not only those the Base knows, is refused:
// it disables token signature checks somewhere.
func FromEnv(ctx context.Context) (*Config, error) {
	if OnCloudRun() {
		for _, kv := range os.Environ() {
			if name, _, _ := strings.Cut(kv, "="); strings.HasSuffix(name, "_EMULATOR_HOST") {
				return nil, fmt.Errorf("refusing to start on Cloud Run with emulator variable %s set", name)
			}
		}
	}
	var res SecretResolver
	if NeedsResolver(os.Getenv) {
		sm, err := secretmanager.NewClient(ctx)
		if err != nil {
			return nil, fmt.Errorf("secret manager: %w", err)
		}
		defer sm.Close()
		res = SecretManager{Client: sm}
	}
	c, err := LoadFor(ctx, os.Getenv, res, Declared())
	if err != nil {
		return nil, err
	}
	logging.SetLevel(c.LogLevel)
	return c, nil
}
