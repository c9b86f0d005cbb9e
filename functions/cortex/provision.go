package cortex

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/cmdqueue"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// ProvisionWait is how long E54 waits for the agent (api.md E54).
const ProvisionWait = 15 * time.Second

// provisionWait is ProvisionWait (tests shorten it).
var provisionWait = ProvisionWait

// ErrProvisionTimeout is E54's 504.
var ErrProvisionTimeout = web.Errorf(http.StatusGatewayTimeout, "The machine did not answer within 15 seconds: is its agent running?")

type provisionRequest struct {
	SiteID    string `json:"siteId"`
	MachineID string `json:"machineId"`
	APIKey    string `json:"apiKey"`
	Provider  string `json:"provider"`
}

// Validate: siteId, machineId and apiKey required; provider defaults to
// anthropic and is not checked (the agent decides).
func (q *provisionRequest) Validate() error {
	for _, f := range []struct{ name, v string }{{"siteId", q.SiteID}, {"machineId", q.MachineID}, {"apiKey", q.APIKey}} {
		if err := web.Required(f.name, f.v); err != nil {
			return err
		}
	}
	if !store.ValidID(q.MachineID) {
		return web.BadRequest("machineId is not a valid machine id")
	}
	if q.Provider == "" {
		q.Provider = "anthropic"
	}
	return nil
}

// provisionKey is E54. Order: session (guard) → body → site access →
// enqueue provision_cortex_key_<ms> {type, api_key (plaintext: the agent
// protocol requires it, api.md §5.12), provider, timestamp: server time,
// status} → wait for the agent (snapshot listener) up to ProvisionWait.
// Completed ⇒ 200 {success:true}; failed ⇒ 500 with the agent's error; no
// answer ⇒ the command is withdrawn (the key must not linger in the queue)
// and 504.
func (h *handlers) provisionKey(w http.ResponseWriter, r *http.Request) error {
	var req provisionRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := h.access(ctx, r, req.SiteID); err != nil {
		return err
	}
	fs := h.d.Firestore
	id := fmt.Sprintf("provision_cortex_key_%d", h.nextMs())
	err := cmdqueue.Enqueue(ctx, fs, req.SiteID, req.MachineID, id, map[string]any{
		"type": "provision_cortex_key", "api_key": req.APIKey, "provider": req.Provider,
		"timestamp": firestore.ServerTimestamp, "status": "pending",
	})
	if err != nil {
		return web.Internal(err)
	}
	entry, err := cmdqueue.Wait(ctx, fs, req.SiteID, req.MachineID, id, provisionWait)
	if err != nil {
		h.withdraw(ctx, req.SiteID, req.MachineID, id)
		if errors.Is(err, cmdqueue.ErrTimeout) {
			return ErrProvisionTimeout
		}
		return web.Internal(err)
	}
	if m, _ := entry.(map[string]any); m["status"] == "failed" {
		msg, _ := m["error"].(string)
		if msg == "" {
			msg = "The machine could not store the key"
		}
		return &web.Error{Status: http.StatusInternalServerError, Message: msg}
	}
	return web.OK(w, web.M{"success": true})
}

// withdraw removes a pending command nobody waits for any more, best
// effort (also when the client went away).
func (h *handlers) withdraw(ctx context.Context, siteID, machineID, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := cmdqueue.Pending(h.d.Firestore, siteID, machineID).Update(ctx,
		[]firestore.Update{{FieldPath: firestore.FieldPath{id}, Value: firestore.Delete}})
	if err != nil && !store.NotFound(err) {
		logging.From(ctx).Warn("pending command not withdrawn", "commandId", id, "error", err.Error())
	}
}
