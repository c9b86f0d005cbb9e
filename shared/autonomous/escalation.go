package autonomous

import (
	"context"
	"strings"
	"sync"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
)

// DefaultSummary is an escalation's summary when the event has none.
const DefaultSummary = "Cortex could not resolve this issue automatically and needs a person to look at it."

// EscalationEvent is what an escalation e-mail says about its event.
type EscalationEvent struct {
	ID          string
	MachineID   string
	MachineName string
	ProcessName string
	Summary     string
}

// EscalationKey is the notification job id of an event's escalation e-mail:
// one per event, however often it is queued.
func EscalationKey(siteID, eventID string) string {
	return notify.DedupeKey(notify.KindEscalation, siteID, eventID)
}

// EscalationJob builds the escalation e-mail of an event as one
// notification_queue job (kind cortex_escalation, template
// cortex_escalation): recipients per api.md §1.14 with the healthAlerts
// preference (the admin address when nobody qualifies), subject
// "cortex escalation: <process> on <machine>", the summary cut to
// SummaryMax characters, the machine's time zone as stored (the sender maps
// Windows names). It returns nil when there is nobody to send to or e-mail
// is not configured. The job id is EscalationKey, so queueing it twice
// queues it once.
func EscalationJob(ctx context.Context, d *app.Deps, siteID string, ev EscalationEvent) (*notify.Job, error) {
	return escalationJob(ctx, d, newSiteCache(), siteID, ev)
}

func escalationJob(ctx context.Context, d *app.Deps, sites *siteCache, siteID string, ev EscalationEvent) (*notify.Job, error) {
	cfg := d.Config
	if !notify.EmailConfigured(cfg) {
		return nil, nil
	}
	fs := d.Firestore
	site, err := sites.get(ctx, fs, siteID)
	if err != nil {
		return nil, err
	}
	recips, err := notify.Recipients(ctx, fs, site.assigned, site.owner, notify.PrefHealthAlerts, cfg.AdminEmail)
	if err != nil {
		return nil, err
	}
	if len(recips) == 0 {
		return nil, nil
	}
	machineName := first(ev.MachineName, ev.MachineID, "Unknown")
	process := first(ev.ProcessName, "Unknown")
	summary := truncateRunes(first(strings.TrimSpace(ev.Summary), DefaultSummary), SummaryMax)
	// The machine's zone: by machine id (the original looked it up by
	// machine name, which is the id only when E17 sent it so).
	var tz any
	for _, id := range []string{ev.MachineID, ev.MachineName} {
		if store.ValidID(id) {
			snap, err := fs.Collection("sites").Doc(siteID).Collection("machines").Doc(id).Get(ctx)
			if err != nil && !store.NotFound(err) {
				return nil, err
			}
			if m := dataOf(snap); m != nil {
				tz = m["machine_timezone"]
				break
			}
		}
	}
	job := &notify.Job{
		Kind:   notify.KindEscalation,
		SiteID: siteID,
		Origin: EscalationOrigin(cfg),
		Params: map[string]any{
			"machineId": ev.MachineID, "machineName": machineName, "processName": process,
			"summary": summary, "eventId": ev.ID, "siteName": site.name, "machineTimezone": tz,
		},
		DedupeKey: EscalationKey(siteID, ev.ID),
		Email: &notify.Email{
			Template:   notify.TemplateCortexEscalation,
			Subject:    "cortex escalation: " + process + " on " + machineName,
			Preference: notify.PrefHealthAlerts,
			Recipients: recips,
		},
	}
	job.Prepare(d.Now())
	return job, nil
}

// EscalationOrigin is the base URL of links in escalation e-mails (api.md
// §1.14): BASE_URL, else the production or development dashboard.
func EscalationOrigin(cfg *config.Config) string {
	if cfg.BaseURL != "" {
		return strings.TrimRight(cfg.BaseURL, "/")
	}
	if cfg.Production() && !cfg.Dev {
		return "https://owlette.app"
	}
	return "https://dev.owlette.app"
}

// siteCache holds what escalations need of each site (name, owner,
// assigned users) for the length of one sweep.
type siteCache struct {
	mu sync.Mutex
	m  map[string]*siteInfo
}

type siteInfo struct {
	once     sync.Once
	name     string
	owner    string
	assigned []*firestore.DocumentSnapshot
	err      error
}

func newSiteCache() *siteCache { return &siteCache{m: map[string]*siteInfo{}} }

func (c *siteCache) get(ctx context.Context, fs *firestore.Client, siteID string) (*siteInfo, error) {
	c.mu.Lock()
	s := c.m[siteID]
	if s == nil {
		s = &siteInfo{}
		c.m[siteID] = s
	}
	c.mu.Unlock()
	s.once.Do(func() {
		var wg sync.WaitGroup
		var qErr error
		wg.Go(func() { s.assigned, qErr = notify.AssignedUsers(ctx, fs, siteID) })
		snap, err := fs.Collection("sites").Doc(siteID).Get(ctx)
		wg.Wait()
		if err != nil && !store.NotFound(err) {
			s.err = err
			return
		}
		if qErr != nil {
			s.err = qErr
			return
		}
		d := dataOf(snap)
		s.name, _ = d["name"].(string)
		if s.name == "" {
			s.name = siteID
		}
		s.owner, _ = d["owner"].(string)
	})
	return s, s.err
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
