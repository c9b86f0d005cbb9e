package alerts

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/owlette/server/shared/fleetwatch"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// InternalSecretHeader carries CORTEX_INTERNAL_SECRET on X09.
const InternalSecretHeader = "X-Internal-Secret"

type triggerRequest struct {
	SiteID    string          `json:"siteId"`
	MachineID string          `json:"machineId"`
	RuleName  string          `json:"ruleName"`
	Metric    string          `json:"metric"`
	Value     json.RawMessage `json:"value"`
	Threshold json.RawMessage `json:"threshold"`
	Operator  string          `json:"operator"`
	Severity  string          `json:"severity"`
	Channels  []any           `json:"channels"`
}

func (q *triggerRequest) Validate() error {
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"siteId", q.SiteID != ""}, {"machineId", q.MachineID != ""}, {"ruleName", q.RuleName != ""},
		{"metric", q.Metric != ""}, {"value", q.Value != nil}, {"threshold", q.Threshold != nil},
		{"operator", q.Operator != ""}, {"severity", q.Severity != ""}, {"channels", q.Channels != nil},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return web.BadRequest("Missing required fields: " + strings.Join(missing, ", "))
	}
	if !store.ValidID(q.SiteID) {
		return web.BadRequest("Field \"siteId\" is not a valid site id")
	}
	if !store.ValidID(q.MachineID) {
		return web.BadRequest("Field \"machineId\" is not a valid machine id")
	}
	return nil
}

func (q *triggerRequest) channel(name string) bool {
	for _, c := range q.Channels {
		if s, _ := c.(string); s == name {
			return true
		}
	}
	return false
}

// trigger is X09, called when a metric rule fires. Order: internal secret
// (the route's guard.Internal: 401 when CORTEX_INTERNAL_SECRET is unset or
// the header differs) → body → queue.
//
// Like E17 it queues instead of sending: emailSent is "e-mail queued for
// ≥ 1 recipient" and webhooksFired is the number of enabled webhooks
// subscribed to threshold.breached that the event is queued for (the
// original counted 2xx deliveries, which it awaited).
func (h handlers) trigger(w http.ResponseWriter, r *http.Request) error {
	var req triggerRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	var value, threshold any
	if json.Unmarshal(req.Value, &value) != nil || json.Unmarshal(req.Threshold, &threshold) != nil {
		return web.BadRequest("Fields \"value\" and \"threshold\" must be JSON values")
	}

	ctx := r.Context()
	now := h.d.Now()
	// The job is built by the same code as the metrics trigger's alerts.
	job, hooks, err := fleetwatch.ThresholdJob(ctx, h.d.Firestore, h.d.Config, fleetwatch.ThresholdAlert{
		SiteID: req.SiteID, MachineID: req.MachineID, RuleName: req.RuleName, Metric: req.Metric,
		Operator: req.Operator, Severity: req.Severity, Value: value, Threshold: threshold,
		Email: req.channel("email"), Webhook: req.channel("webhook"),
	}, notify.Origin(h.d.Config, r), now)
	if err != nil {
		return web.Internal(err)
	}
	if !job.Empty() {
		job.Prepare(now)
		if _, err := notify.Put(ctx, h.d.Firestore, job); err != nil {
			return web.Internal(err)
		}
	}
	return web.OK(w, web.M{"success": true, "emailSent": job.Email != nil, "webhooksFired": hooks})
}
