package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrUnpaired means the agent has no usable credentials: the server
// answered 401/403 to a refresh, so they were wiped (the real agent then
// stays offline until it is paired again).
var ErrUnpaired = errors.New("agent credentials revoked: re-pairing required")

// ErrPairingExpired is the device code's 410.
var ErrPairingExpired = errors.New("pairing code expired")

// Credentials are what the agent stores after pairing.
type Credentials struct {
	SiteID       string    `json:"siteId"`
	MachineID    string    `json:"machineId"`
	RefreshToken string    `json:"refreshToken"`
	AccessToken  string    `json:"accessToken"`
	Expiry       time.Time `json:"expiry"` // now + expiresIn (scaled), not read from the token
}

// Authorizer approves a pair phrase, as a user does on the dashboard's /add
// page. It runs while the agent polls.
type Authorizer func(ctx context.Context, phrase string) error

// SessionAuthorizer authorizes phrases for siteID with a signed-in user's
// __session cookie (X02), exactly as the dashboard does.
func SessionAuthorizer(api *API, cookie, siteID string) Authorizer {
	return func(ctx context.Context, phrase string) error {
		return api.Authorize(ctx, cookie, phrase, siteID)
	}
}

func (c Config) api() *API {
	c = c.normalized()
	return &API{Base: c.API, HTTP: c.HTTP, ClientIP: c.ClientIP, Observe: c.Stats.observer()}
}

func (s *Stats) observer() func(string, time.Duration, int, error) {
	if s == nil {
		return nil
	}
	return s.Observe
}

// Pair runs the interactive device-code flow (datamodel.md §4.2): POST
// device-code with the hostname, hand the phrase to authorize (nil: just log
// it and wait for someone to approve it on the dashboard), then poll every
// `interval` seconds: 202 keep polling, 200 tokens, 410 expired, anything
// else aborts with the body's error.
func Pair(ctx context.Context, cfg Config, authorize Authorizer) (*Credentials, error) {
	cfg = cfg.normalized()
	api := cfg.api()
	log := cfg.Log.With("machine", cfg.MachineID)
	dc, err := api.StartDeviceCode(ctx, cfg.MachineID, cfg.Version)
	if err != nil {
		return nil, fmt.Errorf("device-code: %w", err)
	}
	log.Info("pairing: waiting for authorization", "pairPhrase", dc.PairPhrase, "pairingUrl", dc.PairingURL, "expiresIn", dc.ExpiresIn)

	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(nil); wg.Wait() }()
	if authorize != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := authorize(ctx, dc.PairPhrase); err != nil {
				cancel(fmt.Errorf("authorize %q: %w", dc.PairPhrase, err))
			}
		}()
	}

	interval := cfg.PollInterval
	if dc.Interval > 0 {
		interval = time.Duration(dc.Interval) * time.Second
	}
	interval = cfg.scaled(interval)
	expires := 600 * time.Second
	if dc.ExpiresIn > 0 {
		expires = time.Duration(dc.ExpiresIn) * time.Second
	}
	deadline := time.Now().Add(cfg.scaled(expires))
	for {
		if err := sleep(ctx, interval); err != nil {
			if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
				return nil, c
			}
			return nil, err
		}
		status, tok, err := api.Poll(ctx, dc.DeviceCode)
		switch {
		case status == http.StatusAccepted:
			if time.Now().After(deadline) {
				return nil, ErrPairingExpired
			}
			continue
		case status == http.StatusOK && err == nil:
			creds := cfg.credentials(tok)
			log.Info("paired", "via", "device-code", "site", creds.SiteID)
			cfg.emit(Event{Kind: EventPaired, Detail: "device-code"})
			return creds, nil
		case status == http.StatusGone:
			return nil, ErrPairingExpired
		case err != nil:
			if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
				return nil, c
			}
			return nil, fmt.Errorf("poll: %w", err)
		default:
			return nil, fmt.Errorf("poll: unexpected status %d", status)
		}
	}
}

// Exchange pairs with a registration code (E14, the legacy installer flow).
func Exchange(ctx context.Context, cfg Config, code string) (*Credentials, error) {
	cfg = cfg.normalized()
	tok, err := cfg.api().Exchange(ctx, code, cfg.MachineID, cfg.Version)
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	creds := cfg.credentials(tok)
	cfg.Log.Info("paired", "machine", cfg.MachineID, "via", "registration-code", "site", creds.SiteID)
	cfg.emit(Event{Kind: EventPaired, Detail: "registration-code"})
	return creds, nil
}

func (c *Config) credentials(t *Tokens) *Credentials {
	return &Credentials{
		SiteID: t.SiteID, MachineID: c.MachineID, RefreshToken: t.RefreshToken, AccessToken: t.AccessToken,
		Expiry: time.Now().Add(c.lifetime(t.ExpiresIn)),
	}
}

// lifetime is expiresIn (3600 if absent), scaled.
func (c *Config) lifetime(expiresIn int) time.Duration {
	if expiresIn <= 0 {
		expiresIn = 3600
	}
	return c.tokenScaled(time.Duration(expiresIn) * time.Second)
}

func (c *Config) emit(e Event) {
	if c.OnEvent == nil {
		return
	}
	e.Machine = c.MachineID
	e.At = time.Now()
	c.OnEvent(e)
}

// LoadCredentials reads a state file written by a previous run; (nil, nil)
// when there is none.
func LoadCredentials(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.RefreshToken == "" || c.SiteID == "" {
		return nil, nil
	}
	return &c, nil
}

// SaveCredentials writes the state file (0600; it holds a refresh token).
func SaveCredentials(path string, c *Credentials) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
