package alerts_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/alerts"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/notify"
)

const alertPath = "/api/agent/alert"

// fixture is a site with the recipients api.md §1.14 distinguishes.
type fixture struct {
	e                       *apptest.Env
	owner, member, optedOut *apptest.User
	agentA, agentB          string // agent ID tokens of site-a/m1 and site-b/m9
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := apptest.New(t, alerts.Register)
	e.D.Config.ResendAPIKey = "re_test_key"
	f := &fixture{e: e}
	f.owner = e.Member() // owns site-a without being assigned to it
	f.member = e.Member("site-a")
	f.optedOut = e.Member("site-a", "site-b")
	e.Site("site-a", f.owner.UID)
	e.Site("site-b", "")
	ctx := context.Background()
	set := func(path string, d map[string]any) {
		if _, err := e.FS.Doc(path).Set(ctx, d, firestore.MergeAll); err != nil {
			t.Fatal(err)
		}
	}
	set("users/"+f.member.UID, map[string]any{"preferences": map[string]any{"alertCcEmails": []any{"cc@example.test", 7}, "processAlerts": true}})
	set("users/"+f.optedOut.UID, map[string]any{"preferences": map[string]any{"processAlerts": false}})
	set("users/no-email", map[string]any{"role": "user", "sites": []any{"site-a"}})
	f.agentA = agent(e, "site-a", "m1")
	f.agentB = agent(e, "site-b", "m9")
	return f
}

func agent(e *apptest.Env, site, machine string) string {
	return e.IDTokenFor("agent_"+site+"_"+machine, map[string]any{"role": "agent", "site_id": site, "machine_id": machine, "version": "2.4.0"})
}

func crash(process, msg string) map[string]any {
	return map[string]any{"siteId": "site-a", "machineId": "m1", "eventType": "process_crash", "processName": process, "errorMessage": msg, "agentVersion": "2.4.0"}
}

func connFailure(code string) map[string]any {
	return map[string]any{"siteId": "site-a", "machineId": "m1", "errorCode": code, "errorMessage": "no route", "agentVersion": "2.4.0"}
}

func recipientUIDs(doc map[string]any) []string {
	email, _ := doc["email"].(map[string]any)
	list, _ := email["recipients"].([]any)
	var uids []string
	for _, r := range list {
		uids = append(uids, r.(map[string]any)["uid"].(string))
	}
	sort.Strings(uids)
	return uids
}

func sorted(s ...string) []string { sort.Strings(s); return s }

func TestAgentAlertCredentials(t *testing.T) {
	f := newFixture(t)
	e := f.e
	admin := e.Admin()
	web := e.Member("site-a")
	noSiteClaim := e.IDTokenFor("agent_legacy", map[string]any{"role": "agent"})
	body := connFailure("E1")
	nothingQueued := func(t *testing.T, _ *apptest.Response) {
		if n := e.Count(notify.Collection); n != 0 {
			t.Errorf("%d documents queued by a refused request", n)
		}
	}
	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "POST", Path: alertPath, Body: body, Status: 401, Check: nothingQueued},
		{Name: "no credential, bad body: auth first", Method: "POST", Path: alertPath, Body: apptest.Raw("{oops"), Status: 401},
		{Name: "empty bearer", Method: "POST", Path: alertPath, Header: map[string]string{"Authorization": "Bearer "}, Body: body, Status: 401},
		{Name: "basic auth", Method: "POST", Path: alertPath, Header: map[string]string{"Authorization": "Basic YTpi"}, Body: body, Status: 401},
		{Name: "lower-case bearer prefix", Method: "POST", Path: alertPath, Header: map[string]string{"Authorization": "bearer " + f.agentA}, Body: body, Status: 401},
		{Name: "forged token", Method: "POST", Path: alertPath, Cred: apptest.WithBearer("eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWdlbnQifQ."), Body: body, Status: 401, Check: nothingQueued},
		{Name: "admin session cookie", Method: "POST", Path: alertPath, Cred: apptest.WithCookie(admin.Cookie()), Body: body, Status: 401},
		{Name: "admin API key", Method: "POST", Path: alertPath, Cred: apptest.WithAPIKey(admin.APIKey()), Body: body, Status: 401},
		{Name: "API key as bearer", Method: "POST", Path: alertPath, Cred: apptest.WithBearer(admin.APIKey()), Body: body, Status: 401},
		{Name: "web user's ID token", Method: "POST", Path: alertPath, Cred: apptest.WithBearer(web.IDToken()), Body: body, Status: 403,
			Want: map[string]any{"error": "Forbidden: not an agent token"}, Check: nothingQueued},
		{Name: "agent of another site", Method: "POST", Path: alertPath, Cred: apptest.WithBearer(f.agentB), Body: body, Status: 403, Check: nothingQueued},
		{Name: "agent of another site, process event", Method: "POST", Path: alertPath, Cred: apptest.WithBearer(f.agentB), Body: crash("x.exe", "boom"), Status: 403, Check: nothingQueued},
		{Name: "agent of another site, invalid body: fields before site", Method: "POST", Path: alertPath, Cred: apptest.WithBearer(f.agentB), Body: map[string]any{"siteId": "site-a"}, Status: 400},
		{Name: "agent of the site", Method: "POST", Path: alertPath, Cred: apptest.WithBearer(f.agentA), Body: body, Status: 200,
			Want: map[string]any{"success": true, "emailSent": true, "recipients": 4}}, // + the web user assigned above
		{Name: "agent token without site_id claim", Method: "POST", Path: alertPath, Cred: apptest.WithBearer(noSiteClaim), Body: connFailure("E2"), Status: 200},
	})
	if n := e.Count(notify.Collection); n != 2 {
		t.Errorf("%d queue documents, want 2", n)
	}
}

func TestAgentAlertValidation(t *testing.T) {
	f := newFixture(t)
	e := f.e
	cred := apptest.WithBearer(f.agentA)
	with := func(base map[string]any, kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	bad := func(name string, body any, status int) apptest.Scenario {
		return apptest.Scenario{Name: name, Method: "POST", Path: alertPath, Cred: cred, Body: body, Status: status}
	}
	e.Run(t, []apptest.Scenario{
		bad("empty body", nil, 400),
		bad("malformed", apptest.Raw(`{"siteId":"site-a",`), 400),
		bad("array", apptest.Raw(`[]`), 400),
		bad("empty object", map[string]any{}, 400),
		bad("missing siteId", with(connFailure("E"), "siteId", nil), 400),
		bad("missing machineId", with(connFailure("E"), "machineId", nil), 400),
		bad("empty machineId", with(connFailure("E"), "machineId", ""), 400),
		bad("connection failure without errorCode", with(connFailure("E"), "errorCode", nil), 400),
		bad("unknown event type without errorCode", with(connFailure("E"), "errorCode", nil, "eventType", "disk_full"), 400),
		bad("process crash without processName", with(crash("x", "y"), "processName", nil), 400),
		bad("start failure without processName", with(crash("x", "y"), "processName", "", "eventType", "process_start_failed"), 400),
		bad("siteId not a string", with(connFailure("E"), "siteId", 12), 400),
		bad("machineId with a slash", with(connFailure("E"), "machineId", "a/b"), 400),
		bad("siteId reserved id", with(connFailure("E"), "siteId", "__x__"), 400),
		bad("errorMessage an object", with(connFailure("E"), "errorMessage", map[string]any{"a": 1}), 400),
		bad("data not an object", with(connFailure("E"), "data", "x"), 400),
		bad("oversized body", with(connFailure("E"), "errorMessage", strings.Repeat("x", 1<<20)), 413),
		{Name: "numeric errorCode is accepted as text", Method: "POST", Path: alertPath, Cred: cred, Body: with(connFailure("E"), "errorCode", 503), Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				for _, d := range e.Docs(notify.Collection) {
					if d["params"].(map[string]any)["errorCode"] == "503" {
						return
					}
				}
				t.Error("no queued alert with errorCode \"503\"")
			}},
	})
	if n := e.Count(notify.Collection); n != 1 {
		t.Errorf("%d queue documents, want 1 (refused requests queue nothing)", n)
	}
}

func TestAgentAlertQueueDocument(t *testing.T) {
	f := newFixture(t)
	e := f.e
	ctx := context.Background()
	if _, err := e.FS.Doc("sites/site-a/settings/cortex").Set(ctx, map[string]any{"autonomousEnabled": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.FS.Doc("sites/site-a/machines/m1").Set(ctx, map[string]any{"machine_timezone": "Pacific Standard Time", "online": true}); err != nil {
		t.Fatal(err)
	}
	cred := apptest.WithBearer(f.agentA)
	origin := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "owlette.example"}

	t.Run("process crash, flat body", func(t *testing.T) {
		before := e.Docs(notify.Collection)
		r := e.Do("POST", alertPath, cred, crash("TouchDesigner.exe", "exit code 3"), origin)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":true,"recipients":2,"success":true}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		id, doc := e.NewDoc(notify.Collection, before)
		if c, _ := doc["createdAt"].(time.Time); !c.Equal(e.Clock.Now()) {
			t.Errorf("createdAt %v, want %v", doc["createdAt"], e.Clock.Now())
		}
		delete(doc, "createdAt")
		// The member's CCs are kept (non-strings dropped); the opted-out
		// member, the user without e-mail are not recipients; the owner is.
		email := doc["email"].(map[string]any)
		recips := email["recipients"].([]any)
		sort.Slice(recips, func(i, j int) bool {
			return recips[i].(map[string]any)["uid"].(string) < recips[j].(map[string]any)["uid"].(string)
		})
		want := map[string]any{
			"kind": "agent_alert", "siteId": "site-a", "status": "pending", "attempts": int64(0),
			"dedupeKey": id, "origin": "https://owlette.example",
			"params": map[string]any{
				"eventType": "process_crash", "machineId": "m1", "machineName": "m1", "processName": "TouchDesigner.exe",
				"errorCode": "", "errorMessage": "exit code 3", "agentVersion": "2.4.0", "siteName": "Site site-a",
				"machineTimezone": "Pacific Standard Time",
			},
			"email": map[string]any{
				"template": "process_alert", "subject": "Process crashed: TouchDesigner.exe on m1", "preference": "processAlerts",
				"status": "pending", "recipients": sortedRecipients(
					map[string]any{"uid": f.member.UID, "email": f.member.Email, "cc": []any{"cc@example.test"}},
					map[string]any{"uid": f.owner.UID, "email": f.owner.Email, "cc": []any{}},
				),
			},
			"webhook": map[string]any{
				"event": "process.crashed", "status": "pending",
				"site": map[string]any{"id": "site-a", "name": "Site site-a"},
				"data": map[string]any{"machine": map[string]any{"id": "m1", "name": "m1"}, "process": map[string]any{"name": "TouchDesigner.exe", "error": "exit code 3"}},
			},
			"cortex": map[string]any{"status": "pending", "body": map[string]any{
				"siteId": "site-a", "machineId": "m1", "machineName": "m1", "eventType": "process_crash",
				"processName": "TouchDesigner.exe", "errorMessage": "exit code 3", "agentVersion": "2.4.0",
			}},
		}
		if !reflect.DeepEqual(doc, want) {
			g, _ := json.MarshalIndent(doc, "", " ")
			w, _ := json.MarshalIndent(want, "", " ")
			t.Errorf("queue document\n got %s\nwant %s", g, w)
		}
		if !strings.HasPrefix(id, "agent_alert_") {
			t.Errorf("id %q", id)
		}
	})

	t.Run("same alert again within the minute is not queued twice", func(t *testing.T) {
		n := e.Count(notify.Collection)
		r := e.Do("POST", alertPath, cred, crash("TouchDesigner.exe", "exit code 3"), nil)
		if r.StatusCode != 200 || r.JSON["emailSent"] != true {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if got := e.Count(notify.Collection); got != n {
			t.Errorf("%d documents, want %d", got, n)
		}
	})

	t.Run("start failure", func(t *testing.T) {
		before := e.Docs(notify.Collection)
		b := crash("Resolume.exe", "missing dll")
		b["eventType"] = "process_start_failed"
		if r := e.Do("POST", alertPath, cred, b, nil); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := e.NewDoc(notify.Collection, before)
		if got := doc["email"].(map[string]any)["subject"]; got != "Process failed to start: Resolume.exe on m1" {
			t.Errorf("subject %q", got)
		}
		if got := doc["webhook"].(map[string]any)["event"]; got != "process.restarted" {
			t.Errorf("event %q", got)
		}
		if doc["origin"] != "http://example.com" {
			t.Errorf("origin %q", doc["origin"])
		}
	})

	t.Run("connection failure", func(t *testing.T) {
		before := e.Docs(notify.Collection)
		r := e.Do("POST", alertPath, cred, connFailure("FIRESTORE_UNAVAILABLE"), nil)
		if r.StatusCode != 200 || r.JSON["recipients"] != float64(3) {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := e.NewDoc(notify.Collection, before)
		email := doc["email"].(map[string]any)
		if email["subject"] != "[ALERT] owlette agent error on m1" || email["template"] != "agent_error" || email["preference"] != "healthAlerts" {
			t.Errorf("email %v", email)
		}
		// healthAlerts: the process-alert opt-out does not apply.
		if got, want := recipientUIDs(doc), sorted(f.member.UID, f.optedOut.UID, f.owner.UID); !reflect.DeepEqual(got, want) {
			t.Errorf("recipients %v, want %v", got, want)
		}
		hook := doc["webhook"].(map[string]any)
		if hook["event"] != "machine.offline" || !reflect.DeepEqual(hook["data"], map[string]any{"machine": map[string]any{"id": "m1", "name": "m1"}}) {
			t.Errorf("webhook %v", hook)
		}
		if doc["cortex"] != nil {
			t.Errorf("cortex for a non-process event: %v", doc["cortex"])
		}
		if p := doc["params"].(map[string]any); p["eventType"] != "connection_failure" || p["errorCode"] != "FIRESTORE_UNAVAILABLE" {
			t.Errorf("params %v", p)
		}
	})

	t.Run("unknown event type is a connection failure", func(t *testing.T) {
		before := e.Docs(notify.Collection)
		b := connFailure("DISK")
		b["eventType"] = "disk_full"
		if r := e.Do("POST", alertPath, cred, b, nil); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := e.NewDoc(notify.Collection, before)
		if doc["webhook"].(map[string]any)["event"] != "machine.offline" || doc["email"].(map[string]any)["preference"] != "healthAlerts" || doc["cortex"] != nil {
			t.Errorf("doc %v", doc)
		}
	})

	t.Run("reference body form is stored canonically", func(t *testing.T) {
		before := e.Docs(notify.Collection)
		r := e.Do("POST", alertPath, cred, map[string]any{
			"type": "process_crash", "siteId": "site-a", "machineId": "m1", "machineName": "Stage PC",
			"data": map[string]any{"processName": "show.exe", "errorMessage": "segfault", "agentVersion": "2.4.1"},
		}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := e.NewDoc(notify.Collection, before)
		p := doc["params"].(map[string]any)
		if p["eventType"] != "process_crash" || p["processName"] != "show.exe" || p["errorMessage"] != "segfault" || p["agentVersion"] != "2.4.1" || p["machineName"] != "Stage PC" {
			t.Errorf("params %v", p)
		}
		if got := doc["webhook"].(map[string]any)["data"]; !reflect.DeepEqual(got, map[string]any{
			"machine": map[string]any{"id": "m1", "name": "Stage PC"}, "process": map[string]any{"name": "show.exe", "error": "segfault"}}) {
			t.Errorf("webhook data %v", got)
		}
		if doc["email"].(map[string]any)["subject"] != "Process crashed: show.exe on Stage PC" {
			t.Errorf("subject %v", doc["email"])
		}
	})

	t.Run("a live local Cortex handles process events itself", func(t *testing.T) {
		if _, err := e.FS.Doc("sites/site-a/machines/m1").Set(ctx, map[string]any{"cortexStatus": map[string]any{"online": true, "lastHeartbeat": e.Clock.Now().Add(-10 * time.Second)}}, firestore.MergeAll); err != nil {
			t.Fatal(err)
		}
		before := e.Docs(notify.Collection)
		e.Do("POST", alertPath, cred, crash("live.exe", "x"), nil)
		if _, doc := e.NewDoc(notify.Collection, before); doc["cortex"] != nil || doc["webhook"] == nil {
			t.Errorf("cortex %v webhook %v", doc["cortex"], doc["webhook"])
		}
		e.Clock.Advance(45 * time.Second) // heartbeat now stale
		before = e.Docs(notify.Collection)
		e.Do("POST", alertPath, cred, crash("stale.exe", "x"), nil)
		if _, doc := e.NewDoc(notify.Collection, before); doc["cortex"] == nil {
			t.Error("no cortex part although the local Cortex heartbeat is stale")
		}
	})

	t.Run("autonomous investigation disabled", func(t *testing.T) {
		if _, err := e.FS.Doc("sites/site-a/settings/cortex").Set(ctx, map[string]any{"autonomousEnabled": false}); err != nil {
			t.Fatal(err)
		}
		before := e.Docs(notify.Collection)
		e.Do("POST", alertPath, cred, crash("off.exe", "x"), nil)
		if _, doc := e.NewDoc(notify.Collection, before); doc["cortex"] != nil {
			t.Errorf("cortex %v", doc["cortex"])
		}
	})
}

// With e-mail impossible the answer is the original's, but webhooks and the
// autonomous investigation are still queued (DECISIONS §2 12.16).
func TestAgentAlertWithoutEmail(t *testing.T) {
	f := newFixture(t)
	e := f.e
	ctx := context.Background()
	if _, err := e.FS.Doc("sites/site-a/settings/cortex").Set(ctx, map[string]any{"autonomousEnabled": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.FS.Doc("sites/site-c/settings/cortex").Set(ctx, map[string]any{"autonomousEnabled": true}); err != nil {
		t.Fatal(err)
	}
	agentC := agent(e, "site-c", "m1")
	crashC := crash("x.exe", "boom")
	crashC["siteId"] = "site-c"

	t.Run("Resend not configured", func(t *testing.T) {
		e.D.Config.ResendAPIKey = ""
		defer func() { e.D.Config.ResendAPIKey = "re_test_key" }()
		before := e.Docs(notify.Collection)
		r := e.Do("POST", alertPath, apptest.WithBearer(f.agentA), crash("x.exe", "boom"), nil)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":false,"reason":"Resend not configured","success":true}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := e.NewDoc(notify.Collection, before)
		if doc["email"] != nil || doc["webhook"] == nil || doc["cortex"] == nil {
			t.Errorf("email %v webhook %v cortex %v", doc["email"], doc["webhook"], doc["cortex"])
		}
	})

	t.Run("no recipients and no admin address", func(t *testing.T) {
		// site-c does not exist: no assigned user, no owner.
		before := e.Docs(notify.Collection)
		r := e.Do("POST", alertPath, apptest.WithBearer(agentC), crashC, nil)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":false,"reason":"No recipients","success":true}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := e.NewDoc(notify.Collection, before)
		if doc["email"] != nil || doc["webhook"] == nil || doc["cortex"] == nil {
			t.Errorf("email %v webhook %v cortex %v", doc["email"], doc["webhook"], doc["cortex"])
		}
		if got := doc["webhook"].(map[string]any)["site"]; !reflect.DeepEqual(got, map[string]any{"id": "site-c", "name": "site-c"}) {
			t.Errorf("site name falls back to the id: %v", got)
		}
	})

	t.Run("no recipients: the admin address", func(t *testing.T) {
		e.D.Config.AdminEmail = "ops@example.test"
		defer func() { e.D.Config.AdminEmail = "" }()
		before := e.Docs(notify.Collection)
		b := crash("y.exe", "boom")
		b["siteId"] = "site-c"
		r := e.Do("POST", alertPath, apptest.WithBearer(agentC), b, nil)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":true,"recipients":1,"success":true}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := e.NewDoc(notify.Collection, before)
		want := []any{map[string]any{"uid": "fallback", "email": "ops@example.test", "cc": []any{}}}
		if got := doc["email"].(map[string]any)["recipients"]; !reflect.DeepEqual(got, want) {
			t.Errorf("recipients %v", got)
		}
	})

	t.Run("everyone opted out", func(t *testing.T) {
		// site-b: only optedOut is assigned and has processAlerts false.
		b := crash("z.exe", "boom")
		b["siteId"], b["machineId"] = "site-b", "m9"
		r := e.Do("POST", alertPath, apptest.WithBearer(f.agentB), b, nil)
		if r.StatusCode != 200 || r.JSON["reason"] != "No recipients" {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	})
}

func TestProcessAlertLimit(t *testing.T) {
	f := newFixture(t)
	e := f.e
	cred := apptest.WithBearer(f.agentA)
	for i := 0; i < 3; i++ {
		r := e.Do("POST", alertPath, cred, crash("loop.exe", "crash "+string(rune('a'+i))), nil)
		if r.StatusCode != 200 || r.JSON["emailSent"] != true {
			t.Fatalf("alert %d: %d %s", i+1, r.StatusCode, r.Raw)
		}
	}
	n := e.Count(notify.Collection)
	r := e.Do("POST", alertPath, cred, crash("loop.exe", "crash d"), nil)
	if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":false,"reason":"Process alert rate limited (3/hr per process per machine)","success":true}` {
		t.Fatalf("4th alert: %d %s", r.StatusCode, r.Raw)
	}
	if got := e.Count(notify.Collection); got != n {
		t.Errorf("rate-limited alert queued something: %d → %d documents", n, got)
	}
	// Other processes, other machines and non-process events are separate.
	if r := e.Do("POST", alertPath, cred, crash("other.exe", "x"), nil); r.JSON["emailSent"] != true {
		t.Errorf("other process: %s", r.Raw)
	}
	b := crash("loop.exe", "x")
	b["machineId"] = "m2"
	if r := e.Do("POST", alertPath, cred, b, nil); r.JSON["emailSent"] != true {
		t.Errorf("other machine: %s", r.Raw)
	}
	if r := e.Do("POST", alertPath, cred, connFailure("E"), nil); r.JSON["emailSent"] != true {
		t.Errorf("connection failure: %s", r.Raw)
	}
	// A refused agent does not spend the process budget.
	if r := e.Do("POST", alertPath, apptest.WithBearer(f.agentB), crash("fresh.exe", "x"), nil); r.StatusCode != 403 {
		t.Fatalf("other site: %d", r.StatusCode)
	}
	for i := 0; i < 3; i++ {
		if r := e.Do("POST", alertPath, cred, crash("fresh.exe", string(rune('a'+i))), nil); r.JSON["emailSent"] != true {
			t.Errorf("fresh.exe alert %d: %s", i+1, r.Raw)
		}
	}
}

func TestAgentAlertIPLimit(t *testing.T) {
	f := newFixture(t)
	e := f.e
	ip := map[string]string{"X-Forwarded-For": "203.0.113.50"}
	for i := 0; i < 5; i++ {
		if r := e.Do("POST", alertPath, apptest.WithBearer(f.agentA), connFailure(string(rune('A'+i))), ip); r.StatusCode != 200 {
			t.Fatalf("alert %d: %d %s", i+1, r.StatusCode, r.Raw)
		}
	}
	n := e.Count(notify.Collection)
	r := e.Do("POST", alertPath, apptest.WithBearer(f.agentA), connFailure("F"), ip)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || r.JSON["error"] != "Rate limit exceeded" {
		t.Fatalf("6th alert: %d %s", r.StatusCode, r.Raw)
	}
	if got := e.Count(notify.Collection); got != n {
		t.Errorf("429 queued something")
	}
}

// What one alert costs in Firestore RPCs (besides the rate limiter's own
// lease reads and writes, which are counted separately).
func TestAgentAlertCost(t *testing.T) {
	f := newFixture(t)
	e := f.e
	cred := apptest.WithBearer(f.agentA)
	measure := func(name string, body map[string]any) map[string]int {
		e.RPCs.Reset()
		if r := e.Do("POST", alertPath, cred, body, nil); r.StatusCode != 200 {
			t.Fatalf("%s: %d %s", name, r.StatusCode, r.Raw)
		}
		s := e.RPCs.Snapshot()
		t.Logf("%s: %v", name, s)
		return s
	}
	// Each limiter lease (agentAlert always; processAlert for process
	// events: both have limits below 16, so every request leases) is one
	// read and one write.
	s := measure("connection failure", connFailure("E"))
	if s["BatchGetDocuments"] != 1+2 || s["RunQuery"] != 1 || s["Commit"] != 1+1 {
		t.Errorf("connection failure: want 1 batched get + 1 query + owner get + 1 commit (+1 get, +1 commit limiter): %v", s)
	}
	s = measure("process crash", crash("p.exe", "x"))
	if s["BatchGetDocuments"] != 2+2 || s["RunQuery"] != 1 || s["Commit"] != 1+2 {
		t.Errorf("process crash: %v", s)
	}
	e.D.Config.ResendAPIKey = ""
	s = measure("no e-mail", crash("q.exe", "x"))
	if s["BatchGetDocuments"] != 1+2 || s["RunQuery"] != 0 || s["Commit"] != 1+2 {
		t.Errorf("no e-mail: %v", s)
	}
}

func sortedRecipients(rs ...map[string]any) []any {
	sort.Slice(rs, func(i, j int) bool { return rs[i]["uid"].(string) < rs[j]["uid"].(string) })
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}
