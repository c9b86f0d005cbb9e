// Package notifications is the "notifications" Cloud Function: a Firestore
// trigger on every notification_queue document created (shared/notify),
// which delivers it — e-mails, webhooks, the autonomous-investigation
// hand-off — through shared/delivery. Endpoints never send anything
// themselves, before or after their response (DECISIONS §4); the
// "notifysweeper" schedule retries what failed here.
package notifications

import (
	"time"

	"context"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/delivery"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/trigger"
)

// Name is the function's entry point, service name and local trigger id
// (functions/registry).
const Name = "notifications"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.Firestore, Handle: Handle,
	EventType: "google.cloud.firestore.document.v1.created",
	Document:  Document, Retry: true,
	Timeout: 120 * time.Second,
	Config:  config.Cron | config.Email | config.Webhooks,
}

// Document is the trigger's path pattern.
const Document = "notification_queue/{jobId}"

func init() { Spec.Serve() }

// Handle processes the created job. A failure to record the outcome asks
// for a redelivery; the job's lease makes a concurrent or repeated delivery
// harmless, and a job left leased is taken up by the sweep once the lease
// expires.
func Handle(ctx context.Context, d *app.Deps, e *trigger.Event) error {
	if e.After == nil {
		return nil
	}
	p, ok := e.Params(Document)
	if !ok {
		d.Log.Error("notifications: event for another document", "document", e.Path)
		return nil
	}
	_, err := delivery.For(d).Process(ctx, p["jobId"])
	return err
}
