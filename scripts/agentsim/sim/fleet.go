package sim

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
)

// PairFunc obtains credentials for one agent configuration.
type PairFunc func(ctx context.Context, cfg Config) (*Credentials, error)

// DeviceCodePairing pairs through the device code; authorizer builds the
// approver for each agent (it may use cfg.ClientIP, so a load test spreads
// the per-IP rate limits of X01/X02 as real sites would). A nil authorizer
// waits for a human to approve each phrase on the dashboard.
func DeviceCodePairing(authorizer func(cfg Config) Authorizer) PairFunc {
	return func(ctx context.Context, cfg Config) (*Credentials, error) {
		var auth Authorizer
		if authorizer != nil {
			auth = authorizer(cfg)
		}
		return Pair(ctx, cfg, auth)
	}
}

// CookiePairing approves each phrase for siteID with a user's __session
// cookie (X02), from the agent's own client IP.
func CookiePairing(cookie, siteID string) PairFunc {
	return DeviceCodePairing(func(cfg Config) Authorizer {
		return SessionAuthorizer(cfg.api(), cookie, siteID)
	})
}

// CodePairing gives each agent the next registration code (E14).
func CodePairing(codes []string) PairFunc {
	var mu sync.Mutex
	return func(ctx context.Context, cfg Config) (*Credentials, error) {
		mu.Lock()
		if len(codes) == 0 {
			mu.Unlock()
			return nil, errors.New("no registration code left for " + cfg.MachineID)
		}
		code := codes[0]
		codes = codes[1:]
		mu.Unlock()
		return Exchange(ctx, cfg, code)
	}
}

// Fleet runs many agents in one process.
type Fleet struct {
	// Base is the template configuration (MachineID is set per agent).
	Base Config
	// Pair obtains credentials for an agent without a saved state.
	Pair PairFunc
	// PairConcurrency bounds simultaneous pairings (default 8).
	PairConcurrency int
	// DistinctIPs gives agent i the X-Forwarded-For 10.x.y.z (local load
	// tests against a server that rate-limits per client IP).
	DistinctIPs bool
	// StateDir, when set, keeps each agent's credentials in
	// <StateDir>/<machine>.json and reuses them on the next run.
	StateDir string

	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	agents []*Agent
	errs   []error
	wg     sync.WaitGroup
	n      int
}

// Agents returns the running (or stopped) agents.
func (f *Fleet) Agents() []*Agent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Agent(nil), f.agents...)
}

// Len is the number of agents started.
func (f *Fleet) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.agents)
}

// ConfigFor is the configuration of the agent named machine, the i-th of
// the fleet (0-based).
func (f *Fleet) ConfigFor(machine string, i int) Config {
	c := f.Base
	c.MachineID = machine
	if f.DistinctIPs {
		c.ClientIP = fmt.Sprintf("10.%d.%d.%d", (i>>16)&255, (i>>8)&255, i&255+1)
	}
	if f.StateDir != "" {
		c.StateFile = filepath.Join(f.StateDir, machine+".json")
	}
	return c
}

// Add pairs the named agents (or loads their saved credentials) and starts
// them; they run until Stop. It returns the first pairing error, after
// starting every agent that did pair.
func (f *Fleet) Add(ctx context.Context, names []string) error {
	f.mu.Lock()
	if f.ctx == nil {
		f.ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	base := f.n
	f.n += len(names)
	f.mu.Unlock()
	conc := f.PairConcurrency
	if conc <= 0 {
		conc = 8
	}
	sem := make(chan struct{}, conc)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cfg := f.ConfigFor(name, base+i)
			creds, err := f.credentials(ctx, cfg)
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", name, err)
				}
				errMu.Unlock()
				return
			}
			f.start(cfg, creds)
		}()
	}
	wg.Wait()
	return firstErr
}

func (f *Fleet) credentials(ctx context.Context, cfg Config) (*Credentials, error) {
	if cfg.StateFile != "" {
		c, err := LoadCredentials(cfg.StateFile)
		if err != nil {
			return nil, err
		}
		if c != nil && c.MachineID == cfg.MachineID {
			return c, nil
		}
	}
	if f.Pair == nil {
		return nil, errors.New("no pairing method")
	}
	c, err := f.Pair(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.StateFile != "" {
		if err := SaveCredentials(cfg.StateFile, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (f *Fleet) start(cfg Config, creds *Credentials) {
	a := New(cfg, creds)
	f.mu.Lock()
	f.agents = append(f.agents, a)
	ctx := f.ctx
	f.wg.Add(1)
	f.mu.Unlock()
	go func() {
		defer f.wg.Done()
		if err := a.Run(ctx); err != nil {
			f.mu.Lock()
			f.errs = append(f.errs, fmt.Errorf("%s: %w", a.MachineID(), err))
			f.mu.Unlock()
		}
	}()
}

// Stop stops every agent cleanly (each writes online:false) and returns
// the errors agents stopped with (e.g. ErrUnpaired).
func (f *Fleet) Stop() []error {
	f.mu.Lock()
	cancel := f.cancel
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

// Wait blocks until every agent has stopped by itself.
func (f *Fleet) Wait() []error {
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}
