package delivery_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/delivery"
	"github.com/owlette/server/shared/email/resendfake"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/webhook/webhooktest"
)

const secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// env is an isolated project with e-mail pointed at a fake Resend.
type env struct {
	*apptest.Env
	resend *resendfake.Server
	site   string
	ctx    context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := apptest.New(t)
	fake, err := resendfake.Start("127.0.0.1:0", resendfake.WithAPIKey("re_test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	e.D.Config.ResendAPIKey, e.D.Config.ResendBaseURL = "re_test", fake.URL()
	e.D.Config.WebhookAllowLoopback = true
	e.D.Config.BaseURL = "https://owlette.test"
	return &env{Env: e, resend: fake, site: e.Site("site-a", ""), ctx: context.Background()}
}

// put queues job as a producer would and returns its id.
func (e *env) put(t *testing.T, job *notify.Job) string {
	t.Helper()
	if job.SiteID == "" {
		job.SiteID = e.site
	}
	job.Origin = "https://owlette.test"
	job.DedupeKey = notify.DedupeKey(job.Kind, t.Name(), time.Now().String())
	job.Prepare(e.Clock.Now())
	if _, err := notify.Put(e.ctx, e.FS, job); err != nil {
		t.Fatal(err)
	}
	return job.DedupeKey
}

func (e *env) job(t *testing.T, id string) *notify.Job {
	t.Helper()
	snap, err := e.FS.Collection(notify.Collection).Doc(id).Get(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var j notify.Job
	if err := snap.DataTo(&j); err != nil {
		t.Fatal(err)
	}
	return &j
}

func crashJob(recips ...notify.Recipient) *notify.Job {
	return &notify.Job{
		Kind: notify.KindAgentAlert,
		Params: map[string]any{"eventType": "process_crash", "machineId": "PC-1", "machineName": "PC-1",
			"processName": "TouchDesigner", "errorMessage": "exit 1", "siteName": "Site A", "machineTimezone": "Pacific Standard Time"},
		Email: &notify.Email{Template: notify.TemplateProcessAlert, Preference: notify.PrefProcessAlerts, Recipients: recips,
			Subject: "Process crashed: TouchDesigner on PC-1"},
	}
}

// TestEmailsOnePerRecipient: each recipient gets their own message with
// their CCs and unsubscribe link (none for the admin fallback), under an
// idempotency key; a processed job is not processed again.
func TestEmailsOnePerRecipient(t *testing.T) {
	e := newEnv(t)
	id := e.put(t, crashJob(
		notify.Recipient{UID: "u1", Email: "one@example.test", CC: []string{"cc@example.test"}},
		notify.Admin("admin@example.test"),
	))
	d := delivery.For(e.D)
	if r, err := d.Process(e.ctx, id); err != nil || r.Status != notify.StatusDone {
		t.Fatalf("process: %+v %v", r, err)
	}
	msgs := e.resend.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	byTo := map[string]resendfake.Message{}
	for _, m := range msgs {
		byTo[m.To[0]] = m
		if m.Subject != "Process crashed: TouchDesigner on PC-1" {
			t.Errorf("subject %q", m.Subject)
		}
		if !strings.HasPrefix(m.IdempotencyKey, id+":") {
			t.Errorf("idempotency key %q", m.IdempotencyKey)
		}
	}
	one, admin := byTo["one@example.test"], byTo["admin@example.test"]
	if len(one.CC) != 1 || one.CC[0] != "cc@example.test" || !strings.Contains(one.HTML, "/api/unsubscribe?token=") || one.Headers["List-Unsubscribe"] == "" {
		t.Errorf("recipient mail: cc %v, unsubscribe link %v", one.CC, strings.Contains(one.HTML, "unsubscribe"))
	}
	if strings.Contains(admin.HTML, "/api/unsubscribe") || admin.Headers["List-Unsubscribe"] != "" {
		t.Errorf("the admin fallback got an unsubscribe link")
	}
	if !strings.Contains(one.HTML, "PST") && !strings.Contains(one.HTML, "PDT") {
		t.Errorf("time not in the machine's zone (Pacific Standard Time)")
	}
	j := e.job(t, id)
	if j.Email.Status != notify.OutcomeSent || j.Email.Results["u1"].Status != notify.OutcomeSent || j.Email.Results["u1"].ID == "" || j.FinishedAt.IsZero() || j.ExpireAt.IsZero() {
		t.Errorf("job after delivery: %+v, email %+v", j, j.Email)
	}
	// A redelivered event does nothing.
	if r, err := d.Process(e.ctx, id); err != nil || r.Skipped != "finished" {
		t.Fatalf("second process: %+v %v", r, err)
	}
	if n := len(e.resend.Messages()); n != 2 {
		t.Fatalf("%d messages after a redelivery", n)
	}
}

// TestEmailRetries: a transient Resend failure is retried after a backoff,
// through the sweep; a permanent one fails the recipient for good.
func TestEmailRetries(t *testing.T) {
	e := newEnv(t)
	d := delivery.For(e.D)
	e.resend.FailNext(1, 503)
	id := e.put(t, crashJob(notify.Recipient{UID: "u1", Email: "one@example.test"}))
	if r, err := d.Process(e.ctx, id); err != nil || r.Status != notify.StatusRetry {
		t.Fatalf("process: %+v %v", r, err)
	}
	j := e.job(t, id)
	o := j.Email.Results["u1"]
	if o.Status != notify.OutcomeRetry || o.Attempts != 1 || !j.NextAttemptAt.After(e.Clock.Now()) {
		t.Fatalf("after a 503: %+v, job next %v", o, j.NextAttemptAt)
	}
	if r, _ := d.Process(e.ctx, id); r.Skipped != "not due" {
		t.Fatalf("processed before it was due: %+v", r)
	}
	e.Clock.Advance(j.NextAttemptAt.Sub(e.Clock.Now()) + time.Second)
	res, err := d.Sweep(e.ctx)
	if err != nil || res.Due != 1 || res.Processed != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	if j := e.job(t, id); j.Status != notify.StatusDone || j.Email.Results["u1"].Attempts != 2 {
		t.Fatalf("after the retry: %s %+v", j.Status, j.Email.Results["u1"])
	}
	if n := len(e.resend.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}

	e.resend.FailNext(1, 422)
	id = e.put(t, crashJob(notify.Recipient{UID: "u2", Email: "two@example.test"}))
	if r, err := d.Process(e.ctx, id); err != nil || r.Status != notify.StatusDone {
		t.Fatalf("process: %+v %v", r, err)
	}
	if o := e.job(t, id).Email.Results["u2"]; o.Status != notify.OutcomeFailed {
		t.Fatalf("after a 422: %+v", o)
	}
}

// TestSingleMessage: E43's part is one message to everyone, CC the union of
// their CCs minus the To list, no unsubscribe link.
func TestSingleMessage(t *testing.T) {
	e := newEnv(t)
	job := &notify.Job{Kind: notify.KindSimulated,
		Params: map[string]any{"event": "process_crash", "machineId": "test-machine", "machineName": "Test Machine", "processName": "TD"},
		Email: &notify.Email{Template: notify.TemplateSimulated, Single: true, Recipients: []notify.Recipient{
			{UID: "a", Email: "a@example.test", CC: []string{"b@example.test", "x@example.test"}},
			{UID: "b", Email: "b@example.test", CC: []string{"x@example.test", "y@example.test"}},
		}}}
	id := e.put(t, job)
	if _, err := delivery.For(e.D).Process(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	msgs := e.resend.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if strings.Join(m.To, ",") != "a@example.test,b@example.test" || strings.Join(m.CC, ",") != "x@example.test,y@example.test" {
		t.Errorf("to %v cc %v", m.To, m.CC)
	}
	if !strings.Contains(m.Subject, "[SIMULATED] Process crashed: TD on Test Machine") || strings.Contains(m.HTML, "/api/unsubscribe") {
		t.Errorf("subject %q", m.Subject)
	}
}

// webhookDoc writes a webhook as E45 stores it.
func (e *env) webhookDoc(t *testing.T, id, url string, events []string, enabled bool, failCount int) {
	t.Helper()
	_, err := e.FS.Doc("sites/"+e.site+"/webhooks/"+id).Set(e.ctx, map[string]any{
		"url": url, "name": id, "events": events, "enabled": enabled, "secret": secret,
		"createdAt": e.Clock.Now(), "createdBy": "u", "lastTriggered": nil, "lastStatus": 0, "failCount": failCount,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func hookJob(event string) *notify.Job {
	return &notify.Job{Kind: notify.KindAgentAlert, Webhook: &notify.Webhook{
		Event: event, Site: notify.Site{ID: "site-a", Name: "Site A"},
		Data: map[string]any{"machine": map[string]any{"id": "PC-1", "name": "PC-1"}, "process": map[string]any{"name": "TD", "error": "exit 1"}},
	}}
}

// TestWebhookRetries: the subscribed, enabled webhooks get the event with
// both signatures; one that fails three times gets it exactly once more,
// through the sweep's backoff, with every attempt recorded; a non-public
// target is refused when dialled and not retried; others are not called.
func TestWebhookRetries(t *testing.T) {
	e := newEnv(t)
	good, flaky, other := webhooktest.New(t, secret), webhooktest.New(t, secret), webhooktest.New(t, secret)
	flaky.FailFirst(3, 500)
	e.webhookDoc(t, "good", good.URL+"/hook", []string{"process.crashed"}, true, 0)
	e.webhookDoc(t, "flaky", flaky.URL+"/hook", []string{"process_crash"}, true, 4) // an underscore subscription
	e.webhookDoc(t, "disabled", other.URL+"/hook", []string{"process.crashed"}, false, 0)
	e.webhookDoc(t, "elsewhere", other.URL+"/hook", []string{"machine.offline"}, true, 0)
	e.webhookDoc(t, "private", "https://10.1.2.3/hook", []string{"process.crashed"}, true, 0)
	d := delivery.For(e.D)
	id := e.put(t, hookJob("process.crashed"))
	if r, err := d.Process(e.ctx, id); err != nil || r.Status != notify.StatusRetry {
		t.Fatalf("process: %+v %v", r, err)
	}
	g := good.Deliveries()
	if len(g) != 1 || !g[0].SignatureOK || !g[0].StandardOK || g[0].JSON["event"] != "process.crashed" || g[0].Header.Get("webhook-id") != id+":good" {
		t.Fatalf("good receiver: %+v", g)
	}
	j := e.job(t, id)
	if o := j.Webhook.Targets["private"]; o.Status != notify.OutcomeFailed || o.LastStatus != 0 || !strings.Contains(o.Error, "not public") {
		t.Errorf("private target: %+v", o)
	}
	if _, ok := j.Webhook.Targets["disabled"]; ok || len(j.Webhook.Targets) != 3 {
		t.Errorf("targets %v", j.Webhook.Targets)
	}
	for i := 2; i <= 4; i++ {
		j := e.job(t, id)
		e.Clock.Advance(j.NextAttemptAt.Sub(e.Clock.Now()) + time.Second)
		if _, err := d.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(flaky.Deliveries()); n != i {
			t.Fatalf("after sweep %d: %d deliveries to the flaky target", i-1, n)
		}
	}
	j = e.job(t, id)
	if j.Status != notify.StatusDone || j.Webhook.Targets["flaky"].Status != notify.OutcomeSent || j.Webhook.Targets["flaky"].Attempts != 4 {
		t.Fatalf("after the retries: %s %+v", j.Status, j.Webhook.Targets["flaky"])
	}
	// More sweeps: nothing more for anyone.
	e.Clock.Advance(time.Hour)
	if _, err := d.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	if len(flaky.Deliveries()) != 4 || len(good.Deliveries()) != 1 || len(other.Deliveries()) != 0 {
		t.Fatalf("extra deliveries: flaky %d good %d other %d", len(flaky.Deliveries()), len(good.Deliveries()), len(other.Deliveries()))
	}
	f := flaky.Deliveries()
	for i, x := range f {
		if x.Header.Get("webhook-id") != id+":flaky" || string(x.Body) != string(f[0].Body) || !x.SignatureOK {
			t.Errorf("attempt %d: id %q, same body %v, signed %v", i+1, x.Header.Get("webhook-id"), string(x.Body) == string(f[0].Body), x.SignatureOK)
		}
	}
	recs, err := e.FS.Collection("sites/" + e.site + "/webhooks/flaky/deliveries").Documents(e.ctx).GetAll()
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d delivery records, want 4 (%v)", len(recs), err)
	}
	wh := e.Doc("sites/" + e.site + "/webhooks/flaky")
	if wh["failCount"] != int64(0) || wh["lastStatus"] != int64(200) || wh["enabled"] != true {
		t.Errorf("flaky webhook after delivery: %v", wh)
	}
}

// TestAutoDisable: a webhook whose 10th consecutive event fails is
// disabled.
func TestAutoDisable(t *testing.T) {
	e := newEnv(t)
	e.webhookDoc(t, "dead", "https://10.9.9.9/hook", []string{"machine.offline"}, true, 9)
	if _, err := delivery.For(e.D).Process(e.ctx, e.put(t, hookJob("machine.offline"))); err != nil {
		t.Fatal(err)
	}
	wh := e.Doc("sites/" + e.site + "/webhooks/dead")
	if wh["failCount"] != int64(10) || wh["enabled"] != false {
		t.Fatalf("after the 10th failed event: %v", wh)
	}
}

// TestOneWorkerAtATime: concurrent deliveries of one job (redelivered
// events, the sweep) do the work once; a worker that died leaves a lease
// the sweep takes over once it expires.
func TestOneWorkerAtATime(t *testing.T) {
	e := newEnv(t)
	rcv := webhooktest.New(t, secret)
	e.webhookDoc(t, "w", rcv.URL+"/hook", []string{"machine.offline"}, true, 0)
	d := delivery.For(e.D)
	id := e.put(t, hookJob("machine.offline"))
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { _, _ = d.Process(e.ctx, id) })
	}
	wg.Wait()
	if n := len(rcv.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries from 5 concurrent workers, want 1", n)
	}
	// A job a dead worker left leased.
	id = e.put(t, hookJob("machine.offline"))
	if _, err := e.FS.Collection(notify.Collection).Doc(id).Update(e.ctx, []firestore.Update{
		{Path: "status", Value: notify.StatusProcessing}, {Path: "leaseUntil", Value: e.Clock.Now().Add(delivery.Lease)},
	}); err != nil {
		t.Fatal(err)
	}
	if r, _ := d.Process(e.ctx, id); r.Skipped != "leased" {
		t.Fatalf("a leased job was processed: %+v", r)
	}
	e.Clock.Advance(delivery.Lease + time.Second)
	res, err := d.Sweep(e.ctx)
	if err != nil || res.Stale != 1 || res.Processed != 1 || len(rcv.Deliveries()) != 2 {
		t.Fatalf("sweep of an expired lease: %+v %v, %d deliveries", res, err, len(rcv.Deliveries()))
	}
}

// TestAutonomousHandOff: the autonomous part goes to the investigation
// gates; a refusal is final, an error is retried.
func TestAutonomousHandOff(t *testing.T) {
	e := newEnv(t)
	var calls []map[string]any
	answer := func(ctx context.Context, body map[string]any) (bool, string, string, error) {
		calls = append(calls, body)
		switch len(calls) {
		case 1:
			return true, "", "evt_1", nil
		case 2:
			return false, "cooldown_active", "", nil
		default:
			return false, "", "", errors.New("firestore unavailable")
		}
	}
	d := delivery.New(delivery.Options{FS: e.FS, Config: e.D.Config, Now: e.Clock.Now, Accept: answer})
	for i, want := range []string{notify.OutcomeAccepted, notify.OutcomeRefused, notify.OutcomeRetry} {
		id := e.put(t, &notify.Job{Kind: notify.KindAgentAlert, Cortex: &notify.Cortex{Body: map[string]any{"siteId": e.site, "machineId": "PC-1", "n": i}}})
		if _, err := d.Process(e.ctx, id); err != nil {
			t.Fatal(err)
		}
		j := e.job(t, id)
		if j.Cortex.Result.Status != want {
			t.Errorf("hand-off %d: %+v, want %s", i, j.Cortex.Result, want)
		}
		if want == notify.OutcomeRetry && j.Status != notify.StatusRetry {
			t.Errorf("a failed hand-off left the job %s", j.Status)
		}
	}
	if calls[0]["machineId"] != "PC-1" {
		t.Errorf("body %v", calls[0])
	}
}
