package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/owlette/server/functions/webhooks"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/webhook"
	"github.com/owlette/server/shared/webhook/webhooktest"
)

const (
	listPath = "/api/admin/webhooks"
	testPath = "/api/webhooks/test"
	// publicURL is a public address literal: it passes the target check
	// without DNS (tests run offline) and is never called.
	publicURL = "https://93.184.215.14/hooks/owlette"
)

type fixture struct {
	*apptest.Env
	site, otherSite                string
	admin, member, owner, stranger *apptest.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := apptest.New(t, webhooks.Register)
	tn := e.Tenancy(testenv.UniqueID("site-"), testenv.UniqueID("other-"))
	return &fixture{Env: e, site: tn.Site, otherSite: tn.OtherSite, admin: tn.Admin, member: tn.Member, owner: tn.Owner, stranger: tn.Stranger}
}

// hook stores a webhook directly, as the dashboard or an older server
// would have, and returns its id.
func (f *fixture) hook(t *testing.T, site string, d map[string]any) string {
	t.Helper()
	base := map[string]any{
		"url": publicURL, "name": "stored", "events": []any{"process.crashed"}, "enabled": true,
		"secret": strings.Repeat("ab", 32), "createdAt": f.Clock.Now(), "createdBy": "",
		"lastTriggered": nil, "lastStatus": 0, "failCount": 0,
	}
	for k, v := range d {
		base[k] = v
	}
	ref := f.FS.Collection("sites").Doc(site).Collection("webhooks").NewDoc()
	if _, err := ref.Set(context.Background(), base); err != nil {
		t.Fatal(err)
	}
	return ref.ID
}

func (f *fixture) hooksOf(site string) string { return "sites/" + site + "/webhooks" }

func createBody(site string, kv ...any) map[string]any {
	m := map[string]any{"siteId": site, "name": "Ops channel", "url": publicURL, "events": []any{"process.crashed"}}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

// refusedCallers are every caller an admin-only route must turn away, with
// the status each gets.
func refusedCallers(f *fixture) []struct {
	name   string
	cred   apptest.Cred
	status int
} {
	return []struct {
		name   string
		cred   apptest.Cred
		status int
	}{
		{"no credential", apptest.NoCred, 401},
		{"forged bearer", apptest.WithBearer("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), 401},
		{"unknown API key", apptest.WithAPIKey("owk_nopenopenopenopenopenopenopenopenopenopenope"), 401},
		{"member cookie", apptest.WithCookie(f.member.Cookie()), 403},
		{"member API key", apptest.WithAPIKey(f.member.APIKey()), 403},
		{"member ID token", apptest.WithBearer(f.member.IDToken()), 403},
		{"site owner cookie", apptest.WithCookie(f.owner.Cookie()), 403},
		{"other site's member", apptest.WithCookie(f.stranger.Cookie()), 403},
		{"admin with MFA pending", apptest.WithCookie(f.admin.CookieWith(session.MFAPending)), 403},
		{"agent token of the site", apptest.WithBearer(f.AgentToken(f.site, "m1")), 403},
	}
}

// withQueryKey adds ?api_key= (or &api_key=) to path.
func withQueryKey(path, key string) string {
	if strings.Contains(path, "?") {
		return path + "&api_key=" + key
	}
	return path + "?api_key=" + key
}

// TestCredentials sends every kind of caller to every route; refused
// callers change nothing.
func TestCredentials(t *testing.T) {
	f := newFixture(t)
	f.D.Config.WebhookAllowLoopback = true // E47 below targets a loopback receiver
	rcv := receiver(t, 200)
	target := f.hook(t, f.site, map[string]any{"url": rcv.URL + "/in", "lastStatus": 7})
	victim := f.hook(t, f.site, nil) // what refused deletes would remove
	adminKey := f.admin.APIKey()
	admins := []struct {
		name string
		cred apptest.Cred
	}{
		{"admin cookie", apptest.WithCookie(f.admin.Cookie())},
		{"admin API key", apptest.WithAPIKey(adminKey)},
		{"admin API key as bearer", apptest.WithBearer(adminKey)},
		{"admin ID token", apptest.WithBearer(f.admin.IDToken())},
	}
	routes := []struct {
		name, method, path string
		body               any
	}{
		{"E44 list", "GET", listPath + "?siteId=" + f.site, nil},
		{"E45 create", "POST", listPath, createBody(f.site)},
		{"E46 delete", "DELETE", listPath + "?siteId=" + f.site + "&webhookId=" + victim, nil},
		{"E47 test", "POST", testPath, map[string]any{"siteId": f.site, "webhookId": target}},
	}
	unchanged := func(t *testing.T, _ *apptest.Response) {
		if n := f.Count(f.hooksOf(f.site)); n != 2 {
			t.Errorf("%d webhooks, want the 2 stored (refused request created or deleted one)", n)
		}
		if got := f.Doc(f.hooksOf(f.site) + "/" + target)["lastStatus"]; got != int64(7) {
			t.Errorf("lastStatus %v: a refused test send was made", got)
		}
		if len(rcv.Deliveries()) != 0 {
			t.Errorf("receiver called by a refused request")
		}
	}
	var sc []apptest.Scenario
	for _, rt := range routes {
		for _, c := range refusedCallers(f) {
			want := map[string]any(nil)
			if strings.Contains(c.name, "MFA") {
				want = map[string]any{"mfaRequired": true}
			}
			sc = append(sc, apptest.Scenario{Name: rt.name + "/" + c.name, Method: rt.method, Path: rt.path, Cred: c.cred, Body: rt.body, Status: c.status, Want: want, Check: unchanged})
		}
		sc = append(sc, apptest.Scenario{Name: rt.name + "/API key in the query", Method: rt.method, Path: withQueryKey(rt.path, adminKey), Body: rt.body, Status: 400, Check: unchanged})
	}
	f.Run(t, sc)

	// Admins pass with every credential kind.
	for _, a := range admins {
		f.Run(t, []apptest.Scenario{
			{Name: a.name + "/E44", Method: "GET", Path: listPath + "?siteId=" + f.site, Cred: a.cred, Status: 200, Want: map[string]any{"success": true, "webhooks.0.id": apptest.Present}},
			{Name: a.name + "/E45", Method: "POST", Path: listPath, Cred: a.cred, Body: createBody(f.site), Status: 200, Want: map[string]any{"success": true, "webhookId": apptest.Present}},
			{Name: a.name + "/E47", Method: "POST", Path: testPath, Cred: a.cred, Body: map[string]any{"siteId": f.site, "webhookId": target}, Status: 200, Want: map[string]any{"success": true, "status": 200}},
		})
		id := f.hook(t, f.site, nil)
		f.Run(t, []apptest.Scenario{{Name: a.name + "/E46", Method: "DELETE", Path: listPath + "?siteId=" + f.site + "&webhookId=" + id, Cred: a.cred, Status: 200,
			Check: func(t *testing.T, _ *apptest.Response) {
				if f.Doc(f.hooksOf(f.site)+"/"+id) != nil {
					t.Error("not deleted")
				}
			}}})
	}
	if got := len(rcv.Deliveries()); got != len(admins) {
		t.Errorf("receiver got %d test sends, want %d", got, len(admins))
	}
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	admin := apptest.WithCookie(f.admin.Cookie())
	nothing := func(t *testing.T, _ *apptest.Response) {
		if n := f.Count(f.hooksOf(f.site)); n != 0 {
			t.Errorf("%d webhooks written by a refused request", n)
		}
	}
	bad := func(name string, body any, msg string) apptest.Scenario {
		sc := apptest.Scenario{Name: name, Method: "POST", Path: listPath, Cred: admin, Body: body, Status: 400, Check: nothing}
		if msg != "" {
			sc.Check = func(t *testing.T, r *apptest.Response) {
				nothing(t, r)
				if m, _ := r.JSON["error"].(string); !strings.Contains(m, msg) {
					t.Errorf("error %q, want it to contain %q", m, msg)
				}
			}
		}
		return sc
	}
	events := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = "custom.event." + string(rune('a'+i))
		}
		return out
	}
	f.Run(t, []apptest.Scenario{
		bad("empty body", nil, "empty"),
		bad("malformed", apptest.Raw(`{"siteId":`), "Malformed"),
		bad("array", apptest.Raw(`[]`), ""),
		bad("missing siteId", createBody(f.site, "siteId", nil), "Missing required fields"),
		bad("missing name", createBody(f.site, "name", nil), "Missing required fields"),
		bad("blank name", createBody(f.site, "name", "  \t"), "Missing required fields"),
		bad("missing url", createBody(f.site, "url", nil), "Missing required fields"),
		bad("name not a string", createBody(f.site, "name", 5), "name"),
		bad("name of 101 characters", createBody(f.site, "name", strings.Repeat("é", 101)), "at most 100 characters"),
		bad("url of 2049 bytes", createBody(f.site, "url", "https://93.184.215.14/"+strings.Repeat("a", 2049-len("https://93.184.215.14/"))), "too long"),
		bad("plain http", createBody(f.site, "url", "http://93.184.215.14/x"), "https://"),
		bad("upper-case scheme (literal prefix)", createBody(f.site, "url", "HTTPS://93.184.215.14/x"), "https://"),
		bad("ftp", createBody(f.site, "url", "ftp://93.184.215.14/x"), "https://"),
		bad("loopback http is for development only", createBody(f.site, "url", "http://127.0.0.1:8080/x"), "https://"),
		bad("events missing", createBody(f.site, "events", nil), "non-empty array"),
		bad("events empty", createBody(f.site, "events", []any{}), "non-empty array"),
		bad("events a string", createBody(f.site, "events", "process.crashed"), "events"),
		bad("event not a string", createBody(f.site, "events", []any{1}), "events"),
		bad("empty event name", createBody(f.site, "events", []any{"process.crashed", ""}), "empty"),
		bad("21 events", createBody(f.site, "events", events(21)), "at most 20"),
		bad("event name of 101 bytes", createBody(f.site, "events", []any{strings.Repeat("e", 101)}), "too long"),
		// Targets that are not public hosts (DECISIONS §3).
		bad("private address", createBody(f.site, "url", "https://10.0.0.5/hook"), "not public"),
		bad("private address (192.168)", createBody(f.site, "url", "https://192.168.1.20/hook"), "not public"),
		bad("cloud metadata", createBody(f.site, "url", "https://169.254.169.254/latest/meta-data"), "not public"),
		bad("metadata host name", createBody(f.site, "url", "https://metadata.google.internal/computeMetadata/v1/"), "not public"),
		bad("loopback over https", createBody(f.site, "url", "https://127.0.0.1/hook"), "not public"),
		bad("localhost", createBody(f.site, "url", "https://localhost/hook"), "not public"),
		bad("IPv6 loopback", createBody(f.site, "url", "https://[::1]/hook"), "not public"),
		bad("IPv4-mapped private", createBody(f.site, "url", "https://[::ffff:10.0.0.1]/hook"), "not public"),
		bad("credentials in the URL", createBody(f.site, "url", "https://user:pw@93.184.215.14/hook"), "credentials"),
		bad("single-label host", createBody(f.site, "url", "https://intranet/hook"), "fully qualified"),
		// Order: validation before the site.
		bad("bad body for an unknown site", createBody("no-such-site", "url", "http://x"), "https://"),
		{Name: "unknown site", Method: "POST", Path: listPath, Cred: admin, Body: createBody("no-such-site"), Status: 404, Want: map[string]any{"error": "Site not found"}, Check: nothing},
		{Name: "site id that cannot exist", Method: "POST", Path: listPath, Cred: admin, Body: createBody("a/b"), Status: 404, Check: nothing},
		// Order: guard before the body.
		{Name: "member with a bad body", Method: "POST", Path: listPath, Cred: apptest.WithCookie(f.member.Cookie()), Body: apptest.Raw(`{`), Status: 403},
		{Name: "no credential with a bad body", Method: "POST", Path: listPath, Body: apptest.Raw(`{`), Status: 401},
		{Name: "oversized body", Method: "POST", Path: listPath, Cred: admin, Body: createBody(f.site, "name", strings.Repeat("n", 2<<20)), Status: 413, Check: nothing},
	})

	t.Run("stored as documented, events canonical", func(t *testing.T) {
		r := f.Do("POST", listPath, admin, createBody(f.site, "name", "  Ops channel ", "events",
			[]any{"process_crash", "process.crashed", "machine_offline", "process_start_failed", "threshold_breached", "machine_online", "custom.event"}), nil)
		if r.StatusCode != 200 || len(r.JSON) != 4 {
			t.Fatalf("%d %s, want exactly {success, webhookId, secret, signingSecret}", r.StatusCode, r.Raw)
		}
		id, _ := r.JSON["webhookId"].(string)
		secret, _ := r.JSON["secret"].(string)
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(secret) {
			t.Errorf("secret %q", secret)
		}
		if r.JSON["signingSecret"] != webhook.StandardSecret(secret) || !strings.HasPrefix(r.JSON["signingSecret"].(string), "whsec_") {
			t.Errorf("signingSecret %v", r.JSON["signingSecret"])
		}
		doc := f.Doc(f.hooksOf(f.site) + "/" + id)
		if c, ok := doc["createdAt"].(time.Time); !ok || c.IsZero() {
			t.Errorf("createdAt %v", doc["createdAt"])
		}
		delete(doc, "createdAt")
		want := map[string]any{
			"url": publicURL, "name": "Ops channel", "enabled": true, "secret": secret, "createdBy": f.admin.UID,
			"events":        []any{"process.crashed", "machine.offline", "process.restarted", "threshold.breached", "machine.online", "custom.event"},
			"lastTriggered": nil, "lastStatus": int64(0), "failCount": int64(0),
		}
		if !reflect.DeepEqual(doc, want) {
			t.Errorf("document\n got %v\nwant %v", doc, want)
		}
		r2 := f.Do("POST", listPath, admin, createBody(f.site), nil)
		if r2.StatusCode != 200 || r2.JSON["secret"] == secret || r2.JSON["webhookId"] == id {
			t.Errorf("second webhook reuses id or secret: %s", r2.Raw)
		}
		if n := f.Count(f.hooksOf(f.otherSite)); n != 0 {
			t.Errorf("%d webhooks on the other site", n)
		}
	})

	t.Run("100 characters of any width are accepted", func(t *testing.T) {
		if r := f.Do("POST", listPath, admin, createBody(f.site, "name", strings.Repeat("🦉", 100), "events", events(20)), nil); r.StatusCode != 200 {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("loopback targets when development allows them", func(t *testing.T) {
		f.D.Config.WebhookAllowLoopback = true
		defer func() { f.D.Config.WebhookAllowLoopback = false }()
		for _, u := range []string{"http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook", "https://127.0.0.1/hook"} {
			if r := f.Do("POST", listPath, admin, createBody(f.site, "url", u), nil); r.StatusCode != 200 {
				t.Errorf("%s: %d %s", u, r.StatusCode, r.Raw)
			}
		}
		// Still no private targets, and the prefix is not enough.
		for _, u := range []string{"http://10.0.0.1/hook", "https://10.0.0.1/hook", "http://127.0.0.1.nip.io/hook", "http://localhost.evil.example/hook", "http://93.184.215.14/hook"} {
			if r := f.Do("POST", listPath, admin, createBody(f.site, "url", u), nil); r.StatusCode != 400 {
				t.Errorf("%s: %d %s, want 400", u, r.StatusCode, r.Raw)
			}
		}
	})
}

func TestList(t *testing.T) {
	f := newFixture(t)
	admin := apptest.WithAPIKey(f.admin.APIKey())
	created := time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	fired := created.Add(time.Hour)
	old := f.hook(t, f.site, map[string]any{
		"name": "dashboard-made", "secret": "legacy-secret", "createdAt": created, "lastTriggered": fired,
		"lastStatus": 502, "failCount": 3, "enabled": false, "note": map[string]any{"at": created},
	})
	bare := f.hook(t, f.site, map[string]any{"createdAt": nil})
	if _, err := f.FS.Collection("sites").Doc(f.site).Collection("webhooks").Doc(bare).Update(context.Background(), []firestore.Update{{Path: "secret", Value: firestore.Delete}}); err != nil {
		t.Fatal(err)
	}
	f.hook(t, f.otherSite, map[string]any{"name": "elsewhere"})

	r := f.Do("GET", listPath+"?siteId="+f.site, admin, nil, nil)
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	list, _ := r.JSON["webhooks"].([]any)
	if len(list) != 2 {
		t.Fatalf("webhooks %s: want exactly the site's two", r.Raw)
	}
	byID := map[string]map[string]any{}
	for _, w := range list {
		m := w.(map[string]any)
		byID[m["id"].(string)] = m
	}
	wantOld := map[string]any{
		"id": old, "url": publicURL, "name": "dashboard-made", "events": []any{"process.crashed"}, "enabled": false,
		"secret": "legacy-secret", "signingSecret": webhook.StandardSecret("legacy-secret"), "createdBy": "",
		"lastStatus": float64(502), "failCount": float64(3),
		"createdAt": store.ISO(created), "lastTriggered": store.ISO(fired),
		// Any other stored timestamp passes through raw, as the original spreads it.
		"note": map[string]any{"at": map[string]any{"_seconds": float64(created.Unix()), "_nanoseconds": float64(891_000_000)}},
	}
	if !reflect.DeepEqual(byID[old], wantOld) {
		g, _ := json.Marshal(byID[old])
		w, _ := json.Marshal(wantOld)
		t.Errorf("webhook\n got %s\nwant %s", g, w)
	}
	if b := byID[bare]; b == nil || b["createdAt"] != nil || b["lastTriggered"] != nil || b["secret"] != nil || b["signingSecret"] != nil {
		t.Errorf("bare webhook %v: null times, no secret, no signingSecret", b)
	}

	f.Run(t, []apptest.Scenario{
		{Name: "unknown site", Method: "GET", Path: listPath + "?siteId=" + f.site + "x", Cred: admin, Status: 404},
		{Name: "other site (admin)", Method: "GET", Path: listPath + "?siteId=" + f.otherSite, Cred: admin, Status: 200,
			Want: map[string]any{"webhooks.0.name": "elsewhere"}, Absent: []string{"webhooks.1"}},
		{Name: "missing siteId", Method: "GET", Path: listPath, Cred: admin, Status: 400, Want: map[string]any{"error": "Missing required parameter: siteId"}},
		{Name: "missing siteId, no credential: guard first", Method: "GET", Path: listPath, Status: 401},
		{Name: "site id that cannot exist", Method: "GET", Path: listPath + "?siteId=__x__", Cred: admin, Status: 404},
		{Name: "siteId not UTF-8", Method: "GET", Path: listPath + "?siteId=%FF", Cred: admin, Status: 400},
	})

	empty := testenv.UniqueID("empty-")
	f.Env.Site(empty, "")
	if r := f.Do("GET", listPath+"?siteId="+empty, admin, nil, nil); r.StatusCode != 200 || string(r.Raw) != `{"success":true,"webhooks":[]}` {
		t.Errorf("empty site: %d %s", r.StatusCode, r.Raw)
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	admin := apptest.WithCookie(f.admin.Cookie())
	mine := f.hook(t, f.site, nil)
	theirs := f.hook(t, f.otherSite, nil)
	del := func(site, id string) string { return listPath + "?siteId=" + site + "&webhookId=" + id }
	exists := func(path string, want bool) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, _ *apptest.Response) {
			if got := f.Doc(path) != nil; got != want {
				t.Errorf("%s exists: %v, want %v", path, got, want)
			}
		}
	}
	f.Run(t, []apptest.Scenario{
		{Name: "missing webhookId", Method: "DELETE", Path: listPath + "?siteId=" + f.site, Cred: admin, Status: 400},
		{Name: "missing siteId", Method: "DELETE", Path: listPath + "?webhookId=" + mine, Cred: admin, Status: 400, Check: exists(f.hooksOf(f.site)+"/"+mine, true)},
		{Name: "unknown site", Method: "DELETE", Path: del("no-such-site", mine), Cred: admin, Status: 404},
		// The id is looked up under the named site only.
		{Name: "another site's id under this site", Method: "DELETE", Path: del(f.site, theirs), Cred: admin, Status: 200, Check: exists(f.hooksOf(f.otherSite)+"/"+theirs, true)},
		{Name: "delete", Method: "DELETE", Path: del(f.site, mine), Cred: admin, Status: 200, Want: map[string]any{"success": true}, Check: exists(f.hooksOf(f.site)+"/"+mine, false)},
		{Name: "again: idempotent", Method: "DELETE", Path: del(f.site, mine), Cred: admin, Status: 200, Want: map[string]any{"success": true}},
		{Name: "id that cannot name a document", Method: "DELETE", Path: del(f.site, "__x__"), Cred: admin, Status: 200},
		{Name: "id with a slash", Method: "DELETE", Path: del(f.site, "a%2Fb"), Cred: admin, Status: 200},
		{Name: "id with dots", Method: "DELETE", Path: del(f.site, ".."), Cred: admin, Status: 200},
	})
}

// receiver is a loopback webhook target answering status; tests check the
// signatures themselves against the secret E45 returned.
func receiver(t *testing.T, status int) *webhooktest.Receiver {
	r := webhooktest.New(t, "")
	r.Respond(status)
	return r
}

func TestTestSend(t *testing.T) {
	f := newFixture(t)
	// Before the first E47 request: the client is made once, on first use.
	f.D.Config.WebhookAllowLoopback = true
	admin := apptest.WithAPIKey(f.admin.APIKey())
	ok := receiver(t, 204)
	failing := receiver(t, 500)

	// Created through E45, as an admin would.
	r := f.Do("POST", listPath, admin, createBody(f.site, "url", ok.URL+"/owlette"), nil)
	if r.StatusCode != 200 {
		t.Fatalf("create: %d %s", r.StatusCode, r.Raw)
	}
	id, secret, signing := r.JSON["webhookId"].(string), r.JSON["secret"].(string), r.JSON["signingSecret"].(string)
	path := f.hooksOf(f.site) + "/" + id
	// A disabled webhook with failures can be tested; neither changes.
	if _, err := f.FS.Doc(path).Update(context.Background(), []firestore.Update{{Path: "enabled", Value: false}, {Path: "failCount", Value: 4}}); err != nil {
		t.Fatal(err)
	}

	t.Run("generic target: both signatures verify", func(t *testing.T) {
		r := f.Do("POST", testPath, admin, map[string]any{"webhookId": id, "siteId": f.site}, nil)
		if r.StatusCode != 200 || string(r.Raw) != `{"status":204,"success":true}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		got := ok.Deliveries()
		if len(got) != 1 {
			t.Fatalf("%d deliveries", len(got))
		}
		d := got[0]
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(d.Body)
		if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); d.Header.Get("X-owlette-Signature") != want {
			t.Errorf("X-owlette-Signature %q, want %q", d.Header.Get("X-owlette-Signature"), want)
		}
		if d.Header.Get("X-owlette-Event") != "test" || d.Header.Get("User-Agent") != "owlette-Webhooks/1.0" || d.Path != "/owlette" {
			t.Errorf("headers %v path %s", d.Header, d.Path)
		}
		wh, err := standardwebhooks.NewWebhook(signing)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(d.Body, d.Header); err != nil {
			t.Errorf("Standard Webhooks signature: %v", err)
		}
		var body struct {
			Event string
			Site  map[string]string
			Data  map[string]any
		}
		if err := json.Unmarshal(d.Body, &body); err != nil || body.Event != "process.crashed" ||
			!reflect.DeepEqual(body.Site, map[string]string{"id": "test", "name": "Test Site"}) ||
			body.Data["details"] != "This is a test webhook from owlette." {
			t.Errorf("body %s", d.Body)
		}
		doc := f.Doc(path)
		if lt, ok := doc["lastTriggered"].(time.Time); !ok || time.Since(lt) > time.Minute {
			t.Errorf("lastTriggered %v", doc["lastTriggered"])
		}
		if doc["lastStatus"] != int64(204) || doc["failCount"] != int64(4) || doc["enabled"] != false {
			t.Errorf("bookkeeping %v: only lastTriggered and lastStatus may change", doc)
		}
		// Each test send is its own message.
		f.Do("POST", testPath, admin, map[string]any{"webhookId": id, "siteId": f.site}, nil)
		if got := ok.Deliveries(); len(got) != 2 || got[0].Header.Get("webhook-id") == got[1].Header.Get("webhook-id") {
			t.Errorf("webhook-id repeated across test sends")
		}
	})

	t.Run("target answering 500", func(t *testing.T) {
		hid := f.hook(t, f.site, map[string]any{"url": failing.URL, "failCount": 2})
		r := f.Do("POST", testPath, admin, map[string]any{"webhookId": hid, "siteId": f.site}, nil)
		if r.StatusCode != 200 || string(r.Raw) != `{"status":500,"success":false}` {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if doc := f.Doc(f.hooksOf(f.site) + "/" + hid); doc["lastStatus"] != int64(500) || doc["failCount"] != int64(2) {
			t.Errorf("bookkeeping %v", doc)
		}
	})

	t.Run("Slack URL: platform body, unsigned", func(t *testing.T) {
		hid := f.hook(t, f.site, map[string]any{"url": ok.URL + "/hooks.slack.com/services/T/B/x"})
		if r := f.Do("POST", testPath, admin, map[string]any{"webhookId": hid, "siteId": f.site}, nil); r.JSON["success"] != true {
			t.Fatalf("%s", r.Raw)
		}
		got := ok.Deliveries()
		d := got[len(got)-1]
		if d.Header.Get("X-owlette-Signature") != "" || d.Header.Get("webhook-signature") != "" || !strings.Contains(string(d.Body), `"blocks":`) {
			t.Errorf("slack delivery: %v %s", d.Header, d.Body)
		}
	})

	t.Run("unreachable target: status 0 with the error", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "http://" + ln.Addr().String() + "/gone"
		ln.Close()
		hid := f.hook(t, f.site, map[string]any{"url": closed, "lastStatus": 200})
		r := f.Do("POST", testPath, admin, map[string]any{"webhookId": hid, "siteId": f.site}, nil)
		if r.StatusCode != 200 || r.JSON["success"] != false || r.JSON["status"] != float64(0) || r.JSON["error"] == nil {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if strings.Contains(r.JSON["error"].(string), ln.Addr().String()+"/gone") {
			t.Errorf("error repeats the URL: %v", r.JSON["error"])
		}
		if doc := f.Doc(f.hooksOf(f.site) + "/" + hid); doc["lastStatus"] != int64(0) {
			t.Errorf("lastStatus %v", doc["lastStatus"])
		}
	})

	t.Run("non-public target stored behind the API's back is refused when connecting", func(t *testing.T) {
		for _, u := range []string{"https://10.1.2.3/hook", "https://169.254.169.254/latest/meta-data", "http://192.168.0.1/admin"} {
			hid := f.hook(t, f.site, map[string]any{"url": u})
			r := f.Do("POST", testPath, admin, map[string]any{"webhookId": hid, "siteId": f.site}, nil)
			if r.StatusCode != 200 || r.JSON["success"] != false || r.JSON["status"] != float64(0) || r.JSON["error"] == nil {
				t.Errorf("%s: %d %s", u, r.StatusCode, r.Raw)
			}
		}
	})

	f.Run(t, []apptest.Scenario{
		{Name: "unknown webhook", Method: "POST", Path: testPath, Cred: admin, Body: map[string]any{"webhookId": "nope", "siteId": f.site}, Status: 404, Want: map[string]any{"error": "Webhook not found"}},
		{Name: "webhook of another site", Method: "POST", Path: testPath, Cred: admin, Body: map[string]any{"webhookId": id, "siteId": f.otherSite}, Status: 404},
		{Name: "unknown site", Method: "POST", Path: testPath, Cred: admin, Body: map[string]any{"webhookId": id, "siteId": "no-such-site"}, Status: 404},
		{Name: "ids that cannot exist", Method: "POST", Path: testPath, Cred: admin, Body: map[string]any{"webhookId": "a/b", "siteId": "__x__"}, Status: 404},
		{Name: "missing webhookId", Method: "POST", Path: testPath, Cred: admin, Body: map[string]any{"siteId": f.site}, Status: 400},
		{Name: "missing siteId", Method: "POST", Path: testPath, Cred: admin, Body: map[string]any{"webhookId": id}, Status: 400},
		{Name: "webhookId not a string", Method: "POST", Path: testPath, Cred: admin, Body: map[string]any{"webhookId": 7, "siteId": f.site}, Status: 400},
		{Name: "empty body", Method: "POST", Path: testPath, Cred: admin, Status: 400},
		{Name: "malformed", Method: "POST", Path: testPath, Cred: admin, Body: apptest.Raw(`{"webhookId"`), Status: 400},
		{Name: "oversized id", Method: "POST", Path: testPath, Cred: admin, Body: map[string]any{"webhookId": strings.Repeat("w", 1501), "siteId": f.site}, Status: 400},
		{Name: "wrong method", Method: "GET", Path: testPath, Cred: admin, Status: 405},
	})
}

// Without AllowLoopback (production), a loopback target written straight
// into Firestore is refused by the delivery client: the receiver is never
// called.
func TestTestSendRefusesLoopbackInProduction(t *testing.T) {
	f := newFixture(t)
	rcv := receiver(t, 200)
	hid := f.hook(t, f.site, map[string]any{"url": rcv.URL + "/x"})
	r := f.Do("POST", testPath, apptest.WithCookie(f.admin.Cookie()), map[string]any{"webhookId": hid, "siteId": f.site}, nil)
	if r.StatusCode != 200 || r.JSON["success"] != false || r.JSON["status"] != float64(0) || r.JSON["error"] == nil {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	if n := len(rcv.Deliveries()); n != 0 {
		t.Errorf("loopback receiver called %d times", n)
	}
	if doc := f.Doc(f.hooksOf(f.site) + "/" + hid); doc["lastStatus"] != int64(0) {
		t.Errorf("lastStatus %v", doc["lastStatus"])
	}
}

// What each route costs in Firestore RPCs after the guard's own reads.
func TestCost(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.admin.Cookie())
	f.hook(t, f.site, nil)
	measure := func(name, method, path string, body any) map[string]int {
		f.RPCs.Reset()
		if r := f.Do(method, path, cookie, body, nil); r.StatusCode != 200 {
			t.Fatalf("%s: %d %s", name, r.StatusCode, r.Raw)
		}
		s := f.RPCs.Snapshot()
		t.Logf("%s: %v", name, s)
		return s
	}
	// Guard, first request: session record + user in one batched read; then
	// the site.
	if s := measure("list", "GET", listPath+"?siteId="+f.site, nil); s["BatchGetDocuments"] != 2 || s["RunQuery"] != 1 || f.RPCs.Writes() != 0 {
		t.Errorf("list: want 2 batched gets, 1 query, no write: %v", s)
	}
	// Then the guard finds them in the instance's memory (shared/guard).
	s := measure("create", "POST", listPath, createBody(f.site))
	if s["BatchGetDocuments"] != 0 || s["RunQuery"] != 0 || s["Commit"] != 1 {
		t.Errorf("create: want no read and 1 commit: %v", s)
	}
}
