// Command agentsim runs simulated owlette Windows agents that speak the real
// protocol: device-code pairing (or registration codes), ID-token refresh,
// heartbeats and command execution through the Firestore REST API with each
// agent's own token, so the security rules apply.
//
//	go run ./scripts/agentsim -api http://127.0.0.1:18080/api -n 3 -site demo-site -login admin@owlette.local:owlette-admin
//
// Pairing, first match wins:
//
//	-registration-code C1,C2 / -pair-code-from FILE   one registration code per agent (E14)
//	-authorize-cookie VALUE|@cookies.txt               approve each phrase for -site with that session (X02)
//	-login EMAIL:PASSWORD                              sign in (Auth emulator when FIREBASE_AUTH_EMULATOR_HOST is set), then as above
//	(none)                                             print each pair phrase and wait for someone to approve it on the dashboard
//
// -state DIR keeps the credentials, so the next run skips pairing. -scale
// compresses time (heartbeats, polls, token lifetime). -ramp 50,100,200
// runs a load test: it grows the fleet step by step and prints request
// latency and error rates per step. Ctrl-C stops every agent cleanly
// (online:false).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/owlette/server/scripts/agentsim/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "agentsim:", err)
		stop()
		os.Exit(1)
	}
}

type options struct {
	api, site, project, firestore, version, timezone string
	n                                                int
	names, prefix                                    string
	heartbeat                                        time.Duration
	scale, tokenScale                                float64
	cookie, login, webAPIKey, codes, codesFrom       string
	stateDir                                         string
	distinctIPs                                      bool
	pairConc                                         int
	duration                                         time.Duration
	logJSON, verbose                                 bool
	ramp                                             string
	step                                             time.Duration
	noConfig, noInventory, noEventLog                bool
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	flag := flag.NewFlagSet("agentsim", flag.ContinueOnError)
	flag.SetOutput(stderr)
	flag.StringVar(&o.api, "api", "http://127.0.0.1:18080/api", "owlette API root")
	flag.IntVar(&o.n, "n", 3, "number of agents")
	flag.StringVar(&o.names, "names", "", "comma-separated machine names (default <prefix>1..<prefix>n)")
	flag.StringVar(&o.prefix, "prefix", "SIM-", "machine name prefix")
	flag.StringVar(&o.site, "site", "demo-site", "site to authorize pair phrases for (-authorize-cookie, -login)")
	flag.StringVar(&o.project, "project", sim.DefaultProject(), "Firebase project id (default $GOOGLE_CLOUD_PROJECT)")
	flag.StringVar(&o.firestore, "firestore", sim.DefaultFirestoreURL(), "Firestore REST host (default http://$FIRESTORE_EMULATOR_HOST, else production)")
	flag.StringVar(&o.version, "version", "2.6.0", "agent version to report")
	flag.StringVar(&o.timezone, "timezone", "Pacific Standard Time", "machine_timezone (a Windows zone name)")
	flag.DurationVar(&o.heartbeat, "heartbeat", 30*time.Second, "metrics upload interval (before -scale)")
	flag.Float64Var(&o.scale, "scale", 1, "time compression: every interval and the token lifetime are divided by it")
	flag.Float64Var(&o.tokenScale, "token-scale", 0, "compress the token lifetime, refresh lead and backoff by this instead of -scale")
	flag.StringVar(&o.cookie, "authorize-cookie", "", "approve pair phrases with this __session cookie (value, name=value, or @cookies.txt)")
	flag.StringVar(&o.login, "login", "", "EMAIL:PASSWORD: sign in and approve pair phrases with that session")
	flag.StringVar(&o.webAPIKey, "firebase-api-key", envOr("FIREBASE_API_KEY", "fake-api-key"), "web API key for -login")
	flag.StringVar(&o.codes, "registration-code", "", "comma-separated registration codes, one per agent (E14 exchange)")
	flag.StringVar(&o.codesFrom, "pair-code-from", "", "file with one registration code per line ('-' = stdin)")
	flag.StringVar(&o.stateDir, "state", "", "directory keeping each agent's credentials between runs")
	flag.BoolVar(&o.distinctIPs, "distinct-ips", false, "send X-Forwarded-For 10.x.y.z per agent (local load tests: per-IP rate limits)")
	flag.IntVar(&o.pairConc, "pair-concurrency", 8, "simultaneous pairings")
	flag.DurationVar(&o.duration, "duration", 0, "stop after this long (0 = until Ctrl-C)")
	flag.BoolVar(&o.logJSON, "log-json", false, "JSON logs")
	flag.BoolVar(&o.verbose, "v", false, "debug logs")
	flag.StringVar(&o.ramp, "ramp", "", "load test: comma-separated fleet sizes, e.g. 50,100,200,500")
	flag.DurationVar(&o.step, "step", time.Minute, "load test: how long each -ramp step runs")
	flag.BoolVar(&o.noConfig, "no-config-sync", false, "do not read/seed/poll the config doc")
	flag.BoolVar(&o.noInventory, "no-inventory", false, "do not sync installed_software")
	flag.BoolVar(&o.noEventLog, "no-event-log", false, "do not write sites/{s}/logs entries")
	if err := flag.Parse(args); err != nil {
		return nil, err
	}
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", flag.Args())
	}
	return o, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	lvl := slog.LevelInfo
	if o.verbose {
		lvl = slog.LevelDebug
	}
	var h slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})
	if o.logJSON {
		h = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl})
	}
	log := slog.New(h)

	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}

	base := sim.Defaults("")
	base.API, base.ProjectID, base.FirestoreURL = o.api, o.project, o.firestore
	base.Version, base.Timezone, base.Scale, base.HeartbeatInterval = o.version, o.timezone, o.scale, o.heartbeat
	base.TokenScale = o.tokenScale
	base.Log = log
	base.ConfigSync, base.Inventory, base.EventLog = !o.noConfig, !o.noInventory, !o.noEventLog
	stats := sim.NewStats()
	base.Stats = stats
	if o.ramp != "" {
		base.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: max(lvl, slog.LevelWarn)}))
	}

	pair, err := pairing(ctx, o, base)
	if err != nil {
		return err
	}
	fleet := &sim.Fleet{Base: base, Pair: pair, PairConcurrency: o.pairConc, DistinctIPs: o.distinctIPs, StateDir: o.stateDir}

	if o.ramp != "" {
		return ramp(ctx, o, fleet, stats, stdout)
	}
	names := machineNames(o, 0, o.n)
	log.Info("starting agents", "count", len(names), "api", o.api, "firestore", o.firestore, "project", o.project)
	if err := fleet.Add(ctx, names); err != nil {
		log.Error("pairing failed", "error", err.Error())
		if fleet.Len() == 0 {
			fleet.Stop()
			return err
		}
	}
	done := make(chan []error, 1)
	go func() { done <- fleet.Wait() }()
	var errs []error
	select {
	case <-ctx.Done():
		log.Info("stopping agents")
		errs = fleet.Stop()
	case errs = <-done:
	}
	for _, e := range errs {
		log.Error("agent stopped", "error", e.Error())
	}
	if len(errs) > 0 && len(errs) == fleet.Len() {
		return errors.New("every agent stopped with an error")
	}
	return nil
}

func machineNames(o *options, from, to int) []string {
	if o.names != "" {
		all := strings.Split(o.names, ",")
		var out []string
		for i := from; i < to && i < len(all); i++ {
			out = append(out, strings.TrimSpace(all[i]))
		}
		return out
	}
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, o.prefix+strconv.Itoa(i+1))
	}
	return out
}

// pairing picks the pairing method from the flags.
func pairing(ctx context.Context, o *options, base sim.Config) (sim.PairFunc, error) {
	codes, err := registrationCodes(o)
	if err != nil {
		return nil, err
	}
	switch {
	case len(codes) > 0:
		return sim.CodePairing(codes), nil
	case o.cookie != "":
		c, err := sim.ReadCookieArg(o.cookie)
		if err != nil {
			return nil, err
		}
		return sim.CookiePairing(c, o.site), nil
	case o.login != "":
		email, password, ok := strings.Cut(o.login, ":")
		if !ok {
			return nil, errors.New("-login wants EMAIL:PASSWORD")
		}
		c, err := sim.SignInCookie(ctx, nil, o.api, sim.IdentityToolkitBase(), o.webAPIKey, email, password)
		if err != nil {
			return nil, err
		}
		return sim.CookiePairing(c, o.site), nil
	default:
		base.Log.Info("no approver given: approve each pair phrase on the dashboard (/add) within 10 minutes")
		return sim.DeviceCodePairing(nil), nil
	}
}

func registrationCodes(o *options) ([]string, error) {
	var codes []string
	for _, c := range strings.Split(o.codes, ",") {
		if c = strings.TrimSpace(c); c != "" {
			codes = append(codes, c)
		}
	}
	if o.codesFrom == "" {
		return codes, nil
	}
	f := os.Stdin
	if o.codesFrom != "-" {
		var err error
		if f, err = os.Open(o.codesFrom); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if c := strings.TrimSpace(sc.Text()); c != "" && !strings.HasPrefix(c, "#") {
			codes = append(codes, c)
		}
	}
	return codes, sc.Err()
}

// ramp grows the fleet through the sizes of -ramp, and prints each step's
// request figures (client side: every agent's API and Firestore calls).
func ramp(ctx context.Context, o *options, fleet *sim.Fleet, stats *sim.Stats, out io.Writer) error {
	defer fleet.Stop()
	hb := time.Duration(float64(o.heartbeat) / max(o.scale, 1e-9))
	for _, s := range strings.Split(o.ramp, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-ramp: bad size %q", s)
		}
		if have := fleet.Len(); n > have {
			start := time.Now()
			stats.Reset()
			if err := fleet.Add(ctx, machineNames(o, have, n)); err != nil {
				return err
			}
			fmt.Fprintf(out, "\n== paired %d agents in %s\n", n-have, time.Since(start).Round(time.Millisecond))
			stats.Fprint(out)
		}
		stats.Reset()
		if err := sleepCtx(ctx, o.step); err != nil {
			return nil
		}
		hbSum := stats.Get("heartbeat")
		expected := float64(n) * o.step.Seconds() / hb.Seconds()
		fmt.Fprintf(out, "\n== %d agents, %s (heartbeat every %s: %.0f expected, %d written, %.2f%% errors)\n",
			n, o.step, hb, expected, hbSum.OK, 100*hbSum.ErrorRate())
		stats.Fprint(out)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
