package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/owlette/server/shared/background"
	"github.com/owlette/server/shared/routes"
)

// Runtime settings shared by every function. They are deploy policy, not
// per-route data, so they live here rather than in the routes table.
const (
	goRuntime     = "go126"
	concurrency   = 80
	cpu           = "1"
	memory        = "512Mi"
	minInstances  = 0
	defaultRegion = "us-central1"
	defaultMaxIns = 10
)

// secretEnv lists the environment variables filled from Secret Manager by
// reference (--set-secrets NAME=<secret-id>:latest). The secret id defaults to
// the lower-kebab form of the name (SESSION_SECRET -> session-secret) and can
// be overridden with -secret NAME=id[:version].
var secretEnv = []string{
	"SESSION_SECRET",
	"MFA_ENCRYPTION_KEY",
	"LLM_ENCRYPTION_KEY",
	"CRON_SECRET",
	"CORTEX_INTERNAL_SECRET",
	"RESEND_API_KEY",
	"FIREBASE_API_KEY",
}

// Kind says how a function is triggered.
type Kind int

const (
	// HTTP functions come from routes.Functions and sit behind Hosting.
	HTTP Kind = iota
	// Firestore functions are Eventarc-triggered by document changes.
	Firestore
	// Scheduled functions are HTTP functions that only Cloud Scheduler
	// calls, at their own URL (not behind Hosting). They are deployed
	// without public access: Cloud Run lets the scheduler's OIDC identity
	// in (invoker binding) and the function verifies the token again.
	Scheduled
)

// Target is one deployable Cloud Function, whatever its trigger.
type Target struct {
	Name    string // function name = Cloud Run service id = registered entry point
	Package string // module-relative package dir, e.g. "functions/sites"
	Timeout int    // seconds
	Kind    Kind

	// Firestore triggers only.
	EventType string // e.g. "google.cloud.firestore.document.v1.written"
	Database  string // Firestore database id, "(default)" when empty
	Document  string // document path pattern, e.g. "sites/{siteId}/webhook_queue/{id}"
	Retry     bool   // redeliver on failure
}

// EventFunctions are the Firestore-triggered functions, from the shared
// table (shared/background), which the dev server also delivers locally.
// Adding one is one entry there; the package registers its entry point with
// functions.CloudEvent(Name, fn) in init, like the HTTP functions do with
// functions.HTTP. Deploying them needs -firestore-location (the database
// location, e.g. nam5 or eur3), which is the Eventarc trigger location.
var EventFunctions = eventFunctions()

func eventFunctions() []Target {
	var ts []Target
	for _, t := range background.Triggers {
		ts = append(ts, Target{Name: t.Name, Package: t.Package, Timeout: t.Timeout, Kind: Firestore,
			EventType: t.EventType, Document: t.Document, Retry: t.Retry})
	}
	return ts
}

// ScheduledFunctions are the functions Cloud Scheduler calls directly, from
// shared/background; each gets a job in SchedulerJobs. Deploying them needs
// -scheduler-service-account (the jobs' OIDC identity).
var ScheduledFunctions = scheduledFunctions()

func scheduledFunctions() []Target {
	var ts []Target
	for _, s := range background.Schedules {
		ts = append(ts, Target{Name: s.Name, Package: s.Package, Timeout: s.Timeout, Kind: Scheduled})
	}
	return ts
}

// SchedulerJob is one Cloud Scheduler job calling an HTTP path of the API.
type SchedulerJob struct {
	Name     string // job id
	Schedule string // unix-cron, e.g. "*/5 * * * *"
	TimeZone string // IANA zone; "Etc/UTC" when empty
	Path     string // /api/... path; must be routed by routes.Functions
	Function string // or: a Scheduled function, called at its own URL
	Method   string // GET or POST; GET when empty
}

// SchedulerJobs are created (or updated) by the functions deploy: one per
// scheduled function of shared/background, plus any /api path listed in
// extraJobs. A job calls its function's URL (Function) or <-base-url><Path>,
// with an OIDC token of -scheduler-service-account when one is given
// (always, for a Function job).
//
// Example of an /api job:
//
//	{Name: "health-check", Schedule: "*/5 * * * *", Path: "/api/cron/health-check"},
var SchedulerJobs = append(scheduleJobs(), extraJobs...)

var extraJobs = []SchedulerJob{}

func scheduleJobs() []SchedulerJob {
	var jobs []SchedulerJob
	for _, s := range background.Schedules {
		jobs = append(jobs, SchedulerJob{Name: s.Name, Schedule: s.Cron, Function: s.Name, Method: s.Method})
	}
	return jobs
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$`)

// Targets returns every deployable function: the HTTP functions of the routes
// table in table order, then the event functions, then the scheduled ones.
func Targets() []Target {
	var ts []Target
	for _, f := range routes.Functions {
		ts = append(ts, Target{Name: f.Name, Package: f.Package, Timeout: f.Timeout, Kind: HTTP})
	}
	ts = append(ts, EventFunctions...)
	return append(ts, ScheduledFunctions...)
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
			if _, ok := routes.Lookup(j.Path); !ok {
				return fmt.Errorf("scheduler job %q: path %q is not routed by shared/routes", j.Name, j.Path)
			}
		}
	}
	return nil
}

// kebab turns SESSION_SECRET into session-secret.
func kebab(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}
