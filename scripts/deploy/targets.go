package main

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
)

// Runtime settings shared by every function. They are deploy policy, not
// per-function data, so they live here rather than in the registry.
const (
	goRuntime     = "go126"
	concurrency   = 80
	cpu           = "1"
	minInstances  = 0
	defaultRegion = "us-central1"
	defaultMaxIns = 10
)

// Environment of the functions that declare the Scheduler group, set by the
// deploy: the identity and audience of the Cloud Scheduler job's OIDC token,
// which guard.Cron verifies (shared/config reads them).
const (
	EnvServiceAccount = config.EnvSchedulerAccount
	EnvAudience       = config.EnvSchedulerAudience
)

// secretEnv lists the environment variables filled from Secret Manager by
// reference (--set-secrets NAME=<secret-id>:latest); each function gets only
// those of the configuration groups its fn.Spec declares. The secret id
// defaults to the lower-kebab form of the name (SESSION_SECRET ->
// session-secret) and can be overridden with -secret NAME=id[:version].
var secretEnv = config.AllSecrets

// Kind says how a function is triggered.
type Kind = fn.Kind

// The kinds of functions (shared/fn).
const (
	HTTP      = fn.HTTP
	Firestore = fn.Firestore
	Scheduled = fn.Scheduled
)

// Target is one deployable Cloud Function, whatever its trigger.
type Target struct {
	Name    string // function name = Cloud Run service id = registered entry point
	Package string // module-relative package dir, e.g. "functions/sites"
	Timeout int    // seconds
	Memory  string
	Config  config.Groups // the configuration it reads: its variables and secrets
	Secrets []string      // Config's secrets
	Kind    Kind

	// Firestore triggers only.
	EventType string // e.g. "google.cloud.firestore.document.v1.written"
	Database  string // Firestore database id, "(default)" when empty
	Document  string // document path pattern, e.g. "sites/{siteId}/webhook_queue/{id}"
	Retry     bool   // redeliver on failure
}

// target is a registry entry as deploy sees it.
func target(s fn.Spec) Target {
	mem := s.Memory
	if mem == "" {
		mem = fn.DefaultMemory
	}
	return Target{Name: s.Name, Package: s.Package(), Timeout: int(s.Timeout / time.Second), Memory: mem,
		Config: s.Config, Secrets: s.Secrets(), Kind: s.Kind, EventType: s.EventType, Document: s.Document, Retry: s.Retry}
}

// SchedulerJob is one Cloud Scheduler job calling an HTTP path of the API.
type SchedulerJob struct {
	Name     string // job id
	Schedule string // unix-cron, e.g. "*/5 * * * *"
	TimeZone string // IANA zone; "Etc/UTC" when empty
	Path     string // /api/... path; must be routed by the registry
	Function string // or: a Scheduled function, called at its own URL
	Method   string // GET or POST; GET when empty
}

// SchedulerJobs are created (or updated) by the functions deploy: one per
// scheduled function of the registry, plus any /api path listed in
// extraJobs. A job calls its function's URL (Function) or <-base-url><Path>,
// with an OIDC token of -scheduler-service-account when one is given
// (always, for a Function job).
var SchedulerJobs = append(scheduleJobs(), extraJobs...)

var extraJobs = []SchedulerJob{}

func scheduleJobs() []SchedulerJob {
	var jobs []SchedulerJob
	for _, s := range registry.Of(fn.Scheduled) {
		jobs = append(jobs, SchedulerJob{Name: s.Name, Schedule: s.Cron, Function: s.Name, Method: s.Method})
	}
	return jobs
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$`)

// Targets returns every deployable function of the registry: the HTTP
// functions in Hosting order, then the event functions, then the scheduled
// ones.
func Targets() []Target {
	var ts []Target
	for _, k := range []fn.Kind{fn.HTTP, fn.Firestore, fn.Scheduled} {
		for _, s := range registry.Of(k) {
			ts = append(ts, target(s))
		}
	}
	return ts
}

// validateTables checks the invariants deploy relies on: names usable as Cloud
// Run service ids (Hosting's serviceId is the function name), unique names,
// packages under functions/, timeouts in range, scheduler paths routed.
func validateTables(ts []Target, jobs []SchedulerJob) error {
	seen := map[string]bool{}
	for _, t := range ts {
		if !nameRE.MatchString(t.Name) {
			return fmt.Errorf("function %q: name must be lower-case letters, digits and '-' (it is the Cloud Run service id)", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("function %q listed twice", t.Name)
		}
		seen[t.Name] = true
		if !strings.HasPrefix(t.Package, "functions/") || strings.Contains(t.Package, "..") {
			return fmt.Errorf("function %q: package %q must be under functions/", t.Name, t.Package)
		}
		max := 3600
		if t.Kind == Firestore {
			max = 540
		}
		if t.Timeout <= 0 || t.Timeout > max {
			return fmt.Errorf("function %q: timeout %ds out of range (1..%d)", t.Name, t.Timeout, max)
		}
		if t.Kind == Firestore && (t.EventType == "" || t.Document == "") {
			return fmt.Errorf("function %q: Firestore trigger needs EventType and Document", t.Name)
		}
		for _, sec := range t.Secrets {
			if !contains(secretEnv, sec) {
				return fmt.Errorf("function %q: unknown secret %q", t.Name, sec)
			}
		}
		if t.Kind == Scheduled && !t.Config.Has(config.Cron|config.Scheduler) {
			return fmt.Errorf("function %q is called by Cloud Scheduler: its configuration must include config.Cron and config.Scheduler (it has %v)", t.Name, t.Config)
		}
		if t.Kind != Scheduled && t.Config.Has(config.Scheduler) {
			return fmt.Errorf("function %q: only scheduled functions (called at their own URL, the OIDC audience) take config.Scheduler", t.Name)
		}
	}
	scheduled := map[string]bool{}
	for _, t := range ts {
		if t.Kind == Scheduled {
			scheduled[t.Name] = true
		}
	}
	jobSeen := map[string]bool{}
	for _, j := range jobs {
		if !nameRE.MatchString(j.Name) || jobSeen[j.Name] {
			return fmt.Errorf("scheduler job %q: invalid or duplicate name", j.Name)
		}
		jobSeen[j.Name] = true
		if j.Schedule == "" {
			return fmt.Errorf("scheduler job %q: empty schedule", j.Name)
		}
		switch {
		case j.Function != "" && j.Path != "":
			return fmt.Errorf("scheduler job %q: give Path or Function, not both", j.Name)
		case j.Function != "":
			if !scheduled[j.Function] {
				return fmt.Errorf("scheduler job %q: %q is not a scheduled function", j.Name, j.Function)
			}
		default:
			if _, ok := registry.Lookup(j.Path); !ok {
				return fmt.Errorf("scheduler job %q: path %q is not routed by the registry", j.Name, j.Path)
			}
		}
	}
	return nil
}

// kebab turns SESSION_SECRET into session-secret.
func kebab(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}
