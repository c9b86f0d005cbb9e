// Package cortexinvestigation is the "cortexinvestigation" Cloud Function:
// the autonomous Cortex investigation of a crashed process (api.md E53
// "Background investigation", datamodel.md §7.5), run from its job
// document instead of after a response (DECISIONS §2 5.15). It is a
// Firestore trigger on the creation of cortex_jobs/{eventId}, which
// autonomous.Accept writes with the event and the concurrency slot
// (shared/autonomous).
//
// One delivery: claim the job (a transaction: a redelivered event, or one
// arriving after the job was claimed, finished or abandoned, does nothing),
// then
//   - machine offline (its online flag) ⇒ escalated with a note;
//   - otherwise the site's LLM configuration in autonomous mode (the site's
//     key, its autonomousModel), the tools of tier ≤ settings/cortex.maxTier
//     (default 2), all relayed to the agent through the command queue
//     (shared/autonomous/relay; unlike chat, nothing runs on the server),
//     the autonomous system prompt with the site's directive, at most 15
//     steps, one user message describing the event. The final text decides:
//     "ESCALATION NEEDED" ⇒ escalated, else resolved; the summary is the
//     text after "OUTCOME:". The conversation is saved as chats/{chatId}
//     (source "autonomous");
//   - any error (no key, provider failure, the run deadline) ⇒ failed,
//     summary "Investigation error: …".
//
// The outcome, the slot given back and the escalation e-mail job (unless
// settings/cortex.escalationEmail is false) are recorded in one transaction
// (autonomous.Finish). The run has autonomous.RunDeadline, a minute less
// than the function's timeout; if the instance dies anyway, the
// cortexescalation schedule reclaims the slot after autonomous.ReclaimAfter.
// The trigger is deployed without retries: a failed delivery is not run
// twice (the schedule cleans up instead).
package cortexinvestigation

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/autonomous"
	"github.com/owlette/server/shared/autonomous/relay"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/trigger"
)

// Name is the function's entry point, service name and local trigger id
// (functions/registry).
const Name = autonomous.TriggerName

// Spec is the function's deployment (functions/registry). Its timeout is
// autonomous.FunctionTimeout, from which the run's deadline and the slot
// reclaim delay are derived.
var Spec = fn.Spec{
	Name: Name, Kind: fn.Firestore, Handle: Handle,
	EventType: "google.cloud.firestore.document.v1.created",
	Document:  Document, Retry: false,
	Timeout: autonomous.FunctionTimeout,
	Config:  config.LLM | config.Email,
}

// Document is the trigger's path pattern.
const Document = autonomous.JobsCollection + "/{eventId}"

func init() { Spec.Serve() }

// Handle runs the investigation of the created job document.
func Handle(ctx context.Context, d *app.Deps, e *trigger.Event) error {
	p, ok := e.Params(Document)
	if !ok || e.After == nil {
		return nil
	}
	// The run ends by its own deadlines (RunDeadline, then the outcome's
	// writes), not when the delivery's caller stops waiting: locally the
	// trigger relay gives up after 60 s, and an outcome cut off there would
	// leave the slot to the sweep. On Cloud Run the function's timeout is
	// FunctionTimeout, which these deadlines stay inside.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), autonomous.FunctionTimeout-10*time.Second)
	defer cancel()
	inv := forDeps(d)
	job, err := autonomous.Claim(ctx, d, p["eventId"])
	if err != nil {
		return err
	}
	if job == nil {
		logging.From(ctx).Info("investigation job already claimed, finished or gone: nothing to do", "eventId", p["eventId"])
		return nil
	}
	out := inv.investigate(ctx, job)
	logging.From(ctx).Info("investigation finished", "eventId", job.EventID, "status", out.Status, "actions", len(out.Actions))
	return autonomous.Finish(ctx, d, job, out)
}

// investigator is one instance's state for a Deps: the tool relay (its
// command spacing is per instance) and the LLM HTTP client (connections
// reused across investigations).
type investigator struct {
	d      *app.Deps
	relay  *relay.Relay
	client *http.Client
}

var (
	instMu    sync.Mutex
	instances = map[*app.Deps]*investigator{}
	// sameTypeGap overrides the relay's spacing (tests with time-scaled
	// simulated agents).
	sameTypeGap time.Duration
)

func forDeps(d *app.Deps) *investigator {
	instMu.Lock()
	defer instMu.Unlock()
	inv := instances[d]
	if inv == nil {
		r := relay.New(d.Firestore, d.Now)
		r.Gap = sameTypeGap
		// Streaming responses: no overall timeout on the client; each run
		// carries its own deadline.
		inv = &investigator{d: d, relay: r, client: &http.Client{}}
		instances[d] = inv
	}
	return inv
}
