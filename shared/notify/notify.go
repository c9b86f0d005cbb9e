// Package notify is the outbound notification queue (DECISIONS §2 5.15, §4):
// an endpoint that must e-mail, call webhooks or start an autonomous Cortex
// investigation does not do it itself, before or after its response. It
// writes one queue document, in the same write as anything else it records,
// and returns; a Firestore trigger on the collection delivers it, and a
// scheduled sweep retries what failed.
//
// # Document: notification_queue/{id}
//
//	kind       "agent_alert" (E17) | "threshold_alert" (X09, metrics trigger) |
//	           "bug_report" (X10) | "simulated_event" (E43) | "machines_offline"
//	           (health check, one per site and run) | "machine_state" (health
//	           check: machine.offline / machine.online webhook of one machine)
//	           | "cortex_escalation" (escalation job)
//	siteId     site the notification is about ("" for bug reports)
//	status     "pending" when written; the trigger moves it on ("sent", "failed", …)
//	attempts   0 when written; incremented by each delivery attempt
//	createdAt  time of the request (the event time; webhook "timestamp")
//	dedupeKey  stable key of the event; also the document id, so a retried
//	           request (same event within the same minute) cannot queue twice.
//	           Senders use it for idempotency (Resend Idempotency-Key
//	           "<dedupeKey>:<recipient uid>", Standard Webhooks webhook-id).
//	origin     base URL for links in e-mails (unsubscribe), no trailing slash
//	params     template inputs, raw user values (see each kind's producer);
//	           senders escape them for HTML and strip CR/LF from subjects
//	email      null, or {template, subject, preference, recipients:[{uid, email,
//	           cc[]}], single, status:"pending"}: one message per recipient
//	           with its own CCs and an unsubscribe link for every uid except
//	           AdminUID; or, when single is true (E43), one message to every
//	           recipient at once, CC the union of their CCs minus the To list,
//	           no unsubscribe link
//	webhook    null, or {event (dotted, api.md §1.13), site:{id, name}, data,
//	           status:"pending"}: deliver to sites/{siteId}/webhooks with
//	           enabled == true and events array-contains event
//	cortex     null, or {body, status:"pending"}: start the autonomous
//	           investigation with body (the E53 request body)
//
// Recipients are resolved when the document is written (the endpoint's
// response reports their number), so the trigger reads nothing to send.
// A part that is null needs no work; each present part carries its own
// status so a partial failure retries only that part.
//
// Delivery (shared/delivery) adds, as it works: the job's status
// ("processing" while leased, then "done", "retry" or "failed"),
// leaseUntil, nextAttemptAt (the earliest retry due), finishedAt and
// expireAt (TTL); email.results per recipient uid ("all" for a single
// message), webhook.targets per webhook id, cortex.result — each an
// Outcome {status, attempts, nextAttemptAt, lastStatus, error, id}.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/store"
)

// Collection holds the queue documents.
const Collection = "notification_queue"

// Kinds of queue documents.
const (
	KindAgentAlert      = "agent_alert"
	KindThresholdAlert  = "threshold_alert"
	KindBugReport       = "bug_report"
	KindSimulated       = "simulated_event"
	KindMachinesOffline = "machines_offline"
	KindMachineState    = "machine_state"
	KindEscalation      = "cortex_escalation"
)

// E-mail templates.
//
// Params each template reads (all optional unless said; machineTimezone is
// the machine's stored machine_timezone, mapped by the sender):
//   - agent_error, process_alert: eventType, machineId, machineName,
//     processName, errorCode, errorMessage, agentVersion, siteName,
//     machineTimezone
//   - threshold_alert: ruleName, metric, value, threshold, operator,
//     severity, machineId, machineName, siteName, machineTimezone
//   - machines_offline: siteName, machines [{id, lastHeartbeat (time or
//     null)}], checkedAt (time), machineTimezone (the first machine's)
//   - simulated: event (process_crash | machine_offline |
//     connection_failure), machineId, machineName, processName,
//     errorMessage, siteName
//   - cortex_escalation: machineId, machineName, processName, summary,
//     eventId, siteName, machineTimezone
//   - feedback: the bug report's fields (see functions/utilities)
const (
	TemplateAgentError       = "agent_error"       // E17 connection failure / other
	TemplateProcessAlert     = "process_alert"     // E17 process_crash / process_start_failed
	TemplateThresholdAlert   = "threshold_alert"   // X09, metrics trigger
	TemplateFeedback         = "feedback"          // X10, to the admin
	TemplateMachinesOffline  = "machines_offline"  // health check
	TemplateSimulated        = "simulated"         // E43
	TemplateCortexEscalation = "cortex_escalation" // escalations
)

// Alert preference keys on users/{uid}.preferences (opt-out model).
const (
	PrefProcessAlerts = "processAlerts"
	PrefHealthAlerts  = "healthAlerts"
)

// Webhook events (api.md §1.13).
const (
	EventProcessCrashed    = "process.crashed"
	EventProcessRestarted  = "process.restarted"
	EventMachineOffline    = "machine.offline"
	EventMachineOnline     = "machine.online"
	EventThresholdBreached = "threshold.breached"
)

// StatusPending is the status of a freshly queued document and part.
const StatusPending = "pending"

// AdminUID is the pseudo user id of the admin address when it receives
// mail (fallback recipient, admin notifications): no unsubscribe link.
const AdminUID = "fallback"

// DedupeWindow is the bucket of the time component of alert dedupe keys.
const DedupeWindow = time.Minute

// Job is one queue document.
type Job struct {
	Kind      string         `firestore:"kind"`
	SiteID    string         `firestore:"siteId"`
	Status    string         `firestore:"status"`
	Attempts  int            `firestore:"attempts"`
	CreatedAt time.Time      `firestore:"createdAt"`
	DedupeKey string         `firestore:"dedupeKey"`
	Origin    string         `firestore:"origin"`
	Params    map[string]any `firestore:"params"`
	Email     *Email         `firestore:"email"`
	Webhook   *Webhook       `firestore:"webhook"`
	Cortex    *Cortex        `firestore:"cortex"`

	// Delivery bookkeeping (shared/delivery); zero when written.
	LeaseUntil    time.Time `firestore:"leaseUntil,omitempty"`
	NextAttemptAt time.Time `firestore:"nextAttemptAt,omitempty"`
	FinishedAt    time.Time `firestore:"finishedAt,omitempty"`
	ExpireAt      time.Time `firestore:"expireAt,omitempty"`
}

// Outcome is the delivery state of one recipient, webhook target or
// autonomous hand-off.
type Outcome struct {
	Status        string    `firestore:"status"` // see the Outcome* constants
	Attempts      int       `firestore:"attempts"`
	NextAttemptAt time.Time `firestore:"nextAttemptAt,omitempty"`
	LastStatus    int       `firestore:"lastStatus,omitempty"` // HTTP status of the last attempt
	Error         string    `firestore:"error,omitempty"`
	// ID is Resend's message id, or the autonomous event id.
	ID        string    `firestore:"id,omitempty"`
	UpdatedAt time.Time `firestore:"updatedAt"`
}

// Outcome statuses. Sent, Failed, Skipped, Accepted and Refused are final.
const (
	OutcomePending  = "pending"
	OutcomeRetry    = "retry"    // a transient failure; due again at NextAttemptAt
	OutcomeSent     = "sent"     // delivered (2xx, or accepted by Resend)
	OutcomeFailed   = "failed"   // given up: permanent error or out of attempts
	OutcomeSkipped  = "skipped"  // nothing to do any more (webhook deleted or disabled)
	OutcomeAccepted = "accepted" // autonomous investigation started
	OutcomeRefused  = "refused"  // autonomous investigation refused by its gates
)

// Final reports whether an outcome needs no further attempt.
func (o *Outcome) Final() bool {
	return o != nil && o.Status != OutcomePending && o.Status != OutcomeRetry
}

// Job statuses after StatusPending.
const (
	StatusProcessing = "processing"
	StatusRetry      = "retry"
	StatusDone       = "done"
	StatusFailed     = "failed"
)

// Email is the e-mail part of a job.
type Email struct {
	Template   string      `firestore:"template"`
	Subject    string      `firestore:"subject"`
	Preference string      `firestore:"preference"` // "" for admin mail
	Recipients []Recipient `firestore:"recipients"`
	// Single: one message to all recipients (E43), not one each.
	Single bool   `firestore:"single,omitempty"`
	Status string `firestore:"status"`
	// Results per recipient uid ("all" when Single), written by delivery.
	Results map[string]*Outcome `firestore:"results,omitempty"`
}

// Recipient is one addressee of a per-recipient e-mail.
type Recipient struct {
	UID   string   `firestore:"uid"`
	Email string   `firestore:"email"`
	CC    []string `firestore:"cc"`
}

// Webhook is the webhook part of a job.
type Webhook struct {
	Event  string         `firestore:"event"`
	Site   Site           `firestore:"site"`
	Data   map[string]any `firestore:"data"`
	Status string         `firestore:"status"`
	// Targets per webhook id, resolved and written by delivery.
	Targets map[string]*Outcome `firestore:"targets,omitempty"`
}

// Site is the site block of a generic webhook payload.
type Site struct {
	ID   string `firestore:"id"`
	Name string `firestore:"name"`
}

// Cortex is the autonomous-investigation part of a job.
type Cortex struct {
	Body   map[string]any `firestore:"body"`
	Status string         `firestore:"status"`
	Result *Outcome       `firestore:"result,omitempty"`
}

// Empty reports whether the job has nothing to deliver.
func (j *Job) Empty() bool { return j.Email == nil && j.Webhook == nil && j.Cortex == nil }

// Ref is the queue document with the job's dedupe key as id.
func Ref(fs *firestore.Client, j *Job) *firestore.DocumentRef {
	return fs.Collection(Collection).Doc(j.DedupeKey)
}

// Prepare fills the bookkeeping fields of a new job.
func (j *Job) Prepare(now time.Time) {
	j.Status = StatusPending
	j.Attempts = 0
	j.CreatedAt = now
	if j.Email != nil {
		j.Email.Status = StatusPending
	}
	if j.Webhook != nil {
		j.Webhook.Status = StatusPending
	}
	if j.Cortex != nil {
		j.Cortex.Status = StatusPending
	}
}

// Enqueue adds the creation of j's document to b (Create: a duplicate
// dedupe key fails the batch with AlreadyExists, see store.AlreadyExists).
func Enqueue(b *firestore.WriteBatch, fs *firestore.Client, j *Job) *firestore.DocumentRef {
	ref := Ref(fs, j)
	b.Create(ref, j)
	return ref
}

// Put writes j alone (one write). A duplicate (same dedupe key already
// queued) is not an error: the work is queued already.
func Put(ctx context.Context, fs *firestore.Client, j *Job) (dup bool, err error) {
	_, err = Ref(fs, j).Create(ctx, j)
	if store.AlreadyExists(err) {
		return true, nil
	}
	return false, err
}

// DedupeKey derives a document id from a kind and the event's identifying
// parts: "<kind>_<40 hex chars>".
func DedupeKey(kind string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return kind + "_" + hex.EncodeToString(h.Sum(nil))[:40]
}

// Bucket is the DedupeWindow bucket of t, as a string part for DedupeKey.
func Bucket(t time.Time) string {
	return time.UnixMilli(t.UnixMilli() / DedupeWindow.Milliseconds() * DedupeWindow.Milliseconds()).UTC().Format(time.RFC3339)
}

// EnvLabel is the environment label of admin e-mail subjects (api.md §1.14).
func EnvLabel(c *config.Config) string {
	if c.Production() && !c.Dev {
		return "PRODUCTION"
	}
	return "DEVELOPMENT"
}

// EmailConfigured reports whether e-mail can be sent at all.
func EmailConfigured(c *config.Config) bool { return c.ResendAPIKey != "" }

// Origin is the base URL for links in e-mails: the configured BASE_URL when
// set (behind Hosting each function sees its own run.app host, and a client
// controls X-Forwarded-Host), else the request's origin as the original does.
func Origin(c *config.Config, r *http.Request) string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstHop(r.Header.Get("X-Forwarded-Proto")); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if h := firstHop(r.Header.Get("X-Forwarded-Host")); h != "" {
		host = h
	}
	return scheme + "://" + host
}

func firstHop(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// Agent alert event types (api.md E17).
const (
	EventTypeConnectionFailure  = "connection_failure"
	EventTypeProcessCrash       = "process_crash"
	EventTypeProcessStartFailed = "process_start_failed"
)

// IsProcessEvent reports whether an agent alert is about a process.
func IsProcessEvent(eventType string) bool {
	return eventType == EventTypeProcessCrash || eventType == EventTypeProcessStartFailed
}

// AlertEvent maps an agent alert's eventType to its webhook event
// (api.md §1.13): process_crash ⇒ process.crashed, process_start_failed ⇒
// process.restarted, anything else ⇒ machine.offline.
func AlertEvent(eventType string) string {
	switch eventType {
	case EventTypeProcessCrash:
		return EventProcessCrashed
	case EventTypeProcessStartFailed:
		return EventProcessRestarted
	}
	return EventMachineOffline
}
