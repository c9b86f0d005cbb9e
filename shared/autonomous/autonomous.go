// Package autonomous is cortex's background work (api.md E53, E55, E56,
// §1.15; datamodel.md §2.15, §2.16, §7.5): accepting an autonomous
// investigation of a crashed process, the concurrency slots investigations
// hold, the job document an investigation runs from, recording its outcome,
// escalation e-mails, and the scheduled sweep that sends pending
// escalations and takes back slots of investigations that died.
//
// # Flow
//
//  1. Accept (E53, and the notification trigger for E17's autonomous part)
//     validates the request, applies the gates (autonomousEnabled, cooldown
//     per machine and process, at most MaxConcurrent per site) and, in one
//     transaction, takes a slot in sites/{s}/cortex-state/lock, writes the
//     event sites/{s}/cortex-events/{eventId} ("investigating") and the job
//     cortex_jobs/{eventId}. Nothing runs after the response.
//  2. The cortexinvestigation trigger fires on the job's creation, claims it
//     (Claim: a transaction; a redelivered or late event finds it claimed or
//     finished and does nothing), runs the LLM under RunDeadline and records
//     the outcome with Finish: the event's status, summary and actions, the
//     job's end, the slot given back and, when escalated, the escalation
//     e-mail job (notification_queue), all in one transaction.
//  3. Sweep (the cortexescalation schedule, E55, E56) turns events flagged
//     escalationPending (by the machines' local Cortex) into escalation
//     e-mail jobs, and reclaims the slot of every job that has held one for
//     longer than ReclaimAfter (its instance crashed or its trigger never
//     came): the job is abandoned and its event marked failed.
//
// # Documents
//
//	sites/{s}/cortex-state/lock  {activeSessions, lastUpdated, holders:{eventId: heldSince}}
//	cortex_jobs/{eventId}        {eventId, chatId, siteId, machineId, machineName, processName,
//	                              eventType, errorMessage, agentVersion, status, createdAt,
//	                              slotHeldAt?, runId?, startedAt?, attempts, finishedAt?,
//	                              outcome?, expireAt?}
//
// activeSessions is kept for the documents of the server we replace: slots
// it counted that no holder names ("anonymous", e.g. leaked by its
// api.md §5.19 defect) expire once the lock has been untouched for
// ReclaimAfter. A holder is refreshed when its job is claimed, so a live
// investigation's slot is never older than the function timeout; an older
// one is dead and is dropped by the next Accept or Sweep. Giving a slot back
// is keyed by the holder, so it happens at most once whatever retries,
// redeliveries and sweeps do.
//
// Job status: pending (accepted) → running (claimed) → done | failed (the
// investigation's own failure) | abandoned (reclaimed by the sweep).
// Suggested TTL policy: expireAt on cortex_jobs.
package autonomous

import (
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Reasons of a refusal (E53 `reason`).
const (
	ReasonDisabled    = "autonomous_disabled"
	ReasonCooldown    = "cooldown_active"
	ReasonConcurrency = "concurrency_limit"
	// ReasonInvalid is AcceptBody's reason for a body that cannot be an
	// investigation (E53 answers 400 instead).
	ReasonInvalid = "invalid_request"
)

// Limits (api.md E53, datamodel.md §10).
const (
	MaxConcurrent          = 3
	DefaultCooldownMinutes = 15
	DefaultMaxTier         = 2
	MaxSteps               = 15
	// SummaryMax bounds the summary an escalation e-mail carries.
	SummaryMax = 2000
)

// Event statuses (datamodel.md §2.15).
const (
	StatusInvestigating = "investigating"
	StatusResolved      = "resolved"
	StatusEscalated     = "escalated"
	StatusFailed        = "failed"
)

// Job statuses.
const (
	JobPending   = "pending"
	JobRunning   = "running"
	JobDone      = "done"
	JobFailed    = "failed"
	JobAbandoned = "abandoned"
)

// JobsCollection holds the job documents the cortexinvestigation trigger
// fires on (functions/registry).
const JobsCollection = "cortex_jobs"

// TriggerName is the investigation trigger's function name.
const TriggerName = "cortexinvestigation"

// Timing of an investigation. FunctionTimeout is the investigation
// function's timeout (its fn.Spec uses it); the run ends RunDeadline after
// its claim (a minute before the platform would kill it, leaving time to
// record the outcome), and a slot held ReclaimAfter without being given
// back belongs to an instance that died.
const FunctionTimeout = 540 * time.Second

// RunDeadline and ReclaimAfter are variables so tests can shorten them.
var (
	RunDeadline  = FunctionTimeout - time.Minute
	ReclaimAfter = FunctionTimeout + time.Minute
)

// JobRetention is how long a finished job stays (expireAt).
const JobRetention = 30 * 24 * time.Hour

// Request is the body of E53 POST /api/cortex/autonomous and of the
// autonomous part of an agent alert's notification job (E17). Values are
// the agent's, as E17 received them.
type Request struct {
	// SiteID is the machine's site. Required.
	SiteID string `json:"siteId"`
	// MachineID is the machine (its Windows hostname). Required; it names
	// documents, so it must be a valid document id.
	MachineID string `json:"machineId"`
	// MachineName is for display (e-mails, the chat title); defaults to
	// MachineID (the original failed without it, api.md §5.19).
	MachineName string `json:"machineName"`
	// ProcessName is the process that crashed or failed to start, as
	// configured on the machine. Required.
	ProcessName string `json:"processName"`
	// EventType is process_crash or process_start_failed (not checked: the
	// original accepts any value). Required.
	EventType string `json:"eventType"`
	// ErrorMessage is the agent's error text ("" when absent).
	ErrorMessage string `json:"errorMessage"`
	// AgentVersion is the reporting agent's version (context for the model).
	AgentVersion string `json:"agentVersion"`
}

// Validate checks the request before any slot is taken (api.md §5.19) and
// defaults MachineName. Strings are held to the limits every request body
// has (web.MaxStringBytes), so a caller that skips the HTTP decoder (the
// notification trigger) gets the same answer.
func (q *Request) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"siteId", q.SiteID}, {"machineId", q.MachineID}, {"processName", q.ProcessName}, {"eventType", q.EventType},
	} {
		if err := web.Required(f.name, f.v); err != nil {
			return err
		}
	}
	if !store.ValidID(q.SiteID) {
		return web.BadRequest("siteId is not a valid site id")
	}
	if !store.ValidID(q.MachineID) {
		return web.BadRequest("machineId is not a valid machine id")
	}
	for _, f := range []struct{ name, v string }{
		{"machineName", q.MachineName}, {"processName", q.ProcessName}, {"eventType", q.EventType},
		{"errorMessage", q.ErrorMessage}, {"agentVersion", q.AgentVersion},
	} {
		if len(f.v) > web.MaxStringBytes {
			return web.Errorf(http.StatusBadRequest, "Field %q is too long (limit %d bytes)", f.name, web.MaxStringBytes)
		}
	}
	if q.MachineName == "" {
		q.MachineName = q.MachineID
	}
	return nil
}

// Result is Accept's answer (E53's response body).
type Result struct {
	Accepted bool   `json:"accepted"`
	Reason   string `json:"reason,omitempty"`
	EventID  string `json:"eventId,omitempty"`
	ChatID   string `json:"chatId,omitempty"`
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// EventID is the event id of an investigation accepted at ms:
// evt_<ms>_<machineId without characters outside [A-Za-z0-9_-]>.
func EventID(ms int64, machineID string) string {
	return fmt.Sprintf("evt_%d_%s", ms, unsafeID.ReplaceAllString(machineID, ""))
}

// ChatID is the chat id of an investigation accepted at ms:
// auto_<ms>_<machineId sanitised as for EventID>.
func ChatID(ms int64, machineID string) string {
	return fmt.Sprintf("auto_%d_%s", ms, unsafeID.ReplaceAllString(machineID, ""))
}

// ProcessVerb is how a chat title and prompt describe an event type.
func ProcessVerb(eventType string) string {
	if eventType == "process_start_failed" {
		return "failed to start"
	}
	return "crashed"
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// millis is t as epoch milliseconds; zero for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
