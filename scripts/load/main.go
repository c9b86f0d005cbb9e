// Command load is the load run of the owlette server (issue 14): N simulated
// agents (device-code pairing, token refresh, heartbeats every 30 s, command
// polling, config polling, alerts) plus dashboard and API-key traffic
// (machines, processes, commands with and without wait, deployments) against
// a dev server it starts itself, for a steady phase of -duration, optionally
// with faults. It prints p50/p99 and statuses per endpoint, errors, lost
// work (commands sent but never finished, deployments that never ended,
// alerts never delivered to the webhook), the server's CPU and RSS, and the
// Firestore operations per minute.
//
//	make load AGENTS=100 DURATION=10m FAULTS=on
//	go run ./scripts/stack run --dev-env -- go run ./scripts/load -agents 100 -duration 10m -faults all
//
// How it is wired, so that it can inject faults without disturbing anyone
// else using the shared emulators:
//
//   - the dev server (scripts/devserver, built and started as a child
//     process, so it can be killed and its CPU and RSS read from /proc) runs
//     in a project of its own (demo-load-<random>, deleted afterwards);
//   - the server and the agents reach Firestore through a TCP proxy, and the
//     server reaches Auth through another: a fault resets every connection
//     and refuses new ones for a while. "Firestore killed and restarted" is
//     modelled that way: killing the shared emulator would wipe everyone's
//     data and break concurrent tests;
//   - the proxies count what passes: gRPC calls of the server by method
//     (HTTP/2 streams, HPACK-decoded :path) and the agents' REST requests;
//   - change events reach the server through a local stand-in for Eventarc
//     (relay.go) that retries failed deliveries as production's triggers do
//     (--retry); the local chain alone would drop them;
//   - the webhook target is a receiver in this process, which can go down.
//
// Faults (-faults all, or a list), placed at fixed fractions of the steady
// phase: webhook target down (from 10 %, -webhook-down), Firestore
// unreachable (at 25 %, -firestore-down), Auth unreachable (at 45 %,
// -auth-down; 20 agents are made to refresh while it is down and must get
// 503 and keep their credentials), dev server killed with SIGKILL and started
// again (at 70 %, -restart-after).
//
// A failure counts as expected only when it is retryable (503, 504, or a
// connection error) and overlaps a fault that causes it (plus -grace); any
// other non-2xx answer (a 401/403 to a valid credential, a 429, a 500) is an
// error of the run. The exit status is 1 when the run has errors or lost
// anything.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseOptions(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	o.Progress = os.Stderr
	rep, err := Run(ctx, *o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	rep.Fprint(os.Stdout)
	if !rep.Pass() {
		os.Exit(1)
	}
}

func parseOptions(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	faults := fs.String("faults", "none", "faults to inject: none, all, or a list of "+fmt.Sprint(allFaults))
	fs.IntVar(&o.Agents, "agents", 50, "simulated agents")
	fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "steady phase (after the ramp)")
	fs.DurationVar(&o.Ramp, "ramp", time.Minute, "time over which the agents are paired and started")
	fs.IntVar(&o.Operators, "operators", 0, "dashboard/API-key operators (0: 2 + agents/25)")
	fs.DurationVar(&o.Think, "think", 3*time.Second, "an operator's pause between actions (±50 %)")
	fs.DurationVar(&o.AlertEvery, "alert-every", 15*time.Second, "one agent raises a process-crash alert this often (0: none)")
	fs.Float64Var(&o.TokenScale, "token-scale", 12, "agent token lifetime compression (12: a refresh every ~4.6 min instead of ~55)")
	fs.DurationVar(&o.Drain, "drain", 0, "max wait after the steady phase for open work to finish (0: 2m, 10m with faults)")
	fs.DurationVar(&o.Grace, "grace", time.Minute, "failures this long after a fault ends are still attributed to it")
	fs.DurationVar(&o.FirestoreDown, "firestore-down", 45*time.Second, "Firestore outage length")
	fs.DurationVar(&o.AuthDown, "auth-down", time.Minute, "Auth outage length")
	fs.DurationVar(&o.WebhookDown, "webhook-down", 5*time.Minute, "webhook target outage length")
	fs.DurationVar(&o.ServerDown, "restart-after", 2*time.Second, "time between killing the dev server and starting it again")
	fs.StringVar(&o.Bin, "bin", "", "dev server binary (built from ./scripts/devserver when empty)")
	fs.StringVar(&o.Out, "out", "", "directory for logs and report.json (default .stack/load)")
	fs.StringVar(&o.Project, "project", "", "project id (default demo-load-<random>)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the run's data in the emulators")
	fs.StringVar(&o.ServerLogLevel, "server-log", "info", "dev server LOG_LEVEL")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if o.Faults, err = parseFaults(*faults); err != nil {
		fmt.Fprintln(stderr, err)
		return nil, err
	}
	if o.Agents < 1 || o.Duration <= 0 {
		err := fmt.Errorf("-agents must be ≥ 1 and -duration > 0")
		fmt.Fprintln(stderr, err)
		return nil, err
	}
	if o.Drain == 0 {
		o.Drain = 2 * time.Minute
		if len(o.Faults) > 0 {
			o.Drain = 10 * time.Minute
		}
	}
	return o, nil
}
