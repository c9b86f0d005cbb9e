package utilities_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/functions/utilities"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/version"
)

const path = "/api/bug-report"

func report(kv ...any) map[string]any {
	m := map[string]any{"title": "Dashboard freezes", "category": "bug", "description": "When I open the machines tab it freezes.",
		"browserUA": "Mozilla/5.0", "pageUrl": "https://owlette.app/dashboard"}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

func TestBugReport(t *testing.T) {
	e := apptest.New(t, utilities.Register)
	admin, member := e.Admin(), e.Member("site-a")
	// Even an agent whose Auth record has an e-mail is stored with "":
	// agents are recognised by their role claim.
	agentUID := testenv.UniqueID("agent_site-a_")
	if _, err := e.D.Auth.CreateUser(context.Background(), (&auth.UserToCreate{}).UID(agentUID).Email(agentUID+"@example.test")); err != nil {
		t.Fatal(err)
	}
	agentTok := e.IDTokenFor(agentUID, map[string]any{"role": "agent", "site_id": "site-a", "machine_id": "m1", "version": "2.4.0"})

	stored := func(uid, email, source string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			id, _ := r.JSON["id"].(string)
			doc := e.Doc("bug_reports/" + id)
			if doc == nil {
				t.Fatalf("bug_reports/%s not written", id)
			}
			if c, ok := doc["createdAt"].(time.Time); !ok || c.IsZero() {
				t.Errorf("createdAt %v", doc["createdAt"])
			}
			delete(doc, "createdAt")
			ua := "Mozilla/5.0"
			if source == "agent" {
				ua = "Owlette Agent/2.4.0 (Windows; m1)"
			}
			want := map[string]any{
				"source": source, "category": "bug", "title": "Dashboard freezes", "description": "When I open the machines tab it freezes.",
				"status": "new", "userId": uid, "userEmail": email, "browserUA": ua,
				"pageUrl": "https://owlette.app/dashboard", "appVersion": version.Version,
			}
			if !reflect.DeepEqual(doc, want) {
				t.Errorf("report\n got %v\nwant %v", doc, want)
			}
		}
	}
	ok := func(check func(*testing.T, *apptest.Response)) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			if len(r.JSON) != 2 || r.JSON["success"] != true || r.JSON["id"] == "" {
				t.Errorf("body %s, want exactly {success, id}", r.Raw)
			}
			check(t, r)
		}
	}
	nothing := func(t *testing.T, _ *apptest.Response) {
		if n := e.Count("bug_reports"); n != 0 {
			t.Errorf("%d reports written by refused requests", n)
		}
	}
	cookie := member.Cookie()
	bad := func(name string, body any) apptest.Scenario {
		return apptest.Scenario{Name: name, Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: body, Status: 400, Check: nothing}
	}
	emoji := func(n int) string { return strings.Repeat("🐛", n) } // 2 UTF-16 units each

	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "POST", Path: path, Body: report(), Status: 401, Check: nothing},
		{Name: "no credential, bad body: auth first", Method: "POST", Path: path, Body: map[string]any{}, Status: 401},
		{Name: "forged bearer", Method: "POST", Path: path, Cred: apptest.WithBearer("a.b.c"), Body: report(), Status: 401, Check: nothing},
		{Name: "API key is not accepted", Method: "POST", Path: path, Cred: apptest.WithAPIKey(admin.APIKey()), Body: report(), Status: 401},
		{Name: "API key as bearer is not accepted", Method: "POST", Path: path, Cred: apptest.WithBearer(admin.APIKey()), Body: report(), Status: 401},
		{Name: "MFA pending session", Method: "POST", Path: path, Cred: apptest.WithCookie(member.CookieWith(session.MFAPending)), Body: report(), Status: 403, Check: nothing},
		bad("empty body", nil),
		bad("malformed", apptest.Raw(`{"title":`)),
		bad("array", apptest.Raw(`["bug"]`)),
		bad("missing title", report("title", nil)),
		bad("blank title", report("title", " \t\n\u00a0\ufeff")),
		bad("title too long", report("title", strings.Repeat("t", 201))),
		bad("title too long in UTF-16 units", report("title", emoji(101))),
		bad("title not a string", report("title", 5)),
		bad("missing category", report("category", nil)),
		bad("unknown category", report("category", "question")),
		bad("category wrong case", report("category", "Bug")),
		bad("missing description", report("description", nil)),
		bad("blank description", report("description", "   ")),
		bad("description too long", report("description", strings.Repeat("d", 50_001))),
		bad("browserUA not a string", report("browserUA", []string{"x"})),
		{Name: "oversized body", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: report("description", strings.Repeat("d", 2<<20)), Status: 413, Check: nothing},
		{Name: "member session", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: report(), Status: 200, Check: ok(stored(member.UID, member.Email, "web"))},
		{Name: "admin session", Method: "POST", Path: path, Cred: apptest.WithCookie(admin.Cookie()), Body: report(), Status: 200, Check: ok(stored(admin.UID, admin.Email, "web"))},
		{Name: "web user's ID token", Method: "POST", Path: path, Cred: apptest.WithBearer(member.IDToken()), Body: report(), Status: 200, Check: ok(stored(member.UID, member.Email, "web"))},
		{Name: "agent ID token", Method: "POST", Path: path, Cred: apptest.WithBearer(agentTok), Body: report("browserUA", "Owlette Agent/2.4.0 (Windows; m1)"), Status: 200,
			Check: ok(stored(agentUID, "", "agent"))},
	})

	t.Run("limits are JavaScript lengths; trimmed; client fields truncated", func(t *testing.T) {
		ua := strings.Repeat("u", 499) + "🐛" + "tail" // the emoji would straddle unit 500
		r := e.Do("POST", path, apptest.WithCookie(cookie), report("title", "  "+emoji(100)+"  ", "description", "\n"+strings.Repeat("d", 50_000)+"\n",
			"browserUA", ua, "pageUrl", "https://x/"+strings.Repeat("p", 600), "category", "rant"), nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		doc := e.Doc("bug_reports/" + r.JSON["id"].(string))
		if doc["title"] != emoji(100) || doc["description"] != strings.Repeat("d", 50_000) || doc["category"] != "rant" {
			t.Errorf("title %q… description %d chars", doc["title"], len(doc["description"].(string)))
		}
		if doc["browserUA"] != strings.Repeat("u", 499) {
			t.Errorf("browserUA %d bytes: %q", len(doc["browserUA"].(string)), doc["browserUA"])
		}
		if p := doc["pageUrl"].(string); len(p) != 500 || !strings.HasPrefix(p, "https://x/ppp") {
			t.Errorf("pageUrl %d chars", len(p))
		}
	})

	t.Run("optional fields absent", func(t *testing.T) {
		r := e.Do("POST", path, apptest.WithCookie(cookie), report("browserUA", nil, "pageUrl", nil, "category", "compliment"), nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		doc := e.Doc("bug_reports/" + r.JSON["id"].(string))
		if doc["browserUA"] != "" || doc["pageUrl"] != "" || doc["source"] != "web" {
			t.Errorf("doc %v", doc)
		}
	})

	t.Run("user gone from Firebase Auth: report kept, no e-mail", func(t *testing.T) {
		gone := e.Member()
		c := gone.Cookie()
		if err := e.D.Auth.DeleteUser(context.Background(), gone.UID); err != nil {
			t.Fatal(err)
		}
		r := e.Do("POST", path, apptest.WithCookie(c), report(), nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if doc := e.Doc("bug_reports/" + r.JSON["id"].(string)); doc["userEmail"] != "" || doc["userId"] != gone.UID {
			t.Errorf("doc %v", doc)
		}
	})

	t.Run("rate limited per IP as user", func(t *testing.T) {
		r := e.Do("POST", path, apptest.WithCookie(cookie), report(), nil)
		if r.Header.Get("X-RateLimit-Limit") != "60" {
			t.Errorf("X-RateLimit-Limit %q", r.Header.Get("X-RateLimit-Limit"))
		}
	})

	if n := e.Count(notify.Collection); n != 0 {
		t.Errorf("%d admin e-mails queued without Resend/admin address", n)
	}
}

func TestBugReportQueuesAdminEmail(t *testing.T) {
	e := apptest.New(t, utilities.Register)
	member := e.Member()
	cookie := member.Cookie()

	e.D.Config.ResendAPIKey = "re_test"
	if r := e.Do("POST", path, apptest.WithCookie(cookie), report(), nil); r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	if n := e.Count(notify.Collection); n != 0 {
		t.Errorf("queued without an admin address: %d", n)
	}

	e.D.Config.AdminEmail = "admin@example.test"
	e.RPCs.Reset()
	r := e.Do("POST", path, apptest.WithCookie(cookie), report("title", "<b>Bold</b> idea", "category", "feature_request"),
		map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "owlette.example"})
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	s := e.RPCs.Snapshot()
	t.Logf("RPCs: %v", s)
	// the user limiter's lease (read + write; the session record is in the
	// instance's memory since the first report); one commit for the report
	// and its queue document together.
	if s["Commit"] != 2 || s["BatchGetDocuments"] != 1 || s["RunQuery"] != 0 {
		t.Errorf("RPCs %v", s)
	}
	id := r.JSON["id"].(string)
	q := e.Doc(notify.Collection + "/" + notify.DedupeKey(notify.KindBugReport, id))
	if q == nil {
		t.Fatal("no queue document")
	}
	if c, _ := q["createdAt"].(time.Time); !c.Equal(e.Clock.Now()) {
		t.Errorf("createdAt %v", q["createdAt"])
	}
	delete(q, "createdAt")
	want := map[string]any{
		"kind": "bug_report", "siteId": "", "status": "pending", "attempts": int64(0),
		"dedupeKey": notify.DedupeKey(notify.KindBugReport, id), "origin": "https://owlette.example",
		"params": map[string]any{
			"reportId": id, "source": "web", "category": "feature_request", "title": "<b>Bold</b> idea",
			"description": "When I open the machines tab it freezes.", "userId": member.UID, "userEmail": member.Email,
			"browserUA": "Mozilla/5.0", "pageUrl": "https://owlette.app/dashboard", "appVersion": version.Version,
			"environment": "DEVELOPMENT",
		},
		"email": map[string]any{
			"template": "feedback", "subject": "[DEVELOPMENT] feedback: feature_request — <b>Bold</b> idea",
			"preference": "", "status": "pending",
			"recipients": []any{map[string]any{"uid": "fallback", "email": "admin@example.test", "cc": []any{}}},
		},
		"webhook": nil, "cortex": nil,
	}
	if !reflect.DeepEqual(q, want) {
		t.Errorf("queue document\n got %v\nwant %v", q, want)
	}
}
