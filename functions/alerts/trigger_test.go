package alerts_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/notify"
)

const triggerPath = "/api/alerts/trigger"

func rule(channels ...any) map[string]any {
	return map[string]any{
		"siteId": "site-a", "machineId": "m1", "ruleName": "CPU hot", "metric": "cpu_percent",
		"value": 97.5, "threshold": 90, "operator": ">", "severity": "critical", "channels": channels,
	}
}

func TestTrigger(t *testing.T) {
	f := newFixture(t)
	e := f.e
	ctx := context.Background()
	hooks := map[string]map[string]any{
		"on":       {"enabled": true, "events": []any{"threshold.breached", "machine.offline"}, "url": "https://a.example/hook"},
		"disabled": {"enabled": false, "events": []any{"threshold.breached"}, "url": "https://b.example/hook"},
		"other":    {"enabled": true, "events": []any{"process.crashed"}, "url": "https://c.example/hook"},
	}
	for id, h := range hooks {
		if _, err := e.FS.Doc("sites/site-a/webhooks/"+id).Set(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	secret := map[string]string{"x-internal-secret": e.D.Config.CortexSecret}
	nothingQueued := func(t *testing.T, _ *apptest.Response) {
		if n := e.Count(notify.Collection); n != 0 {
			t.Errorf("%d documents queued", n)
		}
	}
	with := func(kv ...any) map[string]any {
		m := rule("email", "webhook")
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	bad := func(name string, body any) apptest.Scenario {
		return apptest.Scenario{Name: name, Method: "POST", Path: triggerPath, Header: secret, Body: body, Status: 400, Check: nothingQueued}
	}
	e.Run(t, []apptest.Scenario{
		{Name: "no secret", Method: "POST", Path: triggerPath, Body: rule("email"), Status: 401, Check: nothingQueued},
		{Name: "wrong secret", Method: "POST", Path: triggerPath, Header: map[string]string{"x-internal-secret": "nope"}, Body: rule("email"), Status: 401},
		{Name: "secret prefix only", Method: "POST", Path: triggerPath, Header: map[string]string{"x-internal-secret": e.D.Config.CortexSecret[:5]}, Body: rule("email"), Status: 401},
		{Name: "no secret, bad body: secret first", Method: "POST", Path: triggerPath, Body: apptest.Raw("{"), Status: 401},
		{Name: "admin session is not the secret", Method: "POST", Path: triggerPath, Cred: apptest.WithCookie(e.Admin().Cookie()), Body: rule("email"), Status: 401},
		{Name: "agent token is not the secret", Method: "POST", Path: triggerPath, Cred: apptest.WithBearer(f.agentA), Body: rule("email"), Status: 401},
		bad("empty body", nil),
		bad("malformed", apptest.Raw(`{"siteId"`)),
		bad("missing ruleName", with("ruleName", nil)),
		bad("missing value", with("value", nil)),
		bad("missing threshold", with("threshold", nil)),
		bad("missing channels", with("channels", nil)),
		bad("channels not an array", with("channels", "email")),
		bad("severity not a string", with("severity", 3)),
		bad("siteId with a slash", with("siteId", "a/b")),
		{Name: "no channel recognised: nothing queued", Method: "POST", Path: triggerPath, Header: secret, Body: rule("sms", 5), Status: 200,
			Want: map[string]any{"success": true, "emailSent": false, "webhooksFired": 0}, Check: nothingQueued},
	})

	t.Run("value null is accepted", func(t *testing.T) {
		r := e.Do("POST", triggerPath, nil, apptest.Raw(`{"siteId":"site-a","machineId":"m1","ruleName":"Null rule","metric":"gpu_temp","value":null,"threshold":80,"operator":">","severity":"info","channels":["webhook"]}`), secret)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":false,"success":true,"webhooksFired":1}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("email and webhook", func(t *testing.T) {
		before := e.Docs(notify.Collection)
		r := e.Do("POST", triggerPath, nil, rule("email", "webhook"), secret)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":true,"success":true,"webhooksFired":1}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := e.NewDoc(notify.Collection, before)
		email := doc["email"].(map[string]any)
		if email["subject"] != "[CRITICAL] CPU hot — m1" || email["preference"] != "healthAlerts" || email["template"] != "threshold_alert" {
			t.Errorf("email %v", email)
		}
		if got, want := recipientUIDs(doc), sorted(f.member.UID, f.optedOut.UID, f.owner.UID); !reflect.DeepEqual(got, want) {
			t.Errorf("recipients %v, want %v", got, want)
		}
		wantHook := map[string]any{
			"event": "threshold.breached", "status": "pending",
			"site": map[string]any{"id": "site-a", "name": "Site site-a"},
			"data": map[string]any{
				"machine": map[string]any{"id": "m1", "name": "m1"},
				"alert":   map[string]any{"ruleName": "CPU hot", "metric": "cpu_percent", "value": 97.5, "threshold": float64(90), "operator": ">", "severity": "critical"},
			},
		}
		if !reflect.DeepEqual(doc["webhook"], wantHook) {
			t.Errorf("webhook\n got %v\nwant %v", doc["webhook"], wantHook)
		}
		if doc["kind"] != "threshold_alert" || doc["status"] != "pending" || doc["attempts"] != int64(0) || doc["cortex"] != nil {
			t.Errorf("doc %v", doc)
		}
	})

	t.Run("email only, Resend not configured", func(t *testing.T) {
		e.D.Config.ResendAPIKey = ""
		defer func() { e.D.Config.ResendAPIKey = "re_test_key" }()
		n := e.Count(notify.Collection)
		r := e.Do("POST", triggerPath, nil, with("ruleName", "Mem", "channels", []any{"email"}), secret)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":false,"success":true,"webhooksFired":0}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if e.Count(notify.Collection) != n {
			t.Error("queued a document with nothing to deliver")
		}
	})

	t.Run("secret unset refuses everything", func(t *testing.T) {
		saved := e.D.Config.CortexSecret
		e.D.Config.CortexSecret = ""
		defer func() { e.D.Config.CortexSecret = saved }()
		if r := e.Do("POST", triggerPath, nil, rule("email"), map[string]string{"x-internal-secret": ""}); r.StatusCode != 401 {
			t.Errorf("empty secret: %d", r.StatusCode)
		}
		if r := e.Do("POST", triggerPath, nil, rule("email"), secret); r.StatusCode != 401 {
			t.Errorf("old secret: %d", r.StatusCode)
		}
	})
}
