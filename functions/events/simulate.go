package events

import (
	"context"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/email"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Response reasons (contractual, api.md E43; the same texts as E17).
const (
	ReasonNoResend     = "Resend not configured"
	ReasonNoRecipients = "No recipients"
)

// Simulated events and the defaults of their data (api.md E43).
const (
	EventProcessCrash      = notify.EventTypeProcessCrash
	EventMachineOffline    = "machine_offline"
	EventConnectionFailure = notify.EventTypeConnectionFailure

	DefaultMachineID    = "test-machine"
	DefaultMachineName  = "Test Machine"
	DefaultErrorMessage = "Simulated error"
)

type simData struct {
	MachineID    string `json:"machineId"`
	MachineName  string `json:"machineName"`
	ProcessName  string `json:"processName"`
	ErrorMessage string `json:"errorMessage"`
}

type simulateRequest struct {
	SiteID string   `json:"siteId"`
	Event  string   `json:"event"`
	Data   *simData `json:"data"`
}

// simulation is a request with its defaults applied.
type simulation struct {
	siteID, event                                 string
	machineID, machineName, process, errorMessage string
}

func (q *simulateRequest) simulation() simulation {
	d := q.Data
	if d == nil {
		d = &simData{}
	}
	return simulation{
		siteID: q.SiteID, event: q.Event,
		machineID:    or(d.MachineID, DefaultMachineID),
		machineName:  or(d.MachineName, DefaultMachineName),
		process:      d.ProcessName,
		errorMessage: or(d.ErrorMessage, DefaultErrorMessage),
	}
}

// simulate is E43. Order: rate limit (agentAlert, per IP) → guard (admin)
// → body → event → site → processName → queue.
//
// Deliberate differences from the original (DECISIONS §2 12.16, 5.15): the
// answer has the original's three shapes ("Resend not configured", "No
// recipients", or {emailSent, recipients:[…]}), but the webhooks are
// queued in every case, not only after a successful send, and
// webhooksFired is the number of enabled webhooks subscribed to the event
// that the delivery is queued for (the original counted 2xx answers, which
// it awaited, and reported 0 whenever e-mail was impossible). emailSent
// means "queued": the e-mail is one message to every recipient, CC the
// union of their CCs minus the To list, without unsubscribe link.
func (h handlers) simulate(w http.ResponseWriter, r *http.Request) error {
	var req simulateRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if req.SiteID == "" || req.Event == "" {
		return web.BadRequest("Missing required fields: siteId and event")
	}
	hookEvent := notify.EventMachineOffline
	switch req.Event {
	case EventProcessCrash:
		hookEvent = notify.EventProcessCrashed
	case EventMachineOffline, EventConnectionFailure:
	default:
		return web.BadRequest("Unsupported event: must be process_crash, machine_offline or connection_failure")
	}
	if _, err := guard.Site(r, req.SiteID); err != nil {
		return err
	}
	s := req.simulation()
	if s.event == EventProcessCrash && s.process == "" {
		return web.BadRequest("Missing required field: data.processName (required for process_crash)")
	}

	ctx := r.Context()
	cfg, fs := h.d.Config, h.d.Firestore
	emailOn := notify.EmailConfigured(cfg)
	site := fs.Collection("sites").Doc(s.siteID)
	// The site (name, owner), the assigned users (when e-mail is possible)
	// and the subscribed webhooks' count, in parallel.
	var (
		wg               sync.WaitGroup
		siteSnap         *firestore.DocumentSnapshot
		assigned         []*firestore.DocumentSnapshot
		hooks            int64
		sErr, qErr, hErr error
	)
	wg.Go(func() { siteSnap, sErr = site.Get(ctx) })
	if emailOn {
		wg.Go(func() { assigned, qErr = notify.AssignedUsers(ctx, fs, s.siteID) })
	}
	wg.Go(func() { hooks, hErr = countHooks(ctx, site, hookEvent) })
	wg.Wait()
	if store.NotFound(sErr) { // deleted since the guard looked
		return guard.ErrSiteNotFound
	}
	for _, e := range []error{sErr, qErr, hErr} {
		if e != nil {
			return web.Internal(e)
		}
	}
	siteData := siteSnap.Data()
	siteName := s.siteID
	if n, _ := siteData["name"].(string); n != "" {
		siteName = n
	}
	now := h.d.Now()
	env := notify.EnvLabel(cfg)

	job := &notify.Job{
		Kind:   notify.KindSimulated,
		SiteID: s.siteID,
		Origin: notify.Origin(cfg, r),
		Params: map[string]any{
			"event": s.event, "machineId": s.machineID, "machineName": s.machineName,
			"processName": s.process, "errorMessage": s.errorMessage, "siteName": siteName,
			// The label of this request's subject, so the sent mail says the same.
			"environment": env,
		},
		// The request's second: a retried identical request may be dropped,
		// two simulations a second or more apart both go out.
		DedupeKey: notify.DedupeKey(notify.KindSimulated, s.siteID, s.event, s.machineID, s.machineName,
			s.process, s.errorMessage, now.UTC().Truncate(time.Second).Format(time.RFC3339)),
	}

	resp := web.M{"success": true, "event": s.event, "emailSent": false, "webhooksFired": hooks}
	if !emailOn {
		resp["reason"] = ReasonNoResend
	} else {
		pref := notify.PrefHealthAlerts
		if s.event == EventProcessCrash {
			pref = notify.PrefProcessAlerts
		}
		owner, _ := siteData["owner"].(string)
		recips, err := notify.Recipients(ctx, fs, assigned, owner, pref, cfg.AdminEmail)
		if err != nil {
			return web.Internal(err)
		}
		if len(recips) == 0 {
			resp["reason"] = ReasonNoRecipients
		} else {
			// The subject the sender's template renders, so the queue
			// document says what will arrive.
			subject := email.Simulated{
				Env: env, Event: s.event, SiteID: s.siteID, SiteName: siteName,
				MachineID: s.machineID, MachineName: s.machineName, ProcessName: s.process,
				ErrorMessage: s.errorMessage, Time: now,
			}.Render().Subject
			job.Email = &notify.Email{
				Template: notify.TemplateSimulated, Subject: subject, Preference: pref,
				Recipients: recips, Single: true,
			}
			to := make([]string, len(recips))
			for i, rc := range recips {
				to[i] = rc.Email
			}
			resp["emailSent"] = true
			resp["recipients"] = to
		}
	}
	if hooks > 0 {
		data := map[string]any{"machine": map[string]any{"id": s.machineID, "name": s.machineName}}
		if s.process != "" {
			data["process"] = map[string]any{"name": s.process, "error": s.errorMessage}
		}
		job.Webhook = &notify.Webhook{Event: hookEvent, Site: notify.Site{ID: s.siteID, Name: siteName}, Data: data}
	}
	if !job.Empty() {
		job.Prepare(now)
		if _, err := notify.Put(ctx, fs, job); err != nil {
			return web.Internal(err)
		}
	}
	return web.OK(w, resp)
}

// countHooks counts the site's enabled webhooks subscribed to event with
// one aggregation query (no document is read).
func countHooks(ctx context.Context, site *firestore.DocumentRef, event string) (int64, error) {
	q := site.Collection("webhooks").Where("enabled", "==", true).Where("events", "array-contains", event)
	agg, err := q.NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		return 0, err
	}
	if n, ok := agg["n"].(interface{ GetIntegerValue() int64 }); ok {
		return n.GetIntegerValue(), nil
	}
	return 0, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
