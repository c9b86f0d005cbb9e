// Package background is the one table of the server's background functions:
// Firestore-triggered functions and scheduled functions (datamodel.md §7,
// DECISIONS §4). scripts/deploy deploys them from it (Eventarc triggers,
// Cloud Scheduler jobs) and the dev server delivers them locally from it
// (emulator triggers through the relay, an in-process scheduler), so a local
// run behaves like production. It holds data only: the code lives in the
// function packages, which a test keeps in step with this table.
package background

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Trigger is a Firestore-triggered CloudEvent function.
type Trigger struct {
	// Name is the function name, the registered entry point
	// (functions.CloudEvent(Name, …)) and the local trigger id.
	Name    string
	Package string // module-relative, e.g. "functions/deploymentstatus"
	// EventType is google.cloud.firestore.document.v1.written|created|updated|deleted.
	EventType string
	// Document is the path pattern ({name} wildcards, one segment each).
	Document string
	Timeout  int  // seconds
	Retry    bool // redeliver when the function returns an error
}

// Schedule is an HTTP function called by Cloud Scheduler.
type Schedule struct {
	Name    string // function name = entry point = scheduler job id
	Package string
	// Cron is the unix-cron schedule ("*/5 * * * *"); Every is the same
	// period for the local scheduler (a test checks they agree).
	Cron    string
	Every   time.Duration
	Method  string // what the job sends: POST
	Timeout int    // seconds
}

// Environment of scheduled functions, set by scripts/deploy: the identity
// and audience of the Cloud Scheduler job's OIDC token, which the function
// verifies.
const (
	EnvServiceAccount = "SCHEDULER_SERVICE_ACCOUNT"
	EnvAudience       = "SCHEDULER_AUDIENCE"
)

// Triggers lists the Firestore-triggered functions.
var Triggers = []Trigger{
	{
		// datamodel.md §7.1 onCommandCompleted.
		Name: "deploymentstatus", Package: "functions/deploymentstatus",
		EventType: "google.cloud.firestore.document.v1.written",
		Document:  "sites/{siteId}/machines/{machineId}/commands/completed",
		Timeout:   60, Retry: true,
	},
	{
		// DECISIONS §4: delivers each notification_queue job (e-mails,
		// webhooks, the autonomous-investigation hand-off) once written.
		Name: "notifications", Package: "functions/notifications",
		EventType: "google.cloud.firestore.document.v1.created",
		Document:  "notification_queue/{jobId}",
		Timeout:   120, Retry: true,
	},
	{
		// datamodel.md §7.3 onMetricsWrite: metrics history and threshold
		// alerts on every machine-document write.
		Name: "machinemetrics", Package: "functions/machinemetrics",
		EventType: "google.cloud.firestore.document.v1.written",
		Document:  "sites/{siteId}/machines/{machineId}",
		Timeout:   60, Retry: false,
	},
	{
		// datamodel.md §7.5: an accepted autonomous investigation runs
		// from its job document, never after a response.
		Name: "cortexinvestigation", Package: "functions/cortexinvestigation",
		EventType: "google.cloud.firestore.document.v1.created",
		Document:  "cortex_jobs/{eventId}",
		Timeout:   540, Retry: false,
	},
}

// Schedules lists the scheduled functions.
var Schedules = []Schedule{
	{
		// datamodel.md §7.2 sweepStaleDeployments: every 5 minutes, 60 s timeout.
		Name: "deploymentsweeper", Package: "functions/deploymentsweeper",
		Cron: "*/5 * * * *", Every: 5 * time.Minute, Method: "POST", Timeout: 60,
	},
	{
		// Retries notification parts that failed transiently (webhook
		// backoff, Resend outages) and reclaims parts whose delivery died.
		Name: "notifysweeper", Package: "functions/notifysweeper",
		Cron: "*/1 * * * *", Every: time.Minute, Method: "POST", Timeout: 120,
	},
	{
		// datamodel.md §7.4 / E63: offline machines, every 5 minutes.
		Name: "healthcheck", Package: "functions/healthcheck",
		Cron: "*/5 * * * *", Every: 5 * time.Minute, Method: "POST", Timeout: 120,
	},
	{
		// E55/E56: pending cortex escalations (the original had no
		// schedule), and autonomous slots held past the investigation
		// timeout.
		Name: "cortexescalation", Package: "functions/cortexescalation",
		Cron: "*/5 * * * *", Every: 5 * time.Minute, Method: "POST", Timeout: 120,
	},
}

// TriggerByName returns the trigger entry called name.
func TriggerByName(name string) (Trigger, bool) {
	for _, t := range Triggers {
		if t.Name == name {
			return t, true
		}
	}
	return Trigger{}, false
}

// ScheduleByName returns the schedule entry called name.
func ScheduleByName(name string) (Schedule, bool) {
	for _, s := range Schedules {
		if s.Name == name {
			return s, true
		}
	}
	return Schedule{}, false
}

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
