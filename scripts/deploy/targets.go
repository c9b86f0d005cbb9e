package main

import (
	"fmt"
	"regexp"
	"strings"

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

// EventFunctions are the Firestore-triggered functions. Adding one is one
// entry here; the package registers its entry point with
// functions.CloudEvent(Name, fn) in init, like the HTTP functions do with
// functions.HTTP. Deploying them needs -firestore-location (the database
// location, e.g. nam5 or eur3), which is the Eventarc trigger location.
//
// Example:
//
//	{Name: "webhookdelivery", Package: "functions/webhookdelivery", Timeout: 120, Kind: Firestore,
//	 EventType: "google.cloud.firestore.document.v1.created",
//	 Document: "sites/{siteId}/webhook_queue/{jobId}", Retry: true},
var EventFunctions = []Target{}

// SchedulerJob is one Cloud Scheduler job calling an HTTP path of the API.
type SchedulerJob struct {
	Name     string // job id
	Schedule string // unix-cron, e.g. "*/5 * * * *"
	TimeZone string // IANA zone; "Etc/UTC" when empty
	Path     string // /api/... path; must be routed by routes.Functions
	Method   string // GET or POST; GET when empty
}

// SchedulerJobs are created (or updated) by the functions deploy. Adding one
// is one entry here. The job calls <-base-url><Path> with an OIDC token of
// -scheduler-service-account when one is given.
//
// Example:
//
//	{Name: "health-check", Schedule: "*/5 * * * *", Path: "/api/cron/health-check"},
var SchedulerJobs = []SchedulerJob{}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$`)

// Targets returns every deployable function: the HTTP functions of the routes
// table in table order, then the event functions.
func Targets() []Target {
	var ts []Target
	for _, f := range routes.Functions {
		ts = append(ts, Target{Name: f.Name, Package: f.Package, Timeout: f.Timeout, Kind: HTTP})
	}
	return append(ts, EventFunctions...)
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
		if t.Kind != HTTP {
			max = 540
		}
		if t.Timeout <= 0 || t.Timeout > max {
			return fmt.Errorf("function %q: timeout %ds out of range (1..%d)", t.Name, t.Timeout, max)
		}
		if t.Kind == Firestore && (t.EventType == "" || t.Document == "") {
			return fmt.Errorf("function %q: Firestore trigger needs EventType and Document", t.Name)
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
		if _, ok := routes.Lookup(j.Path); !ok {
			return fmt.Errorf("scheduler job %q: path %q is not routed by shared/routes", j.Name, j.Path)
		}
	}
	return nil
}

// kebab turns SESSION_SECRET into session-secret.
func kebab(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}
