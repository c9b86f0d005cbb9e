package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/trigger"
	"github.com/owlette/server/shared/trigger/relay"
)

// ScheduleEveryEnv overrides every schedule's period locally, e.g. 20s, so a
// sweep can be watched without waiting five minutes.
const ScheduleEveryEnv = "OWLETTE_SCHEDULE_EVERY"

// cronSecretHeader is how the local scheduler authenticates, as an operator
// would (production jobs send an OIDC token instead).
const cronSecretHeader = "X-Cron-Secret"

// reRegisterEvery re-registers the triggers and the relay route, so a
// restarted emulator or relay is picked up again.
const reRegisterEvery = 30 * time.Second

// withBackground starts the dev server's background work so a local run
// behaves like production, and returns the handler to serve: api plus the
// trigger bridge under /functions/.
//
//   - Triggers: the Firestore emulator delivers change events for this
//     project to the relay ($OWLETTE_TRIGGER_RELAY, run by scripts/stack),
//     which forwards them to base/functions/projects/<project>/triggers/<id>,
//     where the bridge runs the trigger function.
//   - Schedules: each scheduled function runs in-process on its period
//     (OWLETTE_SCHEDULE_EVERY overrides it), authenticated with CRON_SECRET.
func withBackground(ctx context.Context, d *app.Deps, api http.Handler, base string) http.Handler {
	fns := map[string]trigger.CloudEventFunc{}
	var specs []trigger.Spec
	for _, t := range registry.Of(fn.Firestore) {
		fns[t.Name] = trigger.Bind(d, t.Handle)
		specs = append(specs, trigger.Spec{ID: t.Name, EventType: t.EventType, Document: t.Document})
	}
	bridge := &trigger.Bridge{Project: d.Config.ProjectID, Functions: fns, Log: d.Log, Observe: func(x trigger.Delivery) {
		if x.Err != nil {
			d.Log.Error("trigger failed", "trigger", x.Trigger, "document", x.Document, "error", x.Err.Error(), "ms", x.Took.Milliseconds())
			return
		}
		d.Log.Info("trigger handled", "trigger", x.Trigger, "document", x.Document, "ms", x.Took.Milliseconds())
	}}
	go keepRegistered(ctx, d.Log, d.Config.ProjectID, base, specs)
	for _, s := range registry.Of(fn.Scheduled) {
		go runSchedule(ctx, d, s, app.Build(d, s.Register), scheduleEvery(s, d.Log))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, trigger.BridgePrefix) {
			bridge.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// keepRegistered registers the triggers on the emulator and this server on
// the relay now and every reRegisterEvery, logging only changes of state;
// on shutdown it removes the relay route.
func keepRegistered(ctx context.Context, log *slog.Logger, project, base string, specs []trigger.Spec) {
	relayAddr, emulator := os.Getenv(relay.EnvVar), os.Getenv("FIRESTORE_EMULATOR_HOST")
	if relayAddr == "" {
		log.Warn("Firestore triggers are not delivered: " + relay.EnvVar + " is not set (start the dev server with `make dev`)")
		return
	}
	var last string
	tick := time.NewTicker(reRegisterEvery)
	defer tick.Stop()
	for {
		err := trigger.RegisterLocal(ctx, emulator, relayAddr, project, base, specs)
		state := "ok"
		if err != nil {
			state = err.Error()
		}
		if state != last {
			if err != nil {
				log.Warn("Firestore triggers are not delivered (retrying)", "error", err.Error())
			} else {
				names := make([]string, len(specs))
				for i, s := range specs {
					names[i] = s.ID
				}
				log.Info("Firestore triggers delivered through the relay", "relay", relayAddr, "project", project, "triggers", strings.Join(names, ","))
			}
			last = state
		}
		select {
		case <-ctx.Done():
			uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = relay.Unregister(uctx, relayAddr, project, base)
			cancel()
			return
		case <-tick.C:
		}
	}
}

// scheduleEvery is the local period of s.
func scheduleEvery(s fn.Spec, log *slog.Logger) time.Duration {
	if v := os.Getenv(ScheduleEveryEnv); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
		log.Warn("ignoring a bad "+ScheduleEveryEnv, "value", v)
	}
	every, err := s.Every()
	if err != nil { // the registry test keeps every schedule local-friendly
		log.Error("schedule not run locally", "function", s.Name, "error", err.Error())
		return 24 * time.Hour
	}
	return every
}

// runSchedule calls h every period, as Cloud Scheduler calls the deployed
// function, until ctx ends.
func runSchedule(ctx context.Context, d *app.Deps, s fn.Spec, h http.Handler, every time.Duration) {
	d.Log.Info("schedule running locally", "function", s.Name, "every", every.String(), "cron", s.Cron)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			runOnce(ctx, d, s, h)
		}
	}
}

var scheduleMu sync.Mutex // one scheduled run at a time, like a 1-instance job

// runOnce makes one scheduled call and logs its outcome.
func runOnce(ctx context.Context, d *app.Deps, s fn.Spec, h http.Handler) *httptest.ResponseRecorder {
	scheduleMu.Lock()
	defer scheduleMu.Unlock()
	method := s.Method
	if method == "" {
		method = http.MethodGet
	}
	req := httptest.NewRequestWithContext(ctx, method, "/", nil)
	req.Header.Set(cronSecretHeader, d.Config.CronSecret)
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	msg := fmt.Sprintf("scheduled %s", s.Name)
	if rec.Code != http.StatusOK {
		d.Log.Error(msg+" failed", "status", rec.Code, "body", strings.TrimSpace(rec.Body.String()))
	} else {
		d.Log.Info(msg, "ms", time.Since(start).Milliseconds(), "result", strings.TrimSpace(rec.Body.String()))
	}
	return rec
}
