package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// ErrNoToken means the access token has expired and no refresh succeeded
// yet (the agent is backing off); the request was not sent.
var ErrNoToken = errors.New("access token expired; refresh pending")

// errShutdown stops the agent after a simulated shutdown_machine.
var errShutdown = errors.New("machine shut down")

// Agent is one simulated Windows agent.
type Agent struct {
	cfg Config
	log *slog.Logger
	api *API
	fs  *Firestore
	m   *machine
	// site is the paired site (fixed for the agent's life; creds.SiteID is
	// cleared when the credentials are wiped).
	site string

	tokMu        sync.Mutex
	creds        Credentials
	failures     int
	backoffUntil time.Time
	wiped        bool

	verMu   sync.Mutex
	version string

	stop  context.CancelCauseFunc
	kick  chan struct{}
	queue chan job

	runMu   sync.Mutex
	lastRun map[string]time.Time // per command type (same-type gap)

	seen         map[string]bool // command listener only
	configHash   string          // last config doc seen
	uploadedHash string          // last config doc we wrote ourselves

	invMu   sync.Mutex
	invHash string

	fxMu       sync.Mutex
	installs   map[string]context.CancelFunc // active parallel installs by installer name
	uninstalls map[string]context.CancelFunc
	reboot     context.CancelFunc // pending reboot/shutdown
	liveView   context.CancelFunc
	updateAt   time.Time // last update_owlette (duplicate window)
}

type job struct {
	id  string
	typ string
	cmd map[string]any
}

// New returns an agent holding creds (from Pair, Exchange or a state file).
func New(cfg Config, creds *Credentials) *Agent {
	cfg = cfg.normalized()
	a := &Agent{
		cfg:        cfg,
		log:        cfg.Log.With("machine", cfg.MachineID),
		m:          newMachine(cfg.MachineID),
		creds:      *creds,
		version:    cfg.Version,
		kick:       make(chan struct{}, 1),
		queue:      make(chan job, 50),
		lastRun:    map[string]time.Time{},
		seen:       map[string]bool{},
		installs:   map[string]context.CancelFunc{},
		uninstalls: map[string]context.CancelFunc{},
	}
	a.creds.MachineID = cfg.MachineID
	a.site = creds.SiteID
	a.api = cfg.api()
	a.fs = &Firestore{Base: cfg.FirestoreURL, Project: cfg.ProjectID, HTTP: cfg.HTTP, Token: a.token, Observe: cfg.Stats.observer()}
	return a
}

// MachineID is the agent's hostname.
func (a *Agent) MachineID() string { return a.cfg.MachineID }

// SiteID is the site the agent is paired with.
func (a *Agent) SiteID() string { return a.site }

// Document paths.
func (a *Agent) machinePath() string   { return "sites/" + a.site + "/machines/" + a.cfg.MachineID }
func (a *Agent) pendingPath() string   { return a.machinePath() + "/commands/pending" }
func (a *Agent) completedPath() string { return a.machinePath() + "/commands/completed" }
func (a *Agent) configPath() string    { return "config/" + a.site + "/machines/" + a.cfg.MachineID }

// failed handles an error of a background loop: an unpaired agent stops, a
// Firestore 401 forces a refresh before the next call.
func (a *Agent) failed(what string, err error) {
	if errors.Is(err, ErrUnpaired) || errors.Is(err, context.Canceled) {
		return
	}
	if IsStatus(err, http.StatusUnauthorized) {
		a.ExpireSoon()
	}
	a.log.Warn(what+" failed", "error", err.Error())
}

// Run performs the startup sequence and runs the agent until ctx ends (a
// clean stop: online:false is written) or the credentials are revoked
// (ErrUnpaired, nothing more is written).
func (a *Agent) Run(ctx context.Context) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	a.tokMu.Lock()
	a.stop = stop
	wiped := a.wiped
	a.tokMu.Unlock()
	if wiped {
		return ErrUnpaired
	}
	backoff := a.cfg.scaled(a.cfg.ListenerBackoffMin)
	for {
		err := a.startup(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, ErrUnpaired) {
			return a.finishRun(ctx, nil)
		}
		a.failed("startup", err)
		if sleep(ctx, backoff) != nil {
			return a.finishRun(ctx, nil)
		}
		backoff = min(backoff*2, a.cfg.scaled(a.cfg.ListenerBackoffMax))
	}
	a.log.Info("agent started", "site", a.site, "version", a.agentVersion())
	a.cfg.emit(Event{Kind: EventStarted})

	var wg sync.WaitGroup
	loops := []func(context.Context){a.heartbeatLoop, a.commandLoop, a.worker}
	if a.cfg.ConfigSync {
		loops = append(loops, a.configLoop)
	}
	if a.cfg.Housekeeping {
		loops = append(loops, a.housekeepingLoop)
	}
	if a.cfg.Inventory {
		loops = append(loops, func(ctx context.Context) {
			if err := a.syncInventory(ctx, true); err != nil {
				a.failed("inventory sync", err)
			}
		})
	}
	for _, f := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	<-ctx.Done()
	return a.finishRun(ctx, &wg)
}

func (a *Agent) finishRun(ctx context.Context, wg *sync.WaitGroup) error {
	if wg != nil {
		wg.Wait()
	}
	a.fxMu.Lock()
	for _, c := range []context.CancelFunc{a.reboot, a.liveView} {
		if c != nil {
			c()
		}
	}
	a.fxMu.Unlock()
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrUnpaired) || a.Wiped() {
		a.log.Error("agent stopped: credentials revoked, re-pairing required")
		a.cfg.emit(Event{Kind: EventStopped, Err: ErrUnpaired})
		return ErrUnpaired
	}
	a.cleanStop()
	a.log.Info("agent stopped")
	a.cfg.emit(Event{Kind: EventStopped})
	return nil
}

// cleanStop logs agent_stopped and writes online:false with lastHeartbeat
// (merge, up to 3 tries), as the service does on a clean stop.
func (a *Agent) cleanStop() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if a.cfg.EventLog {
		if err := a.logEvent(ctx, "agent_stopped", "info", "", "Agent stopped"); err != nil {
			a.failed("log agent_stopped", err)
		}
	}
	w := a.fs.MergeWrite(a.machinePath(), Leaves(nil, map[string]any{"online": false, "lastHeartbeat": ServerTimestamp}))
	for i := 0; i < 3; i++ {
		err := a.fs.Commit(ctx, "offline", w)
		if err == nil {
			return
		}
		a.failed("offline write", err)
		if errors.Is(err, ErrUnpaired) {
			return
		}
	}
}

// startup is datamodel.md §5.1 steps 2–7.
func (a *Agent) startup(ctx context.Context) error {
	site, err := a.fs.Get(ctx, "get-site", "sites/"+a.site)
	if err != nil {
		return fmt.Errorf("read site: %w", err)
	}
	if site != nil {
		a.log.Debug("site timezone", "timezone", site.Fields["timezone"])
	}
	if a.cfg.ConfigSync {
		if err := a.syncConfigOnStartup(ctx); err != nil {
			return err
		}
	} else {
		a.m.applyConfig(defaultProcesses(a.cfg.MachineID))
	}
	presence := a.fs.MergeWrite(a.machinePath(), Leaves(nil, map[string]any{
		"online": true, "lastHeartbeat": ServerTimestamp, "machineId": a.cfg.MachineID, "siteId": a.site,
	}))
	if err := a.fs.Commit(ctx, "presence", presence); err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	if err := a.uploadMetrics(ctx); err != nil {
		return err
	}
	completed, err := a.fs.Get(ctx, "get-completed", a.completedPath())
	if err != nil {
		return fmt.Errorf("read completed: %w", err)
	}
	if completed != nil {
		for k := range completed.Fields {
			a.seen[k] = true
		}
	}
	if a.cfg.ClearFlagsOnStart {
		// Three whole-document replaces (PATCH without a mask), as the real
		// agent's set_machine_flag / clear_reboot_pending do; the next
		// metrics upload restores the rest of the document.
		for _, flag := range []map[string]any{
			{"rebooting": false},
			{"shuttingDown": false},
			{"rebootPending": map[string]any{"active": false, "processName": nil, "reason": nil, "timestamp": nil}},
		} {
			if err := a.fs.Replace(ctx, "flag", a.machinePath(), flag); err != nil {
				return fmt.Errorf("clear flags: %w", err)
			}
		}
	}
	if a.cfg.EventLog {
		if err := a.logEvent(ctx, "agent_started", "info", "", fmt.Sprintf("Agent %s started", a.agentVersion())); err != nil {
			return fmt.Errorf("log agent_started: %w", err)
		}
	}
	return nil
}

// syncConfigOnStartup pulls the config doc, or seeds it with the local
// config (minus `firebase`) when it has no processes.
func (a *Agent) syncConfigOnStartup(ctx context.Context) error {
	doc, err := a.fs.Get(ctx, "get-config", a.configPath())
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if doc != nil {
		if procs, ok := doc.Fields["processes"].([]any); ok {
			a.m.applyConfig(procs)
			a.configHash = hashJSON(doc.Fields)
			a.log.Info("config pulled", "processes", len(procs))
			return nil
		}
	}
	local := localConfig(a.cfg.MachineID)
	if err := a.fs.Replace(ctx, "seed-config", a.configPath(), local); err != nil {
		return fmt.Errorf("seed config: %w", err)
	}
	a.m.applyConfig(local["processes"].([]any))
	// Remember our own upload so the listener does not apply it again.
	if doc, err = a.fs.Get(ctx, "get-config", a.configPath()); err == nil && doc != nil {
		a.configHash = hashJSON(doc.Fields)
		a.uploadedHash = a.configHash
	}
	a.log.Info("config seeded")
	return nil
}

// uploadMetrics is the heartbeat (§5.2): one :commit updating online,
// lastHeartbeat (server time), agent_version, machine_timezone, machineId,
// siteId, metrics.cpu/memory/disk/gpu/network, metrics.processes (replaced
// whole) and the top-level field literally named "metrics.timestamp".
func (a *Agent) uploadMetrics(ctx context.Context) error {
	met := a.m.metrics()
	ups := []Update{
		{FieldPath{"online"}, true},
		{FieldPath{"lastHeartbeat"}, ServerTimestamp},
		{FieldPath{"agent_version"}, a.agentVersion()},
		{FieldPath{"machine_timezone"}, a.cfg.Timezone},
		{FieldPath{"machineId"}, a.cfg.MachineID},
		{FieldPath{"siteId"}, a.site},
	}
	for _, k := range []string{"cpu", "memory", "disk", "gpu", "network"} {
		ups = append(ups, Update{FieldPath{"metrics", k}, met[k]})
	}
	ups = append(ups,
		Update{FieldPath{"metrics.timestamp"}, ServerTimestamp},
		Update{FieldPath{"metrics", "processes"}, a.m.processesMap()},
	)
	if err := a.fs.Commit(ctx, "heartbeat", a.fs.MergeWrite(a.machinePath(), ups)); err != nil {
		return fmt.Errorf("metrics upload: %w", err)
	}
	return nil
}

// Heartbeat uploads metrics at once (what the agent does after a command).
func (a *Agent) Heartbeat() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *Agent) heartbeatLoop(ctx context.Context) {
	t := time.NewTimer(a.cfg.scaled(a.cfg.FirstHeartbeatDelay))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.kick:
		}
		err := a.uploadMetrics(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.failed("heartbeat", err)
			a.cfg.emit(Event{Kind: EventHeartbeatFailed, Err: err})
		} else {
			a.cfg.emit(Event{Kind: EventHeartbeat})
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(a.cfg.scaled(a.cfg.HeartbeatInterval))
	}
}
