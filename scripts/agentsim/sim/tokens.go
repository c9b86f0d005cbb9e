package sim

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"
)

// Credentials returns a copy of the stored credentials (empty tokens once
// they were wiped).
func (a *Agent) Credentials() Credentials {
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	return a.creds
}

// Wiped reports whether the credentials were wiped after a 401/403.
func (a *Agent) Wiped() bool {
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	return a.wiped
}

// ExpireSoon moves the access token's expiry into the refresh window, so
// the next request refreshes first (and forgets any refresh backoff).
func (a *Agent) ExpireSoon() {
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	a.creds.Expiry = time.Now().Add(a.cfg.tokenScaled(a.cfg.RefreshLead) / 2)
	a.backoffUntil = time.Time{}
}

// Firestore returns the agent's Firestore client (its own ID token), for
// tests that probe what the rules let an agent do.
func (a *Agent) Firestore() *Firestore { return a.fs }

// Token returns a valid access token, refreshing it first when needed.
func (a *Agent) Token(ctx context.Context) (string, error) { return a.token(ctx) }

func (a *Agent) agentVersion() string {
	a.verMu.Lock()
	defer a.verMu.Unlock()
	return a.version
}

// token is the agent's get_valid_token: refresh under a lock when ≤ lead
// remains (and no backoff is running), else the current token while valid.
func (a *Agent) token(ctx context.Context) (string, error) {
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	if a.wiped {
		return "", ErrUnpaired
	}
	now := time.Now()
	if a.creds.Expiry.Sub(now) <= a.cfg.tokenScaled(a.cfg.RefreshLead) && !now.Before(a.backoffUntil) {
		if err := a.refreshLocked(ctx); errors.Is(err, ErrUnpaired) {
			return "", err
		}
	}
	if a.creds.AccessToken == "" || !time.Now().Before(a.creds.Expiry) {
		return "", ErrNoToken
	}
	return a.creds.AccessToken, nil
}

// RefreshNow refreshes the access token at once.
func (a *Agent) RefreshNow(ctx context.Context) error {
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	if a.wiped {
		return ErrUnpaired
	}
	return a.refreshLocked(ctx)
}

func (a *Agent) refreshLocked(ctx context.Context) error {
	tok, err := a.api.Refresh(ctx, a.creds.RefreshToken, a.cfg.MachineID, a.agentVersion())
	status := APIStatus(err)
	switch {
	case err == nil:
		a.creds.AccessToken = tok.AccessToken
		a.creds.Expiry = time.Now().Add(a.cfg.lifetime(tok.ExpiresIn))
		a.failures, a.backoffUntil = 0, time.Time{}
		a.saveLocked()
		a.log.Debug("token refreshed", "expiresIn", tok.ExpiresIn)
		a.cfg.emit(Event{Kind: EventRefreshed})
		return nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// The real agent deletes its refresh token, access token and site
		// id and goes offline until it is paired again.
		a.log.Error("refresh refused: wiping credentials", "status", status, "error", err.Error())
		a.wiped = true
		a.creds = Credentials{MachineID: a.cfg.MachineID}
		if a.cfg.StateFile != "" {
			if rerr := os.Remove(a.cfg.StateFile); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				a.log.Warn("could not delete state file", "error", rerr.Error())
			}
		}
		a.cfg.emit(Event{Kind: EventCredsWiped, Err: err})
		if a.stop != nil {
			a.stop(ErrUnpaired)
		}
		return ErrUnpaired
	case ctx.Err() != nil:
		return err // the caller gave up (stopping): not a server failure
	default:
		a.failures++
		steps := a.cfg.RefreshBackoff
		wait := a.cfg.tokenScaled(steps[min(a.failures-1, len(steps)-1)])
		a.backoffUntil = time.Now().Add(wait)
		a.log.Warn("refresh failed: backing off", "status", status, "error", err.Error(), "retryIn", wait)
		a.cfg.emit(Event{Kind: EventRefreshFailed, Err: err})
		return err
	}
}

func (a *Agent) saveLocked() {
	if a.cfg.StateFile == "" {
		return
	}
	if err := SaveCredentials(a.cfg.StateFile, &a.creds); err != nil {
		a.log.Warn("could not save credentials", "error", err.Error())
	}
}
