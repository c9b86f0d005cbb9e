package alerts

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"cloud.google.com/go/firestore"

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
	cfg, fs := h.d.Config, h.d.Firestore
	wantEmail := req.channel("email") && notify.EmailConfigured(cfg)
	wantHook := req.channel("webhook")
	site := fs.Collection("sites").Doc(req.SiteID)

	var (
		wg         sync.WaitGroup
		assigned   []*firestore.DocumentSnapshot
		hooks      int64
		qErr, hErr error
	)
	if wantEmail {
		wg.Go(func() { assigned, qErr = notify.AssignedUsers(ctx, fs, req.SiteID) })
	}
	if wantHook {
		wg.Go(func() {
			q := site.Collection("webhooks").Where("enabled", "==", true).
				Where("events", "array-contains", notify.EventThresholdBreached)
			agg, err := q.NewAggregationQuery().WithCount("n").Get(ctx)
			if err != nil {
				hErr = err
				return
			}
			if n, ok := agg["n"].(interface{ GetIntegerValue() int64 }); ok {
				hooks = n.GetIntegerValue()
			}
		})
	}
	snaps, err := fs.GetAll(ctx, []*firestore.DocumentRef{site, site.Collection("machines").Doc(req.MachineID)})
	wg.Wait()
	for _, e := range []error{err, qErr, hErr} {
		if e != nil {
			return web.Internal(e)
		}
	}
	siteData, machine := data(snaps[0]), data(snaps[1])
	siteName := req.SiteID
	if n, _ := siteData["name"].(string); n != "" {
		siteName = n
	}
	alertData := map[string]any{
		"ruleName": req.RuleName, "metric": req.Metric, "value": value, "threshold": threshold,
		"operator": req.Operator, "severity": req.Severity,
	}
	now := h.d.Now()
	job := &notify.Job{
		Kind:   notify.KindThresholdAlert,
		SiteID: req.SiteID,
		Origin: notify.Origin(cfg, r),
		Params: map[string]any{
			"ruleName": req.RuleName, "metric": req.Metric, "value": value, "threshold": threshold,
			"operator": req.Operator, "severity": req.Severity,
			"machineId": req.MachineID, "machineName": req.MachineID, "siteName": siteName,
			"machineTimezone": machine["machine_timezone"],
		},
		DedupeKey: notify.DedupeKey(notify.KindThresholdAlert, req.SiteID, req.MachineID, req.RuleName, notify.Bucket(now)),
	}
	if wantEmail {
		owner, _ := siteData["owner"].(string)
		recips, err := notify.Recipients(ctx, fs, assigned, owner, notify.PrefHealthAlerts, cfg.AdminEmail)
		if err != nil {
			return web.Internal(err)
		}
		if len(recips) > 0 {
			job.Email = &notify.Email{
				Template: notify.TemplateThresholdAlert, Preference: notify.PrefHealthAlerts, Recipients: recips,
				Subject: "[" + strings.ToUpper(req.Severity) + "] " + req.RuleName + " — " + req.MachineID,
			}
		}
	}
	if wantHook && hooks > 0 {
		job.Webhook = &notify.Webhook{
			Event: notify.EventThresholdBreached,
			Site:  notify.Site{ID: req.SiteID, Name: siteName},
			Data: map[string]any{
				"machine": map[string]any{"id": req.MachineID, "name": req.MachineID},
				"alert":   alertData,
			},
		}
	}
	if !job.Empty() {
		job.Prepare(now)
		if _, err := notify.Put(ctx, fs, job); err != nil {
			return web.Internal(err)
		}
	}
	return web.OK(w, web.M{"success": true, "emailSent": job.Email != nil, "webhooksFired": hooks})
}
