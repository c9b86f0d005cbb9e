package delivery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/owlette/server/shared/email"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/webhook"
)

// singleKey names the one outcome of a single-message e-mail part.
const singleKey = "all"

// emails sends the due messages of job's e-mail part and records each
// recipient's outcome in job.Email.Results.
func (d *Deliverer) emails(ctx context.Context, jobID string, job *notify.Job, now time.Time) {
	part := job.Email
	if part.Results == nil {
		part.Results = map[string]*notify.Outcome{}
	}
	log := logging.From(ctx)
	sender, err := d.emailSender()
	if err != nil || !notify.EmailConfigured(d.o.Config) {
		// Nothing can be sent until e-mail is configured: a permanent state
		// for this job (the queueing endpoint said so in its answer).
		for _, key := range d.emailKeys(part) {
			part.Results[key] = &notify.Outcome{Status: notify.OutcomeFailed, Error: "e-mail is not configured", UpdatedAt: now}
		}
		part.Status, _ = summarize(part.Results)
		return
	}
	var unsub *email.Unsubscriber
	if part.Preference != "" {
		unsub, _ = email.NewUnsubscriber(d.o.Config.CronSecret) // nil when unset: no link
	}
	send := func(key string, to, cc []string, uid string) {
		o := part.Results[key]
		if !due(o, now) {
			return
		}
		if o == nil {
			o = &notify.Outcome{}
			part.Results[key] = o
		}
		o.Attempts++
		o.UpdatedAt = now
		links := email.Links{DashboardURL: d.dashboard(job)}
		if unsub != nil && uid != notify.AdminUID && !part.Single {
			links.UnsubscribeURL, _ = unsub.Link(job.Origin, uid)
		}
		mail, err := render(job, links, d.envLabel(job))
		if err != nil { // no retry renders an unknown template
			o.Status, o.Error, o.NextAttemptAt = notify.OutcomeFailed, err.Error(), time.Time{}
			log.Error("e-mail not rendered", "error", o.Error)
			return
		}
		id, err := sender.Send(ctx, mail.Message(to, cc, jobID+":"+key))
		if err == nil {
			o.Status, o.ID, o.Error, o.NextAttemptAt = notify.OutcomeSent, id, "", time.Time{}
			return
		}
		o.Error = err.Error()
		if email.IsPermanent(err) || o.Attempts >= MaxEmailAttempts {
			o.Status, o.NextAttemptAt = notify.OutcomeFailed, time.Time{}
			log.Error("e-mail not sent: giving up", "recipient", key, "attempts", o.Attempts, "error", o.Error)
			return
		}
		o.Status, o.NextAttemptAt = notify.OutcomeRetry, now.Add(webhook.NextRetry(o.Attempts))
		log.Warn("e-mail not sent: will retry", "recipient", key, "attempts", o.Attempts, "error", o.Error)
	}
	if part.Single {
		var to, cc []string
		for _, r := range part.Recipients {
			to = append(to, r.Email)
			cc = append(cc, r.CC...)
		}
		send(singleKey, to, cc, "")
	} else {
		for _, r := range part.Recipients {
			send(r.UID, []string{r.Email}, r.CC, r.UID)
		}
	}
	part.Status, _ = summarize(part.Results)
}

func (d *Deliverer) emailKeys(part *notify.Email) []string {
	if part.Single {
		return []string{singleKey}
	}
	keys := make([]string, len(part.Recipients))
	for i, r := range part.Recipients {
		keys[i] = r.UID
	}
	return keys
}

// dashboard is the base URL e-mail buttons lead to.
func (d *Deliverer) dashboard(job *notify.Job) string {
	if b := d.o.Config.BaseURL; b != "" {
		return strings.TrimRight(b, "/")
	}
	return job.Origin
}

func (d *Deliverer) envLabel(job *notify.Job) string {
	if s := str(job.Params["environment"]); s != "" {
		return s
	}
	return notify.EnvLabel(d.o.Config)
}

// render builds the job's mail for one recipient from its template and
// params (their meaning is listed in shared/notify). The event time is the
// job's creation, so a retried mail is the same mail.
func render(job *notify.Job, links email.Links, env string) (email.Mail, error) {
	p := job.Params
	at := job.CreatedAt
	zone := str(p["machineTimezone"])
	switch job.Email.Template {
	case notify.TemplateAgentError, notify.TemplateProcessAlert:
		return email.AgentAlert{
			EventType: str(p["eventType"]), SiteID: job.SiteID, SiteName: str(p["siteName"]),
			MachineID: str(p["machineId"]), MachineName: str(p["machineName"]), ProcessName: str(p["processName"]),
			ErrorCode: str(p["errorCode"]), ErrorMessage: str(p["errorMessage"]), AgentVersion: str(p["agentVersion"]),
			Time: at, Timezone: zone, Links: links,
		}.Render(), nil
	case notify.TemplateThresholdAlert:
		return email.ThresholdAlert{
			SiteID: job.SiteID, SiteName: str(p["siteName"]), MachineID: str(p["machineId"]), MachineName: str(p["machineName"]),
			RuleName: str(p["ruleName"]), Metric: str(p["metric"]), Operator: str(p["operator"]), Severity: str(p["severity"]),
			Value: p["value"], Threshold: p["threshold"], Time: at, Timezone: zone, Links: links,
		}.Render(), nil
	case notify.TemplateMachinesOffline:
		checked := at
		if t, ok := p["checkedAt"].(time.Time); ok {
			checked = t
		}
		var machines []email.OfflineMachine
		list, _ := p["machines"].([]any)
		for _, m := range list {
			mm, _ := m.(map[string]any)
			om := email.OfflineMachine{ID: str(mm["id"])}
			om.LastHeartbeat, _ = mm["lastHeartbeat"].(time.Time)
			machines = append(machines, om)
		}
		return email.MachinesOffline{SiteID: job.SiteID, SiteName: str(p["siteName"]), Machines: machines,
			CheckedAt: checked, Timezone: zone, Links: links}.Render(), nil
	case notify.TemplateSimulated:
		return email.Simulated{Env: env, Event: str(p["event"]), SiteID: job.SiteID, SiteName: str(p["siteName"]),
			MachineID: str(p["machineId"]), MachineName: str(p["machineName"]), ProcessName: str(p["processName"]),
			ErrorMessage: str(p["errorMessage"]), Time: at, Timezone: zone, DashboardURL: links.DashboardURL}.Render(), nil
	case notify.TemplateCortexEscalation:
		return email.CortexEscalation{SiteID: job.SiteID, SiteName: str(p["siteName"]), MachineID: str(p["machineId"]),
			MachineName: str(p["machineName"]), ProcessName: str(p["processName"]), Summary: str(p["summary"]),
			EventID: str(p["eventId"]), Time: at, Timezone: zone, Links: links}.Render(), nil
	case notify.TemplateFeedback:
		return email.Feedback{Env: env, ReportID: str(p["reportId"]), Source: str(p["source"]), Category: str(p["category"]),
			Title: str(p["title"]), Description: str(p["description"]), UserID: str(p["userId"]), UserEmail: str(p["userEmail"]),
			BrowserUA: str(p["browserUA"]), PageURL: str(p["pageUrl"]), AppVersion: str(p["appVersion"]), Time: at}.Render(), nil
	}
	return email.Mail{}, fmt.Errorf("unknown e-mail template %q", job.Email.Template)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
