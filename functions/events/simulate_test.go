package events_test

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
	"github.com/owlette/server/functions/events"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/testenv"
)

const path = "/api/admin/events/simulate"

// fixture is a site with the recipients api.md §1.14 distinguishes and
// webhooks that do and do not count for each event.
type fixture struct {
	*apptest.Env
	site, otherSite                string
	admin, owner, member, optedOut *apptest.User
	stranger                       *apptest.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := apptest.New(t, events.Register)
	e.D.Config.ResendAPIKey = "re_test_key"
	f := &fixture{Env: e, site: testenv.UniqueID("site-"), otherSite: testenv.UniqueID("other-")}
	f.admin = e.Admin()
	f.owner = e.Member() // owns the site without being assigned
	f.member = e.Member(f.site)
	f.optedOut = e.Member(f.site)
	f.stranger = e.Member(f.otherSite)
	e.Site(f.site, f.owner.UID)
	e.Site(f.otherSite, "")
	f.set(t, "users/"+f.member.UID, map[string]any{"preferences": map[string]any{
		// The owner's address among the CCs: it is a To, so not a CC.
		"alertCcEmails": []any{"cc@example.test", f.owner.Email, 7}, "processAlerts": true}})
	f.set(t, "users/"+f.optedOut.UID, map[string]any{"preferences": map[string]any{"processAlerts": false, "alertCcEmails": []any{"night@example.test", "CC@example.test"}}})
	f.set(t, "users/no-email", map[string]any{"role": "user", "sites": []any{f.site}})
	hooks := f.FS.Collection("sites").Doc(f.site).Collection("webhooks")
	for id, d := range map[string]map[string]any{
		"crash-1":    {"enabled": true, "events": []any{"process.crashed", "machine.offline"}},
		"crash-2":    {"enabled": true, "events": []any{"process.crashed"}},
		"crash-off":  {"enabled": false, "events": []any{"process.crashed"}},
		"restarted":  {"enabled": true, "events": []any{"process.restarted"}},
		"threshold":  {"enabled": true, "events": []any{"threshold.breached"}},
		"offline-on": {"enabled": true, "events": []any{"machine.offline"}},
	} {
		d["url"], d["secret"] = "https://93.184.215.14/h", "s"
		if _, err := hooks.Doc(id).Set(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	// Another site's webhook never counts.
	f.set(t, "sites/"+f.otherSite+"/webhooks/x", map[string]any{"enabled": true, "events": []any{"process.crashed", "machine.offline"}})
	return f
}

func (f *fixture) set(t *testing.T, path string, d map[string]any) {
	t.Helper()
	if _, err := f.FS.Doc(path).Set(context.Background(), d, firestore.MergeAll); err != nil {
		t.Fatal(err)
	}
}

func crash(site, process string) map[string]any {
	return map[string]any{"siteId": site, "event": "process_crash", "data": map[string]any{
		"machineId": "ws-7", "machineName": "Stage PC", "processName": process, "errorMessage": "exit code 3"}}
}

// mail is what the sender makes of a Single e-mail part: To = every
// recipient, CC = the union of their CCs minus the To list (ignoring case).
func mail(t *testing.T, doc map[string]any) (to, cc []string) {
	t.Helper()
	email, _ := doc["email"].(map[string]any)
	if email["single"] != true {
		t.Errorf("email part is not single: %v", email)
	}
	seen := map[string]bool{}
	recips, _ := email["recipients"].([]any)
	for _, r := range recips {
		a := r.(map[string]any)["email"].(string)
		to = append(to, a)
		seen[strings.ToLower(a)] = true
	}
	for _, r := range recips {
		list, _ := r.(map[string]any)["cc"].([]any)
		for _, c := range list {
			if s := c.(string); !seen[strings.ToLower(s)] {
				seen[strings.ToLower(s)] = true
				cc = append(cc, s)
			}
		}
	}
	sort.Strings(to)
	sort.Strings(cc)
	return to, cc
}

func sorted(s ...string) []string { sort.Strings(s); return s }

func TestCredentials(t *testing.T) {
	f := newFixture(t)
	body := crash(f.site, "TouchDesigner.exe")
	key := f.admin.APIKey()
	nothing := func(t *testing.T, _ *apptest.Response) {
		if n := f.Count(notify.Collection); n != 0 {
			t.Errorf("%d documents queued by a refused request", n)
		}
	}
	agent := f.AgentToken(f.site, "ws-7")
	f.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "POST", Path: path, Body: body, Status: 401, Check: nothing},
		{Name: "no credential, bad body: guard first", Method: "POST", Path: path, Body: apptest.Raw(`{`), Status: 401},
		{Name: "forged bearer", Method: "POST", Path: path, Cred: apptest.WithBearer("eyJhbGciOiJub25lIn0.e30."), Body: body, Status: 401, Check: nothing},
		{Name: "unknown API key", Method: "POST", Path: path, Cred: apptest.WithAPIKey("owk_nopenopenopenopenopenopenopenopenopenopenope"), Body: body, Status: 401, Check: nothing},
		{Name: "API key in the query", Method: "POST", Path: path + "?api_key=" + key, Body: body, Status: 400, Check: nothing},
		{Name: "member cookie", Method: "POST", Path: path, Cred: apptest.WithCookie(f.member.Cookie()), Body: body, Status: 403, Want: map[string]any{"error": "Forbidden: admin access required"}, Check: nothing},
		{Name: "member API key", Method: "POST", Path: path, Cred: apptest.WithAPIKey(f.member.APIKey()), Body: body, Status: 403, Check: nothing},
		{Name: "member ID token", Method: "POST", Path: path, Cred: apptest.WithBearer(f.member.IDToken()), Body: body, Status: 403, Check: nothing},
		{Name: "owner cookie", Method: "POST", Path: path, Cred: apptest.WithCookie(f.owner.Cookie()), Body: body, Status: 403, Check: nothing},
		{Name: "other site's member", Method: "POST", Path: path, Cred: apptest.WithCookie(f.stranger.Cookie()), Body: body, Status: 403, Check: nothing},
		{Name: "member with a bad body: guard first", Method: "POST", Path: path, Cred: apptest.WithCookie(f.member.Cookie()), Body: map[string]any{}, Status: 403},
		{Name: "admin with MFA pending", Method: "POST", Path: path, Cred: apptest.WithCookie(f.admin.CookieWith(session.MFAPending)), Body: body, Status: 403, Want: map[string]any{"mfaRequired": true}, Check: nothing},
		{Name: "agent token of the site", Method: "POST", Path: path, Cred: apptest.WithBearer(agent), Body: body, Status: 403, Check: nothing},
		{Name: "admin cookie", Method: "POST", Path: path, Cred: apptest.WithCookie(f.admin.Cookie()), Body: crash(f.site, "a.exe"), Status: 200, Want: map[string]any{"success": true, "emailSent": true}},
		{Name: "admin API key", Method: "POST", Path: path, Cred: apptest.WithAPIKey(key), Body: crash(f.site, "b.exe"), Status: 200, Want: map[string]any{"success": true}},
		{Name: "admin API key as bearer", Method: "POST", Path: path, Cred: apptest.WithBearer(key), Body: crash(f.site, "c.exe"), Status: 200},
		{Name: "admin ID token", Method: "POST", Path: path, Cred: apptest.WithBearer(f.admin.IDToken()), Body: crash(f.site, "d.exe"), Status: 200},
		{Name: "admin, another site", Method: "POST", Path: path, Cred: apptest.WithCookie(f.admin.Cookie()), Body: crash(f.otherSite, "e.exe"), Status: 200},
	})
	if n := f.Count(notify.Collection); n != 5 {
		t.Errorf("%d queue documents, want 5", n)
	}
}

func TestValidation(t *testing.T) {
	f := newFixture(t)
	admin := apptest.WithCookie(f.admin.Cookie())
	nothing := func(t *testing.T, _ *apptest.Response) {
		if n := f.Count(notify.Collection); n != 0 {
			t.Errorf("%d documents queued by a refused request", n)
		}
	}
	bad := func(name string, body any, status int, msg string) apptest.Scenario {
		return apptest.Scenario{Name: name, Method: "POST", Path: path, Cred: admin, Body: body, Status: status, Check: func(t *testing.T, r *apptest.Response) {
			nothing(t, r)
			if m, _ := r.JSON["error"].(string); !strings.Contains(m, msg) {
				t.Errorf("error %q, want it to contain %q", m, msg)
			}
		}}
	}
	f.Run(t, []apptest.Scenario{
		bad("empty body", nil, 400, "empty"),
		bad("malformed", apptest.Raw(`{"siteId":`), 400, "Malformed"),
		bad("array", apptest.Raw(`[1]`), 400, "object"),
		bad("missing siteId", map[string]any{"event": "machine_offline"}, 400, "Missing required fields"),
		bad("missing event", map[string]any{"siteId": f.site}, 400, "Missing required fields"),
		bad("event not a string", map[string]any{"siteId": f.site, "event": 1}, 400, "event"),
		bad("unsupported event", map[string]any{"siteId": f.site, "event": "process.crashed"}, 400, "Unsupported event"),
		bad("unsupported event on an unknown site: event first", map[string]any{"siteId": "nope", "event": "disk_full"}, 400, "Unsupported event"),
		bad("unknown site", map[string]any{"siteId": "nope", "event": "machine_offline"}, 404, "Site not found"),
		bad("site id that cannot exist", map[string]any{"siteId": "a/b", "event": "machine_offline"}, 404, "Site not found"),
		bad("process_crash without processName on an unknown site: site first", map[string]any{"siteId": "nope", "event": "process_crash"}, 404, "Site not found"),
		bad("process_crash without processName", map[string]any{"siteId": f.site, "event": "process_crash"}, 400, "processName"),
		bad("process_crash with an empty processName", map[string]any{"siteId": f.site, "event": "process_crash", "data": map[string]any{"processName": ""}}, 400, "processName"),
		bad("data not an object", map[string]any{"siteId": f.site, "event": "machine_offline", "data": "x"}, 400, "data"),
		bad("processName not a string", map[string]any{"siteId": f.site, "event": "process_crash", "data": map[string]any{"processName": 5}}, 400, "processName"),
		bad("errorMessage too long", map[string]any{"siteId": f.site, "event": "machine_offline", "data": map[string]any{"errorMessage": strings.Repeat("x", 9000)}}, 400, "too long"),
		bad("oversized body", map[string]any{"siteId": f.site, "event": "machine_offline", "data": map[string]any{"errorMessage": strings.Repeat("x", 2<<20)}}, 413, "too large"),
		{Name: "wrong method", Method: "GET", Path: path, Cred: admin, Status: 405},
	})
}

func TestQueueDocument(t *testing.T) {
	f := newFixture(t)
	admin := apptest.WithAPIKey(f.admin.APIKey())
	origin := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "owlette.example"}

	t.Run("process crash", func(t *testing.T) {
		before := f.Env.Docs(notify.Collection)
		r := f.Do("POST", path, admin, crash(f.site, "TouchDesigner.exe"), origin)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		// The opted-out member (processAlerts false) and the user without
		// e-mail are not recipients; the unassigned owner is.
		wantTo := sorted(f.member.Email, f.owner.Email)
		var got []string
		for _, a := range r.JSON["recipients"].([]any) {
			got = append(got, a.(string))
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, wantTo) || len(r.JSON) != 5 || r.JSON["event"] != "process_crash" ||
			r.JSON["emailSent"] != true || r.JSON["webhooksFired"] != float64(2) || r.JSON["success"] != true {
			t.Errorf("response %s: want recipients %v and 2 webhooks (enabled, subscribed, this site)", r.Raw, wantTo)
		}
		id, doc := f.Env.NewDoc(notify.Collection, before)
		if !strings.HasPrefix(id, "simulated_event_") || doc["dedupeKey"] != id {
			t.Errorf("id %q dedupeKey %v", id, doc["dedupeKey"])
		}
		if c, _ := doc["createdAt"].(time.Time); !c.Equal(f.Clock.Now()) {
			t.Errorf("createdAt %v", doc["createdAt"])
		}
		to, cc := mail(t, doc)
		if !reflect.DeepEqual(to, wantTo) || !reflect.DeepEqual(cc, []string{"cc@example.test"}) {
			t.Errorf("to %v cc %v: want the union of CCs minus the To list", to, cc)
		}
		email := doc["email"].(map[string]any)
		delete(email, "recipients")
		if want := map[string]any{
			"template": "simulated", "subject": "[DEVELOPMENT] [SIMULATED] Process crashed: TouchDesigner.exe on Stage PC",
			"preference": "processAlerts", "single": true, "status": "pending",
		}; !reflect.DeepEqual(email, want) {
			t.Errorf("email part %v, want %v", email, want)
		}
		for k, v := range map[string]any{"kind": "simulated_event", "siteId": f.site, "status": "pending", "attempts": int64(0), "origin": "https://owlette.example", "cortex": nil} {
			if !reflect.DeepEqual(doc[k], v) {
				t.Errorf("%s = %v, want %v", k, doc[k], v)
			}
		}
		if want := map[string]any{"event": "process_crash", "machineId": "ws-7", "machineName": "Stage PC", "processName": "TouchDesigner.exe",
			"errorMessage": "exit code 3", "siteName": "Site " + f.site, "environment": "DEVELOPMENT"}; !reflect.DeepEqual(doc["params"], want) {
			t.Errorf("params %v, want %v", doc["params"], want)
		}
		if want := map[string]any{
			"event": "process.crashed", "status": "pending", "site": map[string]any{"id": f.site, "name": "Site " + f.site},
			"data": map[string]any{"machine": map[string]any{"id": "ws-7", "name": "Stage PC"}, "process": map[string]any{"name": "TouchDesigner.exe", "error": "exit code 3"}},
		}; !reflect.DeepEqual(doc["webhook"], want) {
			g, _ := json.Marshal(doc["webhook"])
			t.Errorf("webhook part %s", g)
		}
	})

	t.Run("machine offline with defaults", func(t *testing.T) {
		before := f.Env.Docs(notify.Collection)
		r := f.Do("POST", path, admin, map[string]any{"siteId": f.site, "event": "machine_offline"}, nil)
		if r.StatusCode != 200 || r.JSON["webhooksFired"] != float64(2) {
			t.Fatalf("%d %s: want crash-1 and offline-on", r.StatusCode, r.Raw)
		}
		_, doc := f.Env.NewDoc(notify.Collection, before)
		// healthAlerts: the process-alert opt-out does not apply.
		to, cc := mail(t, doc)
		if want := sorted(f.member.Email, f.owner.Email, f.optedOut.Email); !reflect.DeepEqual(to, want) {
			t.Errorf("to %v, want %v", to, want)
		}
		for i := range cc { // which spelling comes first depends on recipient order
			cc[i] = strings.ToLower(cc[i])
		}
		sort.Strings(cc)
		if want := sorted("cc@example.test", "night@example.test"); !reflect.DeepEqual(cc, want) {
			t.Errorf("cc %v, want %v (case-insensitive union)", cc, want)
		}
		email := doc["email"].(map[string]any)
		if email["subject"] != "[DEVELOPMENT] [SIMULATED] Machine offline: Test Machine" || email["preference"] != "healthAlerts" {
			t.Errorf("email %v", email)
		}
		hook := doc["webhook"].(map[string]any)
		if hook["event"] != "machine.offline" || !reflect.DeepEqual(hook["data"], map[string]any{"machine": map[string]any{"id": "test-machine", "name": "Test Machine"}}) {
			t.Errorf("webhook %v", hook)
		}
		if p := doc["params"].(map[string]any); p["errorMessage"] != "Simulated error" || p["processName"] != "" {
			t.Errorf("params %v", p)
		}
	})

	t.Run("connection failure", func(t *testing.T) {
		before := f.Env.Docs(notify.Collection)
		r := f.Do("POST", path, admin, map[string]any{"siteId": f.site, "event": "connection_failure", "data": map[string]any{"machineName": "Lobby"}}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := f.Env.NewDoc(notify.Collection, before)
		if doc["email"].(map[string]any)["subject"] != "[DEVELOPMENT] [SIMULATED] Connection failure on Lobby" || doc["webhook"].(map[string]any)["event"] != "machine.offline" {
			t.Errorf("doc %v", doc)
		}
	})

	t.Run("a repeat within the second is one job; a minute later, another", func(t *testing.T) {
		body := crash(f.site, "repeat.exe")
		before := f.Env.Docs(notify.Collection)
		for i := 0; i < 2; i++ {
			if r := f.Do("POST", path, admin, body, nil); r.StatusCode != 200 || r.JSON["emailSent"] != true {
				t.Fatalf("%d %s", r.StatusCode, r.Raw)
			}
		}
		f.Env.NewDoc(notify.Collection, before)
		f.Clock.Advance(time.Minute)
		before = f.Env.Docs(notify.Collection)
		f.Do("POST", path, admin, body, nil)
		f.Env.NewDoc(notify.Collection, before)
	})

	t.Run("production label", func(t *testing.T) {
		f.D.Config.Env = "production"
		defer func() { f.D.Config.Env = "local" }()
		before := f.Env.Docs(notify.Collection)
		f.Do("POST", path, admin, crash(f.site, "prod.exe"), nil)
		if _, doc := f.Env.NewDoc(notify.Collection, before); !strings.HasPrefix(doc["email"].(map[string]any)["subject"].(string), "[PRODUCTION] [SIMULATED] ") {
			t.Errorf("subject %v", doc["email"])
		}
	})

	t.Run("subject cannot carry a line break", func(t *testing.T) {
		before := f.Env.Docs(notify.Collection)
		f.Do("POST", path, admin, crash(f.site, "evil.exe\r\nBcc: x@example.test"), nil)
		if _, doc := f.Env.NewDoc(notify.Collection, before); strings.ContainsAny(doc["email"].(map[string]any)["subject"].(string), "\r\n") {
			t.Errorf("subject %q", doc["email"].(map[string]any)["subject"])
		}
	})
}

// Webhooks never depend on e-mail being sendable (DECISIONS §2 12.16).
func TestWithoutEmail(t *testing.T) {
	f := newFixture(t)
	admin := apptest.WithCookie(f.admin.Cookie())

	t.Run("Resend not configured", func(t *testing.T) {
		f.D.Config.ResendAPIKey = ""
		defer func() { f.D.Config.ResendAPIKey = "re_test_key" }()
		before := f.Env.Docs(notify.Collection)
		r := f.Do("POST", path, admin, crash(f.site, "x.exe"), nil)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":false,"event":"process_crash","reason":"Resend not configured","success":true,"webhooksFired":2}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := f.Env.NewDoc(notify.Collection, before)
		if doc["email"] != nil || doc["webhook"] == nil || doc["webhook"].(map[string]any)["event"] != "process.crashed" {
			t.Errorf("email %v webhook %v", doc["email"], doc["webhook"])
		}
	})

	// A site whose only user opted out of process alerts, with one webhook.
	lonely := testenv.UniqueID("lonely-")
	f.Env.Site(lonely, "")
	u := f.Member(lonely)
	f.set(t, "users/"+u.UID, map[string]any{"preferences": map[string]any{"processAlerts": false}})
	f.set(t, "sites/"+lonely+"/webhooks/h", map[string]any{"enabled": true, "events": []any{"process.crashed"}})

	t.Run("no recipients and no admin address", func(t *testing.T) {
		before := f.Env.Docs(notify.Collection)
		r := f.Do("POST", path, admin, crash(lonely, "y.exe"), nil)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":false,"event":"process_crash","reason":"No recipients","success":true,"webhooksFired":1}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := f.Env.NewDoc(notify.Collection, before)
		if doc["email"] != nil || doc["webhook"] == nil {
			t.Errorf("email %v webhook %v", doc["email"], doc["webhook"])
		}
		if got := doc["webhook"].(map[string]any)["site"]; !reflect.DeepEqual(got, map[string]any{"id": lonely, "name": "Site " + lonely}) {
			t.Errorf("site %v", got)
		}
	})

	t.Run("no recipients: the admin address", func(t *testing.T) {
		f.D.Config.AdminEmail = "ops@example.test"
		defer func() { f.D.Config.AdminEmail = "" }()
		before := f.Env.Docs(notify.Collection)
		r := f.Do("POST", path, admin, crash(lonely, "z.exe"), nil)
		if r.StatusCode != 200 || string(r.Raw) != `{"emailSent":true,"event":"process_crash","recipients":["ops@example.test"],"success":true,"webhooksFired":1}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		_, doc := f.Env.NewDoc(notify.Collection, before)
		want := []any{map[string]any{"uid": "fallback", "email": "ops@example.test", "cc": []any{}}}
		if got := doc["email"].(map[string]any)["recipients"]; !reflect.DeepEqual(got, want) {
			t.Errorf("recipients %v", got)
		}
	})

	t.Run("nothing to deliver: nothing queued", func(t *testing.T) {
		f.D.Config.ResendAPIKey = ""
		defer func() { f.D.Config.ResendAPIKey = "re_test_key" }()
		n := f.Count(notify.Collection)
		// lonely has no machine.offline webhook.
		r := f.Do("POST", path, admin, map[string]any{"siteId": lonely, "event": "machine_offline"}, nil)
		if r.StatusCode != 200 || r.JSON["webhooksFired"] != float64(0) || r.JSON["reason"] != "Resend not configured" {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if got := f.Count(notify.Collection); got != n {
			t.Errorf("%d → %d queue documents for an empty job", n, got)
		}
	})
}

// E43 spends the agent-alert budget of its caller's address, shared with
// the agents' E17 (api.md §1.6): 5 an hour between them.
func TestSharedAgentAlertBudget(t *testing.T) {
	e := apptest.New(t, events.Register, alerts.Register)
	admin := e.Admin()
	e.Site("site-a", "")
	agent := e.AgentToken("site-a", "m1")
	ip := map[string]string{"X-Forwarded-For": "203.0.113.77"}
	sim := func(i int) *apptest.Response {
		return e.Do("POST", path, apptest.WithCookie(admin.Cookie()), map[string]any{"siteId": "site-a", "event": "machine_offline", "data": map[string]any{"machineId": string(rune('a' + i))}}, ip)
	}
	alert := func(i int) *apptest.Response {
		return e.Do("POST", "/api/agent/alert", apptest.WithBearer(agent), map[string]any{"siteId": "site-a", "machineId": "m1", "errorCode": string(rune('A' + i))}, ip)
	}
	for i := 0; i < 3; i++ {
		if r := sim(i); r.StatusCode != 200 || r.Header.Get("X-RateLimit-Limit") != "5" {
			t.Fatalf("simulation %d: %d %s %v", i+1, r.StatusCode, r.Raw, r.Header)
		}
	}
	for i := 0; i < 2; i++ {
		if r := alert(i); r.StatusCode != 200 {
			t.Fatalf("alert %d: %d %s", i+1, r.StatusCode, r.Raw)
		}
	}
	n := e.Count(notify.Collection)
	if r := sim(9); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || r.JSON["error"] != "Rate limit exceeded" {
		t.Errorf("6th request (a simulation): %d %s", r.StatusCode, r.Raw)
	}
	if r := alert(9); r.StatusCode != 429 {
		t.Errorf("7th request (an agent alert): %d %s", r.StatusCode, r.Raw)
	}
	if got := e.Count(notify.Collection); got != n {
		t.Errorf("a 429 queued something")
	}
	// Another address has its own budget.
	if r := e.Do("POST", path, apptest.WithCookie(admin.Cookie()), map[string]any{"siteId": "site-a", "event": "machine_offline"}, nil); r.StatusCode != 200 {
		t.Errorf("other address: %d %s", r.StatusCode, r.Raw)
	}
}

// What one simulation costs in Firestore RPCs.
func TestCost(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.admin.Cookie())
	measure := func(name string, body map[string]any) map[string]int {
		f.RPCs.Reset()
		if r := f.Do("POST", path, cookie, body, nil); r.StatusCode != 200 {
			t.Fatalf("%s: %d %s", name, r.StatusCode, r.Raw)
		}
		s := f.RPCs.Snapshot()
		t.Logf("%s: %v", name, s)
		return s
	}
	// Guard: session + user (1 batched get), site (1); then site, owner
	// (not assigned) and the limiter lease (3 gets), users query, webhook
	// count; the job and the lease (2 commits).
	s := measure("process crash", crash(f.site, "p.exe"))
	if s["BatchGetDocuments"] != 5 || s["RunQuery"] != 1 || s["RunAggregationQuery"] != 1 || s["Commit"] != 2 {
		t.Errorf("process crash: %v", s)
	}
	// The guard's documents are now in the instance's memory (shared/guard).
	f.D.Config.ResendAPIKey = ""
	s = measure("no e-mail", crash(f.site, "q.exe"))
	if s["BatchGetDocuments"] != 2 || s["RunQuery"] != 0 || s["RunAggregationQuery"] != 1 || s["Commit"] != 2 {
		t.Errorf("no e-mail: %v", s)
	}
}
