// Package fn describes one deployable Cloud Function: its name, how it is
// triggered (HTTP routes behind Firebase Hosting, a Firestore trigger, or a
// Cloud Scheduler job), its code (a route group's Register or a trigger's
// handler) and its deploy settings (timeout, memory, the configuration it
// reads).
//
// Each function package declares its Spec and serves it from init; the
// registry (functions/registry) lists every Spec once, and the Hosting
// rewrites, the dev server, the deploy tool and the tests all read that
// list, so a function exists exactly when its package does.
package fn

import (
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/trigger"
)

// Kind says how a function is called.
type Kind int

const (
	// HTTP functions serve /api routes behind Firebase Hosting.
	HTTP Kind = iota
	// Firestore functions are Eventarc-triggered by document changes.
	Firestore
	// Scheduled functions are HTTP functions only Cloud Scheduler calls, at
	// their own URL, authenticated with guard.Cron.
	Scheduled
)

func (k Kind) String() string { return [...]string{"http", "firestore", "scheduled"}[k] }

// Spec is one deployable function.
type Spec struct {
	// Name is the Cloud Run service id, the registered entry point and, for
	// schedules, the Scheduler job id.
	Name string
	Kind Kind

	// Paths are the Hosting rewrite globs of an HTTP function ("**" matches
	// the rest of the path); more specific globs of all functions must come
	// before broader ones in the registry.
	Paths []string
	// Register adds an HTTP or scheduled function's routes.
	Register app.Register

	// Handle, EventType, Document and Retry describe a Firestore trigger:
	// google.cloud.firestore.document.v1.written|created|updated|deleted on
	// a path pattern ({name} wildcards, one segment each).
	Handle    trigger.Handler
	EventType string
	Document  string
	Retry     bool

	// Cron is a scheduled function's unix-cron schedule ("*/5 * * * *");
	// Method what the job sends.
	Cron   string
	Method string

	// Timeout is the request timeout; Memory the instance memory ("" means
	// DefaultMemory).
	Timeout time.Duration
	Memory  string
	// Config is the configuration the function reads (shared/config): only
	// those groups are loaded at cold start and only their secrets are
	// required in production; the others are absent. Deploy passes the
	// function only their variables and secrets (DECISIONS §4).
	Config config.Groups
}

// Secrets are the secret variables of the function's configuration, which
// deploy passes by reference (--set-secrets).
func (s Spec) Secrets() []string { return s.Config.Secrets() }

// DefaultMemory is a function's memory unless its Spec says otherwise.
const DefaultMemory = "512Mi"

// Serve registers the function with functions-framework (call it from the
// package's init), declaring its configuration. On Cloud Run a function
// whose configuration is invalid, or lacks one of its secrets, refuses to
// start.
func (s Spec) Serve() {
	config.Declare(s.Config)
	app.MustStartOnCloudRun()
	switch s.Kind {
	case HTTP, Scheduled:
		functions.HTTP(s.Name, app.Function(s.Register))
	case Firestore:
		functions.CloudEvent(s.Name, trigger.Function(s.Handle))
	}
}

// Package is the module-relative directory of the function's code
// ("functions/sites"), read from its Register or Handle, so it cannot name
// a package that does not exist.
func (s Spec) Package() string {
	var f any = s.Register
	if s.Kind == Firestore {
		f = s.Handle
	}
	v := reflect.ValueOf(f)
	if !v.IsValid() || v.IsNil() {
		return ""
	}
	name := runtime.FuncForPC(v.Pointer()).Name() // github.com/owlette/server/functions/sites.Register
	const module = "github.com/owlette/server/"
	name = strings.TrimPrefix(name, module)
	if i := strings.LastIndex(name, "/"); i >= 0 {
		if j := strings.Index(name[i:], "."); j >= 0 {
			return name[:i+j]
		}
	}
	return name
}

// Every is a scheduled function's period, for the local scheduler.
func (s Spec) Every() (time.Duration, error) { return CronPeriod(s.Cron) }

// CronPeriod returns the period of a "*/N * * * *" (every N minutes) or
// "M * * * *" (hourly) unix-cron schedule: the shapes the local scheduler
// can follow. Others are an error.
func CronPeriod(cron string) (time.Duration, error) {
	f := strings.Fields(cron)
	if len(f) != 5 || f[1] != "*" || f[2] != "*" || f[3] != "*" || f[4] != "*" {
		return 0, fmt.Errorf("schedule %q: only \"*/N * * * *\" and \"M * * * *\" are supported locally", cron)
	}
	if n, ok := strings.CutPrefix(f[0], "*/"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 || v > 59 {
			return 0, fmt.Errorf("schedule %q: bad minute step", cron)
		}
		return time.Duration(v) * time.Minute, nil
	}
	if v, err := strconv.Atoi(f[0]); err == nil && v >= 0 && v <= 59 {
		return time.Hour, nil
	}
	return 0, fmt.Errorf("schedule %q: bad minute field", cron)
}
