package utilities_test

import (
	"context"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/owlette/server/functions/utilities"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/email"
	"github.com/owlette/server/shared/email/resendfake"
	"github.com/owlette/server/shared/session"
)

const (
	testEmailPath   = "/api/test-email"
	userCreatedPath = "/api/webhooks/user-created"
	emailConfigPath = "/api/admin/email/config"
	adminAddress    = "ops@example.test"
	resendKey       = "re_test_key"
)

// mailEnv is the utilities group with e-mail configured against a local
// Resend fake. The configuration is set before the first request: the
// sender is made once per instance, on first use.
func mailEnv(t *testing.T) (*apptest.Env, *resendfake.Server) {
	t.Helper()
	fake, err := resendfake.Start("127.0.0.1:0", resendfake.WithAPIKey(resendKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	e := apptest.New(t, utilities.Register)
	e.D.Config.ResendBaseURL = fake.URL()
	e.D.Config.ResendAPIKey = resendKey
	e.D.Config.ResendFrom = "alerts@owlette.test"
	e.D.Config.AdminEmail = adminAddress
	return e, fake
}

// sent summarises the fake's mails as "subject → to | cc", in order.
func sent(fake *resendfake.Server) []string {
	var out []string
	for _, m := range fake.Messages() {
		s := m.Subject + " → " + strings.Join(m.To, ",")
		if len(m.CC) > 0 {
			s += " | " + strings.Join(m.CC, ",")
		}
		out = append(out, s)
	}
	return out
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestTestEmail(t *testing.T) {
	e, fake := mailEnv(t)
	admin, member := e.Admin(), e.Member("site-a")
	key := admin.APIKey()
	cookie := apptest.WithCookie(admin.Cookie())
	none := func(t *testing.T, _ *apptest.Response) {
		if n := len(fake.Messages()); n != 0 {
			t.Errorf("%d mails sent by a refused request", n)
		}
	}
	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "POST", Path: testEmailPath, Status: 401, Check: none},
		{Name: "forged bearer", Method: "POST", Path: testEmailPath, Cred: apptest.WithBearer("a.b.c"), Status: 401, Check: none},
		{Name: "unknown API key", Method: "POST", Path: testEmailPath, Cred: apptest.WithAPIKey("owk_nopenopenopenopenopenopenopenopenopenopenope"), Status: 401, Check: none},
		{Name: "API key in the query", Method: "POST", Path: testEmailPath + "?api_key=" + key, Status: 400, Check: none},
		{Name: "member cookie", Method: "POST", Path: testEmailPath, Cred: apptest.WithCookie(member.Cookie()), Status: 403, Check: none},
		{Name: "member API key", Method: "POST", Path: testEmailPath, Cred: apptest.WithAPIKey(member.APIKey()), Status: 403, Check: none},
		{Name: "member ID token", Method: "POST", Path: testEmailPath, Cred: apptest.WithBearer(member.IDToken()), Status: 403, Check: none},
		{Name: "admin with MFA pending", Method: "POST", Path: testEmailPath, Cred: apptest.WithCookie(admin.CookieWith(session.MFAPending)), Status: 403, Want: map[string]any{"mfaRequired": true}, Check: none},
		{Name: "agent token", Method: "POST", Path: testEmailPath, Cred: apptest.WithBearer(e.AgentToken("site-a", "m1")), Status: 403, Check: none},
		{Name: "bad addresses, no credential: guard first", Method: "POST", Path: testEmailPath, Body: map[string]any{"to": 5}, Status: 401},
	})

	t.Run("admins with every credential; no body: the test mail to the admin", func(t *testing.T) {
		for name, cred := range map[string]apptest.Cred{"cookie": cookie, "API key": apptest.WithAPIKey(key), "ID token": apptest.WithBearer(admin.IDToken())} {
			fake.Reset()
			r := e.Do("POST", testEmailPath, cred, nil, nil)
			if r.StatusCode != 200 {
				t.Fatalf("%s: %d %s", name, r.StatusCode, r.Raw)
			}
			msgs := fake.Messages()
			if got := sent(fake); !reflect.DeepEqual(got, []string{"[DEVELOPMENT] owlette test email → " + adminAddress}) {
				t.Fatalf("%s: sent %v", name, got)
			}
			if want := []string{"emailId", "environment", "from", "message", "success", "template", "timestamp", "to"}; !reflect.DeepEqual(keys(r.JSON), want) {
				t.Errorf("%s: fields %v, want exactly %v", name, keys(r.JSON), want)
			}
			want := map[string]any{"success": true, "emailId": msgs[0].ID, "template": "test", "from": "alerts@owlette.test",
				"to": []any{adminAddress}, "environment": "DEVELOPMENT", "timestamp": email.NewYorkTimestamp(e.Clock.Now())}
			for k, v := range want {
				if !reflect.DeepEqual(r.JSON[k], v) {
					t.Errorf("%s: %s = %v, want %v", name, k, r.JSON[k], v)
				}
			}
			if msgs[0].From != "alerts@owlette.test" || msgs[0].Headers["List-Unsubscribe"] != "" {
				t.Errorf("%s: from %q headers %v", name, msgs[0].From, msgs[0].Headers)
			}
		}
	})

	t.Run("every template: the documented preview", func(t *testing.T) {
		for _, tmpl := range email.SampleTemplates {
			fake.Reset()
			r := e.Do("POST", testEmailPath, cookie, map[string]any{"template": tmpl, "to": "qa@example.test"}, nil)
			if r.StatusCode != 200 || r.JSON["template"] != tmpl {
				t.Fatalf("%s: %d %s", tmpl, r.StatusCode, r.Raw)
			}
			wantMail, _ := email.Sample(tmpl, email.SampleOptions{Env: "DEVELOPMENT", Now: e.Clock.Now()})
			if got := sent(fake); !reflect.DeepEqual(got, []string{wantMail.Subject + " → qa@example.test"}) {
				t.Errorf("%s: sent %v", tmpl, got)
			}
		}
		fake.Reset()
		e.Do("POST", testEmailPath, cookie, map[string]any{"template": "process_crash"}, nil)
		if got := sent(fake); !reflect.DeepEqual(got, []string{"[TEST] Process crashed: TouchDesigner on MEDIA-SERVER-01 → " + adminAddress}) {
			t.Errorf("process_crash preview: %v", got)
		}
	})

	t.Run("unknown template: the generic test mail", func(t *testing.T) {
		fake.Reset()
		r := e.Do("POST", testEmailPath, cookie, map[string]any{"template": "nope"}, nil)
		if r.StatusCode != 200 || r.JSON["template"] != "test" || len(sent(fake)) != 1 || !strings.HasSuffix(sent(fake)[0], "owlette test email → "+adminAddress) {
			t.Errorf("%d %s %v", r.StatusCode, r.Raw, sent(fake))
		}
	})

	t.Run("to and cc lists", func(t *testing.T) {
		fake.Reset()
		r := e.Do("POST", testEmailPath, cookie, map[string]any{
			"to": []any{"a@example.test", " b@example.test ", "A@example.test"},
			"cc": []any{"c@example.test", "b@example.test", "c@example.test"},
		}, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if !reflect.DeepEqual(r.JSON["to"], []any{"a@example.test", "b@example.test"}) || !reflect.DeepEqual(r.JSON["cc"], []any{"c@example.test"}) {
			t.Errorf("to %v cc %v", r.JSON["to"], r.JSON["cc"])
		}
		if got := sent(fake); !reflect.DeepEqual(got, []string{"[DEVELOPMENT] owlette test email → a@example.test,b@example.test | c@example.test"}) {
			t.Errorf("sent %v", got)
		}
		fake.Reset()
		r = e.Do("POST", testEmailPath, cookie, map[string]any{"to": "", "cc": "x@example.test"}, nil)
		if r.StatusCode != 200 || !reflect.DeepEqual(sent(fake), []string{"[DEVELOPMENT] owlette test email → " + adminAddress + " | x@example.test"}) {
			t.Errorf("empty to: %d %s %v", r.StatusCode, r.Raw, sent(fake))
		}
	})

	t.Run("a body that is not JSON counts as none", func(t *testing.T) {
		for _, raw := range []string{`{`, `[1,2]`, `"x"`, ``} {
			fake.Reset()
			if r := e.Do("POST", testEmailPath, cookie, apptest.Raw(raw), nil); r.StatusCode != 200 || len(sent(fake)) != 1 || !strings.HasSuffix(sent(fake)[0], adminAddress) {
				t.Errorf("%q: %d %s %v", raw, r.StatusCode, r.Raw, sent(fake))
			}
		}
	})

	eleven := make([]any, 11)
	for i := range eleven {
		eleven[i] = string(rune('a'+i)) + "@example.test"
	}
	bad := func(name string, body any, status int) apptest.Scenario {
		return apptest.Scenario{Name: name, Method: "POST", Path: testEmailPath, Cred: cookie, Body: body, Status: status, Check: func(t *testing.T, r *apptest.Response) {
			if n := len(fake.Messages()); n != 0 {
				t.Errorf("%d mails sent", n)
			}
		}}
	}
	fake.Reset()
	e.Run(t, []apptest.Scenario{
		bad("to a number", map[string]any{"to": 5}, 400),
		bad("to an object", map[string]any{"to": map[string]any{"a": "b"}}, 400),
		bad("to not an address", map[string]any{"to": "not-an-address"}, 400),
		bad("to with a display name", map[string]any{"to": "Eve <eve@example.test>"}, 400),
		bad("to with a line break", map[string]any{"to": "a@example.test\r\nBcc: x@example.test"}, 400),
		bad("to a list with a bad entry", map[string]any{"to": []any{"a@example.test", "b"}}, 400),
		bad("to a list with a number", map[string]any{"to": []any{"a@example.test", 1}}, 400),
		bad("11 addresses", map[string]any{"to": eleven}, 400),
		bad("cc not an address", map[string]any{"cc": []any{"@example.test"}}, 400),
		bad("11 cc addresses", map[string]any{"cc": eleven}, 400),
		bad("address longer than 254 bytes", map[string]any{"to": strings.Repeat("a", 250) + "@example.test"}, 400),
		bad("template not a string", map[string]any{"template": 3}, 400),
		bad("oversized body", map[string]any{"template": strings.Repeat("x", 2<<20)}, 413),
	})

	t.Run("Resend error: 500 with details", func(t *testing.T) {
		fake.Reset()
		fake.FailNext(1, http.StatusUnprocessableEntity)
		r := e.Do("POST", testEmailPath, cookie, nil, nil)
		if r.StatusCode != 500 || r.JSON["success"] != false || r.JSON["error"] == "" || r.JSON["details"] == nil || r.JSON["details"] == "" {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("not configured: 500 before the body", func(t *testing.T) {
		fake.Reset()
		e.D.Config.AdminEmail = ""
		r := e.Do("POST", testEmailPath, cookie, map[string]any{"to": 5}, nil)
		if r.StatusCode != 500 || r.JSON["success"] != false || r.JSON["error"] != "Admin email not configured" {
			t.Errorf("no admin address: %d %s", r.StatusCode, r.Raw)
		}
		e.D.Config.ResendAPIKey = ""
		r = e.Do("POST", testEmailPath, cookie, nil, nil)
		if r.StatusCode != 500 || r.JSON["success"] != false || r.JSON["error"] != "Email service not configured" {
			t.Errorf("no Resend key: %d %s", r.StatusCode, r.Raw)
		}
		// Guard still first.
		if r := e.Do("POST", testEmailPath, apptest.WithCookie(member.Cookie()), nil, nil); r.StatusCode != 403 {
			t.Errorf("member: %d", r.StatusCode)
		}
		if len(fake.Messages()) != 0 {
			t.Error("sent without configuration")
		}
	})
}

func TestUserCreated(t *testing.T) {
	e, fake := mailEnv(t)
	user, other, admin := e.Member("site-a"), e.Member(), e.Admin()
	body := func(u *apptest.User, kv ...any) map[string]any {
		m := map[string]any{"email": u.Email, "displayName": "New Person", "authMethod": "google", "createdAt": "2026-05-06T07:08:09.000Z"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	cookie := apptest.WithCookie(user.Cookie())
	none := func(t *testing.T, _ *apptest.Response) {
		if n := len(fake.Messages()); n != 0 {
			t.Errorf("%d mails sent by a refused request", n)
		}
	}
	// A signed-in user without a users document.
	ghost := e.Member()
	if _, err := e.FS.Collection("users").Doc(ghost.UID).Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	signup := "[DEVELOPMENT] new owlette user signup → " + adminAddress
	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "POST", Path: userCreatedPath, Body: body(user), Status: 401, Check: none},
		{Name: "forged bearer", Method: "POST", Path: userCreatedPath, Cred: apptest.WithBearer("a.b.c"), Body: body(user), Status: 401, Check: none},
		{Name: "API key (not accepted here)", Method: "POST", Path: userCreatedPath, Cred: apptest.WithAPIKey(admin.APIKey()), Body: body(admin), Status: 401, Check: none},
		{Name: "API key as bearer", Method: "POST", Path: userCreatedPath, Cred: apptest.WithBearer(admin.APIKey()), Body: body(admin), Status: 401, Check: none},
		{Name: "MFA pending session", Method: "POST", Path: userCreatedPath, Cred: apptest.WithCookie(user.CookieWith(session.MFAPending)), Body: body(user), Status: 403, Want: map[string]any{"mfaRequired": true}, Check: none},
		{Name: "agent token (no user document)", Method: "POST", Path: userCreatedPath, Cred: apptest.WithBearer(e.AgentToken("site-a", "m1")), Body: body(user), Status: 403, Check: none},
		{Name: "someone else's address", Method: "POST", Path: userCreatedPath, Cred: cookie, Body: body(other), Status: 403, Want: map[string]any{"error": "Forbidden: email does not match the signed-in user"}, Check: none},
		{Name: "address in another case", Method: "POST", Path: userCreatedPath, Cred: cookie, Body: body(user, "email", strings.ToUpper(user.Email)), Status: 403, Check: none},
		{Name: "no users document", Method: "POST", Path: userCreatedPath, Cred: apptest.WithCookie(ghost.Cookie()), Body: body(ghost), Status: 403, Check: none},
		{Name: "no users document, ID token", Method: "POST", Path: userCreatedPath, Cred: apptest.WithBearer(ghost.IDToken()), Body: body(ghost), Status: 403, Check: none},
		{Name: "empty body", Method: "POST", Path: userCreatedPath, Cred: cookie, Status: 400, Check: none},
		{Name: "malformed", Method: "POST", Path: userCreatedPath, Cred: cookie, Body: apptest.Raw(`{"email"`), Status: 400, Check: none},
		{Name: "missing email", Method: "POST", Path: userCreatedPath, Cred: cookie, Body: body(user, "email", nil), Status: 400, Check: none},
		{Name: "missing displayName", Method: "POST", Path: userCreatedPath, Cred: cookie, Body: body(user, "displayName", ""), Status: 400, Check: none},
		{Name: "missing authMethod", Method: "POST", Path: userCreatedPath, Cred: cookie, Body: body(user, "authMethod", nil), Status: 400, Check: none},
		{Name: "createdAt not a string", Method: "POST", Path: userCreatedPath, Cred: cookie, Body: body(user, "createdAt", 5), Status: 400, Check: none},
		{Name: "displayName too long", Method: "POST", Path: userCreatedPath, Cred: cookie, Body: body(user, "displayName", strings.Repeat("n", 9000)), Status: 400, Check: none},
		{Name: "bad body, no credential: guard first", Method: "POST", Path: userCreatedPath, Body: apptest.Raw(`{`), Status: 401},
		{Name: "session", Method: "POST", Path: userCreatedPath, Cred: cookie, Body: body(user), Status: 200,
			Check: func(t *testing.T, r *apptest.Response) {
				if string(r.Raw) != `{"adminEmailSent":true,"environment":"DEVELOPMENT","success":true,"welcomeEmailSent":false}` {
					t.Errorf("body %s", r.Raw)
				}
				if got := sent(fake); !reflect.DeepEqual(got, []string{signup}) {
					t.Errorf("sent %v", got)
				}
				if m := fake.Messages()[0]; !strings.Contains(m.Text, user.Email) || !strings.Contains(m.Text, "New Person") {
					t.Errorf("admin mail does not name the user: %s", m.Text)
				}
				fake.Reset()
			}},
		{Name: "ID token", Method: "POST", Path: userCreatedPath, Cred: apptest.WithBearer(user.IDToken()), Body: body(user), Status: 200,
			Want: map[string]any{"adminEmailSent": true}, Check: func(t *testing.T, r *apptest.Response) {
				if got := sent(fake); !reflect.DeepEqual(got, []string{signup}) {
					t.Errorf("sent %v", got)
				}
				fake.Reset()
			}},
	})

	t.Run("welcome mail when configured", func(t *testing.T) {
		fake.Reset()
		e.D.Config.SendWelcomeEmail = true
		defer func() { e.D.Config.SendWelcomeEmail = false }()
		r := e.Do("POST", userCreatedPath, cookie, body(user, "displayName", "<b>Bob</b>"), nil)
		if r.StatusCode != 200 || r.JSON["adminEmailSent"] != true || r.JSON["welcomeEmailSent"] != true {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		got := sent(fake)
		sort.Strings(got)
		if want := []string{signup, "welcome to owlette → " + user.Email}; !reflect.DeepEqual(got, want) {
			t.Errorf("sent %v, want %v", got, want)
		}
		for _, m := range fake.Messages() {
			if strings.Contains(m.HTML, "<b>Bob</b>") {
				t.Errorf("%q: display name not escaped", m.Subject)
			}
		}
	})

	t.Run("a failed send is reported, not an error", func(t *testing.T) {
		fake.Reset()
		fake.FailNext(1, http.StatusUnprocessableEntity)
		r := e.Do("POST", userCreatedPath, cookie, body(user), nil)
		if r.StatusCode != 200 || r.JSON["adminEmailSent"] != false || r.JSON["welcomeEmailSent"] != false {
			t.Errorf("%d %s", r.StatusCode, r.Raw)
		}
	})

	t.Run("not configured: 500 after the ownership check", func(t *testing.T) {
		fake.Reset()
		e.D.Config.AdminEmail = ""
		if r := e.Do("POST", userCreatedPath, cookie, body(user), nil); r.StatusCode != 500 || r.JSON["error"] != "Admin email not configured" {
			t.Errorf("no admin address: %d %s", r.StatusCode, r.Raw)
		}
		e.D.Config.ResendAPIKey = ""
		if r := e.Do("POST", userCreatedPath, cookie, body(user), nil); r.StatusCode != 500 || r.JSON["error"] != "Email service not configured" {
			t.Errorf("no Resend key: %d %s", r.StatusCode, r.Raw)
		}
		if r := e.Do("POST", userCreatedPath, cookie, body(other), nil); r.StatusCode != 403 {
			t.Errorf("someone else's address: %d, want 403 first", r.StatusCode)
		}
		if len(fake.Messages()) != 0 {
			t.Error("sent without configuration")
		}
	})
}

func TestEmailConfig(t *testing.T) {
	e, _ := mailEnv(t)
	admin, member := e.Admin(), e.Member()
	key := admin.APIKey()
	full := `{"adminEmail":"ops@example.test","adminEmailConfigured":true,"apiKeyConfigured":true,"environment":"DEVELOPMENT","fromEmail":"alerts@owlette.test","provider":"Resend"}`
	exact := func(want string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			if string(r.Raw) != want {
				t.Errorf("body %s, want %s", r.Raw, want)
			}
			if strings.Contains(string(r.Raw), resendKey) {
				t.Error("the API key leaked")
			}
		}
	}
	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "GET", Path: emailConfigPath, Status: 401},
		{Name: "forged bearer", Method: "GET", Path: emailConfigPath, Cred: apptest.WithBearer("a.b.c"), Status: 401},
		{Name: "unknown API key", Method: "GET", Path: emailConfigPath, Cred: apptest.WithAPIKey("owk_nopenopenopenopenopenopenopenopenopenopenope"), Status: 401},
		{Name: "API key in the query", Method: "GET", Path: emailConfigPath + "?api_key=" + key, Status: 400},
		{Name: "member cookie", Method: "GET", Path: emailConfigPath, Cred: apptest.WithCookie(member.Cookie()), Status: 403},
		{Name: "member API key", Method: "GET", Path: emailConfigPath, Cred: apptest.WithAPIKey(member.APIKey()), Status: 403},
		{Name: "admin with MFA pending", Method: "GET", Path: emailConfigPath, Cred: apptest.WithCookie(admin.CookieWith(session.MFAPending)), Status: 403},
		{Name: "agent token", Method: "GET", Path: emailConfigPath, Cred: apptest.WithBearer(e.AgentToken("site-a", "m1")), Status: 403},
		{Name: "admin cookie", Method: "GET", Path: emailConfigPath, Cred: apptest.WithCookie(admin.Cookie()), Status: 200, Check: exact(full)},
		{Name: "admin API key", Method: "GET", Path: emailConfigPath, Cred: apptest.WithAPIKey(key), Status: 200, Check: exact(full)},
		{Name: "admin ID token", Method: "GET", Path: emailConfigPath, Cred: apptest.WithBearer(admin.IDToken()), Status: 200, Check: exact(full)},
	})
	e.D.Config.ResendAPIKey, e.D.Config.AdminEmail, e.D.Config.ResendFrom, e.D.Config.Env = "", "", "", "production"
	e.Run(t, []apptest.Scenario{{Name: "nothing configured", Method: "GET", Path: emailConfigPath, Cred: apptest.WithAPIKey(key), Status: 200,
		Check: exact(`{"adminEmail":null,"adminEmailConfigured":false,"apiKeyConfigured":false,"environment":"PRODUCTION","fromEmail":"onboarding@resend.dev","provider":"Resend"}`)}})
}
