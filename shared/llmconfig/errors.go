package llmconfig

import (
	"errors"
	"fmt"
)

// Kinds of resolution failure; test with errors.Is.
var (
	// ErrNotConfigured: no settings document applies to the request.
	ErrNotConfigured = errors.New("llmconfig: no LLM API key configured")
	// ErrEncryptionUnset: neither LLM_ENCRYPTION_KEY nor
	// MFA_ENCRYPTION_KEY is configured, so keys can be neither stored nor
	// read.
	ErrEncryptionUnset = errors.New("llmconfig: LLM key encryption is not configured (LLM_ENCRYPTION_KEY or MFA_ENCRYPTION_KEY)")
	// ErrUndecryptable: the stored key does not decrypt with the
	// configured secret (it was changed since the key was saved, or the
	// value is not in the stored format).
	ErrUndecryptable = errors.New("llmconfig: stored LLM API key cannot be decrypted")
	// ErrInvalid: the document names an unknown provider or holds no key.
	ErrInvalid = errors.New("llmconfig: stored LLM settings are invalid")
)

// Error is a failure to resolve an LLM configuration, with a message
// written for the person using cortex (what is wrong and what to do). It
// never contains key material.
type Error struct {
	Kind   error  // ErrNotConfigured, ErrEncryptionUnset, ErrUndecryptable or ErrInvalid
	Mode   Mode   // the mode Resolve ran in
	Source string // SourceUser or SourceSite: the document at fault ("" for ErrNotConfigured)
	SiteID string // the site asked about ("" if none)
	Detail string // what is wrong with an invalid document
	Err    error  // the underlying cause, if any (logged, not shown)
}

func (e *Error) Error() string {
	switch {
	case errors.Is(e.Kind, ErrNotConfigured) && e.Mode == ModeAutonomous:
		return fmt.Sprintf("No LLM API key is configured for site %q: autonomous investigations use the site's key, which an admin sets in the site's Cortex settings", e.SiteID)
	case errors.Is(e.Kind, ErrNotConfigured):
		return "No LLM API key is configured: add your own key in your Cortex settings, or ask an admin to set one for this site"
	case errors.Is(e.Kind, ErrEncryptionUnset):
		return "LLM API keys cannot be read: the server has no encryption key configured (LLM_ENCRYPTION_KEY or MFA_ENCRYPTION_KEY)"
	case errors.Is(e.Kind, ErrUndecryptable):
		return fmt.Sprintf("The stored LLM API key (%s) cannot be decrypted: the server's encryption key (LLM_ENCRYPTION_KEY, or MFA_ENCRYPTION_KEY) has most likely changed since it was saved. Save the key again", e.whose())
	case errors.Is(e.Kind, ErrInvalid):
		return fmt.Sprintf("The stored LLM settings (%s) are invalid: %s. Save the key again", e.whose(), e.Detail)
	}
	return "LLM configuration error"
}

func (e *Error) whose() string {
	if e.Source == SourceUser {
		return "your own key"
	}
	return fmt.Sprintf("the key of site %q", e.SiteID)
}

// Is makes errors.Is(err, ErrUndecryptable) and the like true for an
// *Error of that kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }
