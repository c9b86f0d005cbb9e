package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/email/resendfake"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/trigger/relay"
	"github.com/owlette/server/shared/webhook/webhooktest"
)

const hookSecret = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

// notifyStack is the dev server (every function, its trigger delivery) over
// an isolated project, with e-mail caught by a fake Resend and webhooks
// allowed on loopback, as `make dev` runs it.
type notifyStack struct {
	e      *apptest.Env
	srv    *httptest.Server
	resend *resendfake.Server
	site   string
	ctx    context.Context
}

func newNotifyStack(t testing.TB) *notifyStack {
	t.Helper()
	testenv.Require(t, "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", relay.EnvVar)
	if !relay.Healthy(context.Background(), os.Getenv(relay.EnvVar)) {
		t.Fatalf("no trigger relay on %s: run the tests with `make test`", os.Getenv(relay.EnvVar))
	}
	e := apptest.New(t)
	testenv.LoadRules(t, e.Project)
	fake, err := resendfake.Start("127.0.0.1:0", resendfake.WithAPIKey("re_test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	cfg := e.D.Config
	cfg.ResendAPIKey, cfg.ResendBaseURL, cfg.WebhookAllowLoopback = "re_test", fake.URL(), true
	cfg.AdminEmail, cfg.BaseURL = "admin@owlette.test", "https://owlette.test"
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	srv.Config.Handler = withBackground(ctx, e.D, NewRouter(e.D), srv.URL)
	if tt, ok := t.(*testing.T); ok {
		waitRegistered(tt, e.Project, srv.URL)
	}
	site := testenv.UniqueID("site-")
	e.Site(site, "")
	return &notifyStack{e: e, srv: srv, resend: fake, site: site, ctx: ctx}
}

// webhook stores a webhook for the site as E45 does.
func (s *notifyStack) webhook(t testing.TB, id, url string, events ...string) {
	t.Helper()
	_, err := s.e.FS.Doc("sites/"+s.site+"/webhooks/"+id).Set(context.Background(), map[string]any{
		"url": url, "name": id, "events": events, "enabled": true, "secret": hookSecret,
		"createdAt": s.e.Clock.Now(), "createdBy": "test", "lastTriggered": nil, "lastStatus": 0, "failCount": 0,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAgentAlertReachesPeople is the notifications issue's demonstration:
// a simulated agent, paired through the real device-code flow, reports a
// process crash through POST /api/agent/alert exactly as the Windows agent
// does. The queue document it causes is delivered by the notifications
// trigger (the Firestore emulator's event, through the relay): the site's
// member gets the crash e-mail (caught by the fake Resend), and a webhook
// receiver on loopback gets the event with valid signatures of both schemes,
// the Standard Webhooks one checked with its reference library.
func TestAgentAlertReachesPeople(t *testing.T) {
	s := newNotifyStack(t)
	member := s.e.Member(s.site)
	rcv := webhooktest.New(t, hookSecret)
	s.webhook(t, "receiver", rcv.URL+"/owlette", "process.crashed")

	c := sim.Defaults(testenv.UniqueID("KIOSK-"))
	c.API, c.ProjectID, c.Scale = s.srv.URL+"/api", s.e.Project, 10
	if os.Getenv("AGENTSIM_LOG") != "1" {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	creds, err := sim.CookiePairing(member.Cookie().Value, s.site)(s.ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	agent := sim.New(c, creds)
	res, err := agent.RaiseAlert(s.ctx, sim.Alert{EventType: "process_crash", ProcessName: "TouchDesigner", ErrorMessage: "Process exited unexpectedly"})
	if err != nil || !res.Success || !res.EmailSent || res.Recipients != 1 {
		t.Fatalf("E17: %+v %v", res, err)
	}
	got := rcv.Wait(t, 1, 20*time.Second)[0]
	if !got.SignatureOK || !got.StandardOK {
		t.Fatalf("signatures: owlette %v, standard %v (%v)", got.SignatureOK, got.StandardOK, got.StandardErr)
	}
	if got.Header.Get("X-owlette-Event") != "process.crashed" || got.JSON["event"] != "process.crashed" {
		t.Errorf("event: %v %v", got.Header.Get("X-owlette-Event"), got.JSON["event"])
	}
	data, _ := got.JSON["data"].(map[string]any)
	proc, _ := data["process"].(map[string]any)
	if proc["name"] != "TouchDesigner" || got.JSON["site"].(map[string]any)["id"] != s.site {
		t.Errorf("payload %s", got.Body)
	}
	m, err := s.resend.WaitFor(waitCtx(t, 20*time.Second), func(m resendfake.Message) bool { return slices.Contains(m.To, member.Email) })
	if err != nil {
		t.Fatalf("crash e-mail: %v", err)
	}
	if m.Subject != "Process crashed: TouchDesigner on "+c.MachineID {
		t.Errorf("subject %q", m.Subject)
	}
}

func waitCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// BenchmarkAlertToWebhook: from an agent's alert request to the webhook's
// arrival at a loopback receiver, through the queue document and the
// trigger the Firestore emulator delivers; p50/p99 and the Firestore
// operations per alert delivered.
func BenchmarkAlertToWebhook(b *testing.B) {
	s := newNotifyStack(b)
	rcv := webhooktest.New(b, hookSecret)
	s.webhook(b, "receiver", rcv.URL+"/owlette", "process.crashed")
	token := s.e.AgentToken(s.site, "BENCH-1")
	post := func(i int) {
		body, _ := json.Marshal(map[string]any{"siteId": s.site, "machineId": "BENCH-1", "eventType": "process_crash",
			"processName": fmt.Sprintf("proc-%d", i), "errorMessage": "exit 1", "agentVersion": "2.6.0"})
		req, _ := http.NewRequest("POST", s.srv.URL+"/api/agent/alert", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.77.%d.%d", i/250, i%250+1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("alert %d: %d", i, resp.StatusCode)
		}
	}
	post(-1) // warm-up: first lease, first trigger
	rcv.Wait(b, 1, 20*time.Second)
	s.e.RPCs.Reset()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		post(i)
		got := rcv.Wait(b, i+2, 20*time.Second)
		lat = append(lat, got[i+1].At.Sub(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(float64(s.e.RPCs.Reads())/float64(b.N), "readRPCs/alert")
	b.ReportMetric(float64(s.e.RPCs.Writes())/float64(b.N), "writeRPCs/alert")
	b.Logf("RPCs for %d alerts: %v", b.N, s.e.RPCs.Snapshot())
	if !strings.Contains(rcv.Deliveries()[len(rcv.Deliveries())-1].Header.Get("webhook-id"), notify.KindAgentAlert) {
		b.Errorf("unexpected webhook-id %q", rcv.Deliveries()[0].Header.Get("webhook-id"))
	}
}
