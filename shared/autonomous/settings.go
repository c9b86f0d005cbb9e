package autonomous

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/store"
)

// Settings is sites/{s}/settings/cortex (datamodel.md §2.13). No route
// writes it; it is set by hand or by the dashboard, so every field is read
// leniently: a value of the wrong type takes the default.
type Settings struct {
	// AutonomousEnabled: truthy autonomousEnabled.
	AutonomousEnabled bool
	// Directive is the site's instruction to the autonomous model ("" =
	// the default directive).
	Directive string
	// MaxTier is the highest tool tier an investigation may use: 1–3,
	// default 2.
	MaxTier int
	// Cooldown is how long after an event for a machine and process a new
	// one is refused: cooldownMinutes when a positive number, else 15.
	Cooldown time.Duration
	// EscalationEmail is false only when escalationEmail is exactly false.
	EscalationEmail bool
}

// SettingsRef is sites/{siteId}/settings/cortex.
func SettingsRef(fs *firestore.Client, siteID string) *firestore.DocumentRef {
	return fs.Collection("sites").Doc(siteID).Collection("settings").Doc("cortex")
}

// ParseSettings reads a settings document's fields (nil: absent).
func ParseSettings(d map[string]any) Settings {
	s := Settings{MaxTier: DefaultMaxTier, Cooldown: DefaultCooldownMinutes * time.Minute, EscalationEmail: true}
	if d == nil {
		return s
	}
	s.AutonomousEnabled = store.Truthy(d["autonomousEnabled"])
	s.Directive, _ = d["directive"].(string)
	if n, ok := number(d["maxTier"]); ok && n >= 1 {
		s.MaxTier = int(min(n, 3))
	}
	if n, ok := number(d["cooldownMinutes"]); ok && n > 0 {
		s.Cooldown = time.Duration(n * float64(time.Minute))
	}
	if b, ok := d["escalationEmail"].(bool); ok && !b {
		s.EscalationEmail = false
	}
	return s
}

// ReadSettings reads a site's Cortex settings (defaults when absent).
func ReadSettings(ctx context.Context, fs *firestore.Client, siteID string) (Settings, error) {
	snap, err := SettingsRef(fs, siteID).Get(ctx)
	if err != nil && !store.NotFound(err) {
		return Settings{}, fmt.Errorf("read cortex settings: %w", err)
	}
	return ParseSettings(dataOf(snap)), nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, x == x
	}
	return 0, false
}

func dataOf(s *firestore.DocumentSnapshot) map[string]any {
	if s == nil || !s.Exists() {
		return nil
	}
	return s.Data()
}
