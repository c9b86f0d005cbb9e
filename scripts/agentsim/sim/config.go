// Package sim simulates owlette Windows agents that speak the real protocol:
// device-code pairing (or a registration code), ID-token refresh, heartbeats
// and command execution through the Firestore REST API with the agent's own
// token, so the security rules apply (datamodel.md §4–§5, §13).
//
// Everything runs in-process: tests and benchmarks start agents with New and
// Run, the dev server can pair them with Pair and an Authorizer of its own,
// and scripts/agentsim is the command-line front end.
//
// Timing follows the real agent (heartbeat 30 s, command poll 2 s growing
// ×1.3 to 5 s, config poll 2 s to 10 s, refresh when ≤ 300 s remain, refresh
// backoff 120/240/300 s, same-type command gap 5 s, housekeeping every
// 600 s). Config.Scale compresses all of it, including the token lifetime
// the server reports, so a test sees hours of agent life in seconds.
package sim

import (
	"log/slog"
	"net/http"
	"os"
	"time"
)

// Config describes one simulated agent. Zero durations take the real
// agent's defaults (see Defaults).
type Config struct {
	// MachineID is the Windows hostname (machine id), e.g. SIM-1.
	MachineID string
	// Version is the agent version sent when pairing and on refresh.
	Version string
	// API is the owlette API root, e.g. http://127.0.0.1:18080/api.
	API string
	// FirestoreURL is https://firestore.googleapis.com or, locally,
	// http://$FIRESTORE_EMULATOR_HOST.
	FirestoreURL string
	// ProjectID is the Firebase project (hard-coded in the real agent).
	ProjectID string
	// Timezone is written as machine_timezone (a Windows zone key name).
	Timezone string

	// HTTP is the client for every request (nil: a shared default).
	HTTP *http.Client
	// ClientIP, when set, is sent as X-Forwarded-For on API calls (local
	// load tests: the server's rate limits are per client IP).
	ClientIP string
	// Log receives the agent's structured logs (nil: slog.Default()).
	Log *slog.Logger
	// OnEvent, when set, is called for every Event (must not block long).
	OnEvent func(Event)
	// Stats, when set, records the latency and outcome of every request.
	Stats *Stats
	// StateFile, when set, persists the credentials (JSON) so a restarted
	// simulator reuses them; it is deleted when the server revokes them.
	StateFile string

	// Scale compresses time: every interval below and the token lifetime
	// are divided by it (1 = real time).
	Scale float64
	// TokenScale, when set, compresses the token side alone instead: the
	// lifetime from expiresIn, the refresh lead and the refresh backoff
	// (a load test can refresh often without polling Firestore faster).
	TokenScale float64

	HeartbeatInterval   time.Duration // 30 s (a process is RUNNING)
	FirstHeartbeatDelay time.Duration // 5 s after start
	CommandPollMin      time.Duration // 2 s
	CommandPollMax      time.Duration // 5 s
	ConfigPollMin       time.Duration // 2 s
	ConfigPollMax       time.Duration // 10 s
	ListenerBackoffMin  time.Duration // 5 s after a listener error
	ListenerBackoffMax  time.Duration // 60 s
	RefreshLead         time.Duration // refresh when ≤ 300 s remain
	RefreshBackoff      []time.Duration
	SameTypeGap         time.Duration // 5 s between commands of one type
	HousekeepingEvery   time.Duration // 600 s
	PendingTTL          time.Duration // 1 h
	CompletedTTL        time.Duration // 24 h
	StepDelay           time.Duration // between simulated install steps: 1 s
	PollInterval        time.Duration // device-code poll, when the server gives none: 5 s

	// Feature switches (all true in Defaults, as the real agent behaves).
	ConfigSync        bool // read/seed/poll config/{site}/machines/{m}
	ClearFlagsOnStart bool // the three whole-document flag writes at start (§5.1 step 7)
	EventLog          bool // write sites/{s}/logs entries
	Inventory         bool // sync installed_software at start
	Housekeeping      bool // prune old pending/completed entries
}

// Defaults returns the real agent's settings for machine id m.
func Defaults(m string) Config {
	return Config{
		MachineID:         m,
		Version:           "2.6.0",
		API:               "http://127.0.0.1:18080/api",
		FirestoreURL:      DefaultFirestoreURL(),
		ProjectID:         DefaultProject(),
		Timezone:          "Pacific Standard Time",
		Scale:             1,
		ConfigSync:        true,
		ClearFlagsOnStart: true,
		EventLog:          true,
		Inventory:         true,
		Housekeeping:      true,
	}
}

// DefaultFirestoreURL is http://$FIRESTORE_EMULATOR_HOST when set, else
// production Firestore.
func DefaultFirestoreURL() string {
	if h := os.Getenv("FIRESTORE_EMULATOR_HOST"); h != "" {
		return "http://" + h
	}
	return "https://firestore.googleapis.com"
}

// DefaultProject is $GOOGLE_CLOUD_PROJECT, else the local demo project.
func DefaultProject() string {
	if p := os.Getenv("GOOGLE_CLOUD_PROJECT"); p != "" {
		return p
	}
	return "demo-owlette"
}

func orDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// normalized fills the zero fields with the defaults.
func (c Config) normalized() Config {
	if c.Scale <= 0 {
		c.Scale = 1
	}
	if c.Version == "" {
		c.Version = "2.6.0"
	}
	if c.Timezone == "" {
		c.Timezone = "Pacific Standard Time"
	}
	if c.FirestoreURL == "" {
		c.FirestoreURL = DefaultFirestoreURL()
	}
	if c.ProjectID == "" {
		c.ProjectID = DefaultProject()
	}
	if c.HTTP == nil {
		c.HTTP = defaultHTTP
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	c.HeartbeatInterval = orDur(c.HeartbeatInterval, 30*time.Second)
	c.FirstHeartbeatDelay = orDur(c.FirstHeartbeatDelay, 5*time.Second)
	c.CommandPollMin = orDur(c.CommandPollMin, 2*time.Second)
	c.CommandPollMax = orDur(c.CommandPollMax, 5*time.Second)
	c.ConfigPollMin = orDur(c.ConfigPollMin, 2*time.Second)
	c.ConfigPollMax = orDur(c.ConfigPollMax, 10*time.Second)
	c.ListenerBackoffMin = orDur(c.ListenerBackoffMin, 5*time.Second)
	c.ListenerBackoffMax = orDur(c.ListenerBackoffMax, 60*time.Second)
	c.RefreshLead = orDur(c.RefreshLead, 300*time.Second)
	if len(c.RefreshBackoff) == 0 {
		c.RefreshBackoff = []time.Duration{120 * time.Second, 240 * time.Second, 300 * time.Second}
	}
	c.SameTypeGap = orDur(c.SameTypeGap, 5*time.Second)
	c.HousekeepingEvery = orDur(c.HousekeepingEvery, 600*time.Second)
	c.PendingTTL = orDur(c.PendingTTL, time.Hour)
	c.CompletedTTL = orDur(c.CompletedTTL, 24*time.Hour)
	c.StepDelay = orDur(c.StepDelay, time.Second)
	c.PollInterval = orDur(c.PollInterval, 5*time.Second)
	return c
}

// scaled divides a duration by the time scale (at least 1 ms).
func (c *Config) scaled(d time.Duration) time.Duration {
	s := time.Duration(float64(d) / c.Scale)
	if s < time.Millisecond {
		s = time.Millisecond
	}
	return s
}

// tokenScaled divides a token-side duration by TokenScale (else Scale).
func (c *Config) tokenScaled(d time.Duration) time.Duration {
	if c.TokenScale > 0 {
		return max(time.Duration(float64(d)/c.TokenScale), time.Millisecond)
	}
	return c.scaled(d)
}

var defaultHTTP = NewHTTPClient(64)

// NewHTTPClient returns a client that keeps up to perHost idle connections
// per host (one simulator process talks to two hosts with many agents).
func NewHTTPClient(perHost int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = perHost * 4
	t.MaxIdleConnsPerHost = perHost
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t}
}
