package webhooks

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
	"github.com/owlette/server/shared/webhook"
)

// ErrWebhookNotFound answers E47 for a webhook that does not exist.
var ErrWebhookNotFound = web.NotFound("Webhook not found")

type testRequest struct {
	WebhookID string `json:"webhookId"`
	SiteID    string `json:"siteId"`
}

func (q *testRequest) Validate() error {
	if q.WebhookID == "" || q.SiteID == "" {
		return web.BadRequest("Missing required fields: webhookId and siteId")
	}
	return nil
}

// test is E47. Order: guard (admin; no site-access check, as in the
// original) → body → webhook → one delivery of the fixed sample, then its
// bookkeeping, all before the answer.
//
// It works on a disabled webhook too and stores only lastTriggered (server
// time) and lastStatus: failCount and enabled stay (webhook.TestAttempt).
// A failing target is still HTTP 200; status 0 with error is a target that
// could not be reached or was refused (a non-public address, checked when
// connecting).
func (h *handlers) test(w http.ResponseWriter, r *http.Request) error {
	var req testRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if !store.ValidID(req.SiteID) || !store.ValidID(req.WebhookID) {
		return ErrWebhookNotFound
	}
	ctx := r.Context()
	ref := h.hooks(req.SiteID).Doc(req.WebhookID)
	snap, err := ref.Get(ctx)
	if store.NotFound(err) {
		return ErrWebhookNotFound
	}
	if err != nil {
		return web.Internal(err)
	}
	d := snap.Data()
	url, _ := d["url"].(string)
	secret, _ := d["secret"].(string)
	// A fresh webhook-id per test send: each is its own message, and a
	// receiver that drops duplicates must not drop the second test.
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return web.Internal(err)
	}
	res := webhook.Deliver(ctx, h.client(), webhook.TestAttempt(url, secret, "test_"+hex.EncodeToString(id), h.d.Now()))

	if _, err := ref.Update(ctx, []firestore.Update{
		{Path: "lastTriggered", Value: firestore.ServerTimestamp},
		{Path: "lastStatus", Value: res.Status},
	}); err != nil && !store.NotFound(err) {
		// The attempt was made: report it rather than hide it behind a 500.
		logging.From(ctx).Warn("webhook test: bookkeeping failed", "siteId", req.SiteID, "webhookId", req.WebhookID, "error", err.Error())
	}
	resp := web.M{"success": res.OK(), "status": res.Status}
	if res.Err != nil {
		resp["error"] = res.Err.Error()
	}
	return web.OK(w, resp)
}
