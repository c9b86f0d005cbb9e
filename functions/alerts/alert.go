package alerts

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Response reasons (contractual, api.md E17).
const (
	ReasonProcessLimited = "Process alert rate limited (3/hr per process per machine)"
	ReasonNoResend       = "Resend not configured"
	ReasonNoRecipients   = "No recipients"
)

// LocalCortexFresh is how recent a machine's local Cortex heartbeat must be
// for the server to leave a process event to it.
const LocalCortexFresh = 30 * time.Second

// text is a free-text field: a JSON string, or a number or boolean taken as
// its literal text (an agent must not lose an alert over an error code sent
// as a number); null is "". Objects and arrays are a 400.
type text string

var stringType = reflect.TypeOf("")

func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case b[0] == '{':
		return &json.UnmarshalTypeError{Value: "object", Type: stringType}
	case b[0] == '[':
		return &json.UnmarshalTypeError{Value: "array", Type: stringType}
	default: // number, true, false
		*t = text(b)
	}
	return nil
}

// alertFields are the alert's own fields: top level in the agent's (flat)
// body, under "data" in the reference document's form.
type alertFields struct {
	EventType    string `json:"eventType"`
	Type         string `json:"type"`
	ProcessName  string `json:"processName"`
	ErrorCode    text   `json:"errorCode"`
	ErrorMessage text   `json:"errorMessage" max:"65536"` // stack traces
	AgentVersion text   `json:"agentVersion"`
}

// alertRequest accepts both body forms (DECISIONS §1): the agent's flat
// {siteId, machineId, eventType, processName, errorCode, errorMessage,
// agentVersion} and the reference's {type, siteId, machineId, machineName,
// data:{…}}. A top-level value wins over one under data.
type alertRequest struct {
	SiteID      string       `json:"siteId"`
	MachineID   string       `json:"machineId"`
	MachineName string       `json:"machineName"`
	Data        *alertFields `json:"data"`
	alertFields
}

// alert is the one canonical form an alert is queued in.
type alert struct {
	SiteID, MachineID, MachineName                           string
	EventType, ProcessName, ErrorCode, ErrorMessage, Version string
}

func (q *alertRequest) canonical() alert {
	d := q.Data
	if d == nil {
		d = &alertFields{}
	}
	a := alert{
		SiteID:       q.SiteID,
		MachineID:    q.MachineID,
		MachineName:  q.MachineName,
		EventType:    first(q.EventType, q.Type, d.EventType, d.Type, notify.EventTypeConnectionFailure),
		ProcessName:  first(q.ProcessName, d.ProcessName),
		ErrorCode:    first(string(q.ErrorCode), string(d.ErrorCode)),
		ErrorMessage: first(string(q.ErrorMessage), string(d.ErrorMessage)),
		Version:      first(string(q.AgentVersion), string(d.AgentVersion)),
	}
	// The original names the machine by its id everywhere.
	if a.MachineName == "" {
		a.MachineName = a.MachineID
	}
	return a
}

func (a alert) validate() error {
	if a.SiteID == "" || a.MachineID == "" {
		return web.BadRequest("Missing required fields: siteId and machineId")
	}
	if !store.ValidID(a.SiteID) {
		return web.BadRequest("Field \"siteId\" is not a valid site id")
	}
	if !store.ValidID(a.MachineID) {
		return web.BadRequest("Field \"machineId\" is not a valid machine id")
	}
	if notify.IsProcessEvent(a.EventType) {
		if a.ProcessName == "" {
			return web.BadRequest("Missing required field: processName (required for process events)")
		}
	} else if a.ErrorCode == "" {
		return web.BadRequest("Missing required field: errorCode (required for non-process events)")
	}
	return nil
}

// agentAlert is E17. Order: rate limit (agentAlert, per IP) → agent token
// (router) → body → fields → site_id claim → per-process limit → queue.
//
// Deliberate difference from the original (DECISIONS §2 12.16, 5.15): it
// answers as the original does — "Resend not configured", "No recipients",
// or {emailSent, recipients} — but in every one of those cases the webhook
// and (process events) autonomous Cortex work is still queued: they never
// depend on e-mail being sendable. Only the per-process limit stops
// everything (nothing is queued), as before. Nothing is sent before the
// response either: emailSent means "e-mail queued for ≥ 1 recipient" and
// recipients is the number queued (the original counted successful sends;
// its sends could only fail for reasons we fixed, such as Windows zone names).
func (h handlers) agentAlert(w http.ResponseWriter, r *http.Request) error {
	var req alertRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	a := req.canonical()
	if err := a.validate(); err != nil {
		return err
	}
	if _, err := guard.Site(r, a.SiteID); err != nil {
		return err
	}
	ctx := r.Context()
	process := notify.IsProcessEvent(a.EventType)
	if process {
		id := "process_alert:" + a.MachineID + ":" + a.ProcessName
		if d := h.d.Limiter.Allow(ctx, ratelimit.ProcessAlert, id); !d.Allowed {
			return web.OK(w, web.M{"success": true, "emailSent": false, "reason": ReasonProcessLimited})
		}
	}

	cfg := h.d.Config
	emailOn := notify.EmailConfigured(cfg)
	fs := h.d.Firestore
	site := fs.Collection("sites").Doc(a.SiteID)
	refs := []*firestore.DocumentRef{site, site.Collection("machines").Doc(a.MachineID)}
	if process {
		refs = append(refs, site.Collection("settings").Doc("cortex"))
	}
	// One batched read of site, machine (and Cortex settings), in parallel
	// with the assigned-users query when e-mail is possible.
	var (
		assigned []*firestore.DocumentSnapshot
		qErr     error
		wg       sync.WaitGroup
	)
	if emailOn {
		wg.Go(func() { assigned, qErr = notify.AssignedUsers(ctx, fs, a.SiteID) })
	}
	snaps, err := fs.GetAll(ctx, refs)
	wg.Wait()
	if err != nil {
		return web.Internal(err)
	}
	if qErr != nil {
		return web.Internal(qErr)
	}
	siteData, machine := data(snaps[0]), data(snaps[1])
	siteName := a.SiteID
	if n, _ := siteData["name"].(string); n != "" {
		siteName = n
	}
	now := h.d.Now()

	job := &notify.Job{
		Kind:   notify.KindAgentAlert,
		SiteID: a.SiteID,
		Origin: notify.Origin(cfg, r),
		Params: map[string]any{
			"eventType": a.EventType, "machineId": a.MachineID, "machineName": a.MachineName,
			"processName": a.ProcessName, "errorCode": a.ErrorCode, "errorMessage": a.ErrorMessage,
			"agentVersion": a.Version, "siteName": siteName,
			// As stored: a Windows zone key name, an IANA name or absent;
			// the sender maps it (DECISIONS §2 12.11).
			"machineTimezone": machine["machine_timezone"],
		},
		DedupeKey: notify.DedupeKey(notify.KindAgentAlert, a.SiteID, a.MachineID, a.EventType,
			a.ProcessName, a.ErrorCode, a.ErrorMessage, notify.Bucket(now)),
	}

	resp := web.M{"success": true, "emailSent": false}
	if !emailOn {
		resp["reason"] = ReasonNoResend
	} else {
		pref, tmpl, subject := notify.PrefHealthAlerts, notify.TemplateAgentError, "[ALERT] owlette agent error on "+a.MachineName
		switch a.EventType {
		case notify.EventTypeProcessCrash:
			pref, tmpl, subject = notify.PrefProcessAlerts, notify.TemplateProcessAlert, "Process crashed: "+a.ProcessName+" on "+a.MachineName
		case notify.EventTypeProcessStartFailed:
			pref, tmpl, subject = notify.PrefProcessAlerts, notify.TemplateProcessAlert, "Process failed to start: "+a.ProcessName+" on "+a.MachineName
		}
		owner, _ := siteData["owner"].(string)
		recips, err := notify.Recipients(ctx, fs, assigned, owner, pref, cfg.AdminEmail)
		if err != nil {
			return web.Internal(err)
		}
		if len(recips) == 0 {
			resp["reason"] = ReasonNoRecipients
		} else {
			job.Email = &notify.Email{Template: tmpl, Subject: subject, Preference: pref, Recipients: recips}
			resp["emailSent"] = true
			resp["recipients"] = len(recips)
		}
	}

	hookData := map[string]any{"machine": map[string]any{"id": a.MachineID, "name": a.MachineName}}
	if a.ProcessName != "" {
		hookData["process"] = map[string]any{"name": a.ProcessName, "error": a.ErrorMessage}
	}
	job.Webhook = &notify.Webhook{
		Event: notify.AlertEvent(a.EventType),
		Site:  notify.Site{ID: a.SiteID, Name: siteName},
		Data:  hookData,
	}

	if process && cfg.CortexSecret != "" && store.Truthy(data(snaps[2])["autonomousEnabled"]) && !localCortexLive(machine, now) {
		job.Cortex = &notify.Cortex{Body: map[string]any{
			"siteId": a.SiteID, "machineId": a.MachineID, "machineName": a.MachineName,
			"eventType": a.EventType, "processName": a.ProcessName,
			"errorMessage": a.ErrorMessage, "agentVersion": a.Version,
		}}
	}

	job.Prepare(now)
	if _, err := notify.Put(ctx, fs, job); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, resp)
}

// localCortexLive: the machine runs its own Cortex (online, heartbeat
// younger than 30 s), which handles process events itself.
func localCortexLive(machine map[string]any, now time.Time) bool {
	cs, _ := machine["cortexStatus"].(map[string]any)
	if on, _ := cs["online"].(bool); !on {
		return false
	}
	ms, ok := store.Millis(cs["lastHeartbeat"])
	return ok && now.UnixMilli()-ms < LocalCortexFresh.Milliseconds()
}

func data(s *firestore.DocumentSnapshot) map[string]any {
	if s == nil || !s.Exists() {
		return map[string]any{}
	}
	return s.Data()
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
