package fleetwatch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/notify"
)

// ThresholdAlert is one metric rule breached on one machine: X09's body, or
// what the metrics trigger found.
type ThresholdAlert struct {
	SiteID, MachineID string
	// RuleID, when known (the metrics trigger), keys the job instead of
	// RuleName, so two rules of the same name cannot share a job.
	RuleID                               string
	RuleName, Metric, Operator, Severity string
	Value, Threshold                     any
	// Email and Webhook are the rule's channels.
	Email, Webhook bool
	// Machine is the machine document when the caller has it (the
	// trigger's event); nil: it is read (for its machine_timezone).
	Machine map[string]any
}

// ThresholdJob builds the notification job of a breach (api.md X09): an
// e-mail part for the site's recipients with the healthAlerts filter when
// the e-mail channel is asked and e-mail is configured, and a
// threshold.breached webhook part when the webhook channel is asked and the
// site has an enabled webhook subscribed to it. hooks is that number of
// webhooks. The job is not prepared or written; it may be empty.
//
// Reads: the site (and the machine unless given) in one call, the site's
// assigned users (e-mail only), the webhook count (webhook only), and the
// owner when not among the assigned users.
func ThresholdJob(ctx context.Context, fs *firestore.Client, cfg *config.Config, a ThresholdAlert, origin string, now time.Time) (job *notify.Job, hooks int64, err error) {
	wantEmail := a.Email && notify.EmailConfigured(cfg)
	site := fs.Collection("sites").Doc(a.SiteID)

	var (
		wg         sync.WaitGroup
		assigned   []*firestore.DocumentSnapshot
		qErr, hErr error
	)
	if wantEmail {
		wg.Go(func() { assigned, qErr = notify.AssignedUsers(ctx, fs, a.SiteID) })
	}
	if a.Webhook {
		wg.Go(func() { hooks, hErr = HookCount(ctx, fs, a.SiteID, notify.EventThresholdBreached) })
	}
	refs := []*firestore.DocumentRef{site}
	if a.Machine == nil {
		refs = append(refs, site.Collection("machines").Doc(a.MachineID))
	}
	snaps, err := fs.GetAll(ctx, refs)
	wg.Wait()
	for _, e := range []error{err, qErr, hErr} {
		if e != nil {
			return nil, 0, e
		}
	}
	siteData, machine := data(snaps[0]), a.Machine
	if machine == nil {
		machine = data(snaps[1])
	}
	name := siteName(a.SiteID, siteData)
	key := a.RuleName
	if a.RuleID != "" {
		key = "rule:" + a.RuleID
	}
	job = &notify.Job{
		Kind:   notify.KindThresholdAlert,
		SiteID: a.SiteID,
		Origin: origin,
		Params: map[string]any{
			"ruleName": a.RuleName, "metric": a.Metric, "value": a.Value, "threshold": a.Threshold,
			"operator": a.Operator, "severity": a.Severity,
			"machineId": a.MachineID, "machineName": a.MachineID, "siteName": name,
			"machineTimezone": machine["machine_timezone"],
		},
		DedupeKey: notify.DedupeKey(notify.KindThresholdAlert, a.SiteID, a.MachineID, key, notify.Bucket(now)),
	}
	if wantEmail {
		owner, _ := siteData["owner"].(string)
		recips, err := notify.Recipients(ctx, fs, assigned, owner, notify.PrefHealthAlerts, cfg.AdminEmail)
		if err != nil {
			return nil, 0, err
		}
		if len(recips) > 0 {
			job.Email = &notify.Email{
				Template: notify.TemplateThresholdAlert, Preference: notify.PrefHealthAlerts, Recipients: recips,
				Subject: "[" + strings.ToUpper(a.Severity) + "] " + a.RuleName + " — " + a.MachineID,
			}
		}
	}
	if a.Webhook && hooks > 0 {
		job.Webhook = &notify.Webhook{
			Event: notify.EventThresholdBreached,
			Site:  notify.Site{ID: a.SiteID, Name: name},
			Data: map[string]any{
				"machine": map[string]any{"id": a.MachineID, "name": a.MachineID},
				"alert": map[string]any{
					"ruleName": a.RuleName, "metric": a.Metric, "value": a.Value, "threshold": a.Threshold,
					"operator": a.Operator, "severity": a.Severity,
				},
			},
		}
	}
	return job, hooks, nil
}

// HookCount is the number of the site's enabled webhooks subscribed to
// event (one aggregation read: the delivery queries the same set).
func HookCount(ctx context.Context, fs *firestore.Client, siteID, event string) (int64, error) {
	q := fs.Collection("sites").Doc(siteID).Collection("webhooks").
		Where("enabled", "==", true).Where("events", "array-contains", event)
	agg, err := q.NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		return 0, err
	}
	if n, ok := agg["n"].(interface{ GetIntegerValue() int64 }); ok {
		return n.GetIntegerValue(), nil
	}
	return 0, fmt.Errorf("webhook count: unexpected result %T", agg["n"])
}
