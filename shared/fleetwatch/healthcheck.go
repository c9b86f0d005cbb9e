package fleetwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// siteParallelism bounds the sites alerted at once.
const siteParallelism = 8

// maxPerAlert bounds the machines of one site alerted in one transaction
// (three writes each, plus the e-mail: within Firestore's classic 500
// writes per commit). A site with more newly offline machines in one run
// gets one e-mail per such group.
const maxPerAlert = 150

// Result is what one health check did. Unlike the original, which listed
// every site and machine, it only sees the stale machines: SitesChecked
// and MachinesChecked count those.
type Result struct {
	SitesChecked    int // sites with stale machines
	MachinesChecked int // stale machines found (online, heartbeat older than StaleAfter)
	OfflineMachines int // machines alerted by this run
	AlertsSent      int // offline e-mails queued (one per recipient)
	WebhooksQueued  int // machine.offline webhook jobs queued
}

// StaleQuery finds the machines marked online whose last heartbeat is older
// than StaleAfter at now (collection group "machines": its composite index
// online↑ lastHeartbeat↑ is in firestore.indexes.json). Only the fields the
// check reads are fetched. A heartbeat that is missing or not a timestamp
// is not found (the agent always writes a server timestamp).
func StaleQuery(fs *firestore.Client, now time.Time) firestore.Query {
	return fs.CollectionGroup("machines").
		Where("online", "==", true).
		Where("lastHeartbeat", "<", now.Add(-StaleAfter)).
		Select("lastHeartbeat", "machine_timezone", MarkerField)
}

// candidate is a stale machine whose cooldown may have passed.
type candidate struct{ site, machine string }

// Check runs the health check once at d.Now(): every machine marked online
// whose heartbeat is older than StaleAfter and that was not alerted within
// OfflineCooldown alerts. Per site (per maxPerAlert machines), in one
// transaction that re-reads the machines (a heartbeat in between wins) and
// their machine_health state, it writes: one machines_offline e-mail job to
// the site's recipients (§1.14 with the healthAlerts filter, DECISIONS 5.7)
// when e-mail is configured and anyone qualifies; one machine.offline
// webhook job per machine when the site has a webhook subscribed to it,
// whether or not there is e-mail (§12.16); the machines' machine_health
// state and their markers. The cooldown is thus set exactly when the
// notifications are queued. origin is the base URL for unsubscribe links.
func Check(ctx context.Context, d *app.Deps, origin string) (Result, error) {
	if logging.From(ctx) == slog.Default() {
		ctx = logging.With(ctx, d.Log)
	}
	now := d.Now()
	var res Result
	stale, err := StaleQuery(d.Firestore, now).Documents(ctx).GetAll()
	if err != nil {
		return res, fmt.Errorf("stale machines: %w", err)
	}
	bySite := map[string][]candidate{}
	sites := map[string]bool{}
	for _, s := range stale {
		site, machine, ok := machineOf(s.Ref)
		if !ok {
			continue
		}
		res.MachinesChecked++
		sites[site] = true
		// Alerted within the hour and not back since: its marker says so,
		// no read needed.
		if m := Marker(s.Data()); !m.IsZero() && now.Sub(m) < OfflineCooldown {
			continue
		}
		bySite[site] = append(bySite[site], candidate{site, machine})
	}
	res.SitesChecked = len(sites)

	ids := make([]string, 0, len(bySite))
	for id := range bySite {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, siteParallelism)
	)
	for _, site := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cands := bySite[site]
			sort.Slice(cands, func(i, j int) bool { return cands[i].machine < cands[j].machine })
			for len(cands) > 0 {
				chunk := cands[:min(len(cands), maxPerAlert)]
				cands = cands[len(chunk):]
				out, err := alertSite(ctx, d, site, chunk, now, origin)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("site %s: %w", site, err))
				}
				res.OfflineMachines += out.OfflineMachines
				res.AlertsSent += out.AlertsSent
				res.WebhooksQueued += out.WebhooksQueued
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	logging.From(ctx).Info("health check", "staleMachines", res.MachinesChecked, "sites", res.SitesChecked,
		"alerted", res.OfflineMachines, "emails", res.AlertsSent, "webhooks", res.WebhooksQueued, "errors", len(errs))
	return res, errors.Join(errs...)
}

// errNothingDue ends a transaction that found nothing to alert.
var errNothingDue = errors.New("nothing due")

// offline is a machine alerted by this run.
type offline struct {
	id       string
	lastSeen time.Time // zero: no heartbeat
	timezone any
}

// alertSite alerts a site's due machines in one transaction.
func alertSite(ctx context.Context, d *app.Deps, site string, cands []candidate, now time.Time, origin string) (Result, error) {
	fs := d.Firestore
	refs := make([]*firestore.DocumentRef, 0, 2*len(cands))
	for _, c := range cands {
		refs = append(refs, MachineRef(fs, site, c.machine), HealthRef(fs, site, c.machine))
	}
	var out Result
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		out = Result{}
		snaps, err := tx.GetAll(refs)
		if err != nil {
			return err
		}
		var due []offline
		for i, c := range cands {
			m, st := data(snaps[2*i]), data(snaps[2*i+1])
			hb := Heartbeat(m)
			if m == nil || m["online"] != true || !hb.Before(now.Add(-StaleAfter)) {
				continue // gone, marked offline, or heartbeated since the query
			}
			if last := timeOf(st[fieldLastAlertAt]); !last.IsZero() && now.Sub(last) < OfflineCooldown {
				continue
			}
			due = append(due, offline{id: c.machine, lastSeen: hb, timezone: m["machine_timezone"]})
		}
		if len(due) == 0 {
			return errNothingDue
		}
		// Only now is the site worth reading: outside the transaction
		// (nothing here needs its isolation).
		jobs, err := offlineJobs(ctx, d, site, due, now, origin)
		if err != nil {
			return err
		}
		for _, m := range due {
			var lastSeen any
			if !m.lastSeen.IsZero() {
				lastSeen = m.lastSeen
			}
			if err := tx.Set(HealthRef(fs, site, m.id), map[string]any{
				"siteId": site, "machineId": m.id,
				fieldLastAlertAt: now, fieldAlertMarker: firestore.ServerTimestamp, fieldLastSeen: lastSeen,
				fieldOnlineOwed: true, fieldOnlineAt: nil,
			}); err != nil {
				return err
			}
			// Same commit, same server time as alertMarker.
			if err := tx.Update(MachineRef(fs, site, m.id), []firestore.Update{{Path: MarkerField, Value: firestore.ServerTimestamp}}); err != nil {
				return err
			}
		}
		for _, j := range jobs {
			j.Prepare(now)
			if err := tx.Create(notify.Ref(fs, j), j); err != nil {
				return err
			}
			if j.Email != nil {
				out.AlertsSent += len(j.Email.Recipients)
			}
			if j.Webhook != nil {
				out.WebhooksQueued++
			}
		}
		out.OfflineMachines = len(due)
		return nil
	})
	if err != nil {
		if errors.Is(err, errNothingDue) {
			err = nil
		}
		return Result{}, err
	}
	return out, nil
}

// offlineJobs builds a site's jobs for the machines due: the e-mail and one
// machine.offline webhook per machine.
func offlineJobs(ctx context.Context, d *app.Deps, site string, due []offline, now time.Time, origin string) ([]*notify.Job, error) {
	fs, cfg := d.Firestore, d.Config
	wantEmail := notify.EmailConfigured(cfg)
	var (
		wg         sync.WaitGroup
		siteSnap   *firestore.DocumentSnapshot
		assigned   []*firestore.DocumentSnapshot
		hooks      int64
		sErr, qErr error
		hErr       error
	)
	wg.Go(func() {
		siteSnap, sErr = fs.Collection("sites").Doc(site).Get(ctx)
		if store.NotFound(sErr) {
			sErr = nil
		}
	})
	if wantEmail {
		wg.Go(func() { assigned, qErr = notify.AssignedUsers(ctx, fs, site) })
	}
	wg.Go(func() { hooks, hErr = HookCount(ctx, fs, site, notify.EventMachineOffline) })
	wg.Wait()
	if err := errors.Join(sErr, qErr, hErr); err != nil {
		return nil, err
	}
	siteData := data(siteSnap)
	name := siteName(site, siteData)
	var jobs []*notify.Job
	if wantEmail {
		owner, _ := siteData["owner"].(string)
		recips, err := notify.Recipients(ctx, fs, assigned, owner, notify.PrefHealthAlerts, cfg.AdminEmail)
		if err != nil {
			return nil, err
		}
		if len(recips) > 0 {
			list := make([]any, len(due))
			// Keyed by the machines too: two runs in one minute (E63 called
			// by hand after the schedule) alerting different machines of
			// the site must not collide.
			key := []string{site, notify.Bucket(now)}
			for i, m := range due {
				var hb any
				if !m.lastSeen.IsZero() {
					hb = m.lastSeen
				}
				list[i] = map[string]any{"id": m.id, "lastHeartbeat": hb}
				key = append(key, m.id)
			}
			jobs = append(jobs, &notify.Job{
				Kind: notify.KindMachinesOffline, SiteID: site, Origin: origin,
				DedupeKey: notify.DedupeKey(notify.KindMachinesOffline, key...),
				Params: map[string]any{
					"siteName": name, "machines": list, "checkedAt": now, "machineTimezone": due[0].timezone,
				},
				Email: &notify.Email{
					Template: notify.TemplateMachinesOffline, Preference: notify.PrefHealthAlerts, Recipients: recips,
					Subject: strconv.Itoa(len(due)) + " machine(s) offline in " + site,
				},
			})
		}
	}
	if hooks > 0 {
		for _, m := range due {
			lastSeen := store.ISO(time.UnixMilli(0))
			if !m.lastSeen.IsZero() {
				lastSeen = store.ISO(m.lastSeen)
			}
			jobs = append(jobs, stateJob(site, name, m.id, notify.EventMachineOffline, lastSeen, origin,
				notify.DedupeKey(notify.KindMachineState, notify.EventMachineOffline, site, m.id, notify.Bucket(now))))
		}
	}
	return jobs, nil
}

// stateJob is the machine_state job of one machine's machine.offline or
// machine.online webhook (api.md §1.13: data {machine:{id, name:=id,
// lastSeen ISO}}).
func stateJob(site, name, machine, event, lastSeen, origin, key string) *notify.Job {
	return &notify.Job{
		Kind: notify.KindMachineState, SiteID: site, Origin: origin, DedupeKey: key,
		Params: map[string]any{"event": event, "machineId": machine, "lastSeen": lastSeen},
		Webhook: &notify.Webhook{
			Event: event,
			Site:  notify.Site{ID: site, Name: name},
			Data:  map[string]any{"machine": map[string]any{"id": machine, "name": machine, "lastSeen": lastSeen}},
		},
	}
}

// Handler is E63 GET /api/cron/health-check (guard.Cron): it runs Check with
// the request's origin for links, as the original did, and answers
// {"ok":true, "sitesChecked", "machinesChecked", "alertsSent"} plus
// "offlineMachines" when any machine alerted, and "webhooksQueued".
// alertsSent counts the e-mails queued.
func Handler(d *app.Deps) web.HandlerFunc {
	return handler(d, func(r *http.Request) string { return notify.Origin(d.Config, r) })
}

// ScheduledHandler is the same for the Cloud Scheduler job, whose request
// names the function's own URL: links use DefaultOrigin.
func ScheduledHandler(d *app.Deps) web.HandlerFunc {
	return handler(d, func(*http.Request) string { return DefaultOrigin(d.Config) })
}

func handler(d *app.Deps, origin func(*http.Request) string) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		res, err := Check(r.Context(), d, origin(r))
		if err != nil {
			// What was queued stays queued; the next run retries the rest.
			return web.Internal(err)
		}
		out := web.M{"ok": true, "sitesChecked": res.SitesChecked, "machinesChecked": res.MachinesChecked,
			"alertsSent": res.AlertsSent, "webhooksQueued": res.WebhooksQueued}
		if res.OfflineMachines > 0 {
			out["offlineMachines"] = res.OfflineMachines
		}
		return web.OK(w, out)
	}
}
