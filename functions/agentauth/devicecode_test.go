package agentauth

import (
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/pairphrase"
	"github.com/owlette/server/shared/session"
)

const (
	devicePath    = "/api/agent/auth/device-code"
	authorizePath = "/api/agent/auth/device-code/authorize"
	pollPath      = "/api/agent/auth/device-code/poll"
)

var secretFormat = regexp.MustCompile(`^[A-Za-z0-9_-]{86}$`)

func TestDeviceCode(t *testing.T) {
	f := newFixture(t)
	created := func(machine, version any) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			phrase, _ := r.JSON["pairPhrase"].(string)
			if p, ok := pairphrase.Normalize(phrase); !ok || p != phrase {
				t.Fatalf("phrase %q", phrase)
			}
			code, _ := r.JSON["deviceCode"].(string)
			if !secretFormat.MatchString(code) {
				t.Errorf("device code %q", code)
			}
			if r.JSON["verificationUri"] != "https://example.com/add" || r.JSON["pairingUrl"] != "https://example.com/add?code="+phrase {
				t.Errorf("urls %v %v", r.JSON["verificationUri"], r.JSON["pairingUrl"])
			}
			d := f.Doc("device_codes/" + phrase)
			keys := make([]string, 0, len(d))
			for k := range d {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			want := []string{"accessToken", "authorizedAt", "authorizedBy", "createdAt", "deviceCodeHash", "expiresAt", "machineId", "refreshToken", "siteId", "status", "version"}
			if !slices.Equal(keys, want) {
				t.Errorf("fields %v, want %v", keys, want)
			}
			if d["deviceCodeHash"] != agenttoken.Hash(code) || d["status"] != "pending" || d["machineId"] != machine || d["version"] != version ||
				d["siteId"] != nil || d["authorizedBy"] != nil || d["authorizedAt"] != nil || d["accessToken"] != nil || d["refreshToken"] != nil || !isTime(d["createdAt"]) {
				t.Errorf("doc %v", d)
			}
			if exp, _ := d["expiresAt"].(time.Time); !exp.Equal(f.Clock.Now().Add(10 * time.Minute)) {
				t.Errorf("expiresAt %v", d["expiresAt"])
			}
			if strings.Contains(string(r.Raw), agenttoken.Hash(code)) {
				t.Error("hash leaked")
			}
		}
	}
	f.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: devicePath, Status: 400},
		{Name: "malformed", Method: "POST", Path: devicePath, Body: apptest.Raw("{"), Status: 400},
		{Name: "null", Method: "POST", Path: devicePath, Body: apptest.Raw("null"), Status: 400},
		{Name: "array", Method: "POST", Path: devicePath, Body: apptest.Raw("[]"), Status: 400},
		{Name: "string", Method: "POST", Path: devicePath, Body: apptest.Raw(`"hi"`), Status: 400},
		{Name: "machineId not a string", Method: "POST", Path: devicePath, Body: map[string]any{"machineId": 5}, Status: 400},
		{Name: "version not a string", Method: "POST", Path: devicePath, Body: map[string]any{"version": true}, Status: 400},
		{Name: "machineId too long", Method: "POST", Path: devicePath, Body: map[string]any{"machineId": strings.Repeat("h", 256)}, Status: 400},
		{Name: "version too long", Method: "POST", Path: devicePath, Body: map[string]any{"version": strings.Repeat("1", 101)}, Status: 400},
		{Name: "huge body", Method: "POST", Path: devicePath, Body: apptest.Raw(`{"machineId":"` + strings.Repeat("a", 2<<20) + `"}`), Status: 413},
		{Name: "empty object (dashboard /ADD=)", Method: "POST", Path: devicePath, Body: map[string]any{}, Status: 200,
			Want: map[string]any{"expiresIn": 600, "interval": 5}, Check: created(nil, nil)},
		{Name: "agent", Method: "POST", Path: devicePath, Body: map[string]any{"machineId": "DESKTOP-7", "version": "2.3.0"}, Status: 200, Check: created("DESKTOP-7", "2.3.0")},
		{Name: "nulls and empty strings", Method: "POST", Path: devicePath, Body: map[string]any{"machineId": nil, "version": ""}, Status: 200, Check: created(nil, nil)},
		{Name: "credentials are irrelevant", Method: "POST", Path: devicePath, Cred: apptest.WithBearer(f.agentToken("x")), Body: map[string]any{}, Status: 200},
		{Name: "localhost is http", Method: "POST", Path: devicePath, Header: map[string]string{"X-Forwarded-Host": "localhost:3000"}, Body: map[string]any{}, Status: 200,
			Want: map[string]any{"verificationUri": "http://localhost:3000/add"}},
		{Name: "forwarded host", Method: "POST", Path: devicePath, Header: map[string]string{"X-Forwarded-Host": "dev.owlette.app, proxy"}, Body: map[string]any{}, Status: 200,
			Want: map[string]any{"verificationUri": "https://dev.owlette.app/add"}},
	})
	t.Run("no host", func(t *testing.T) {
		req := httptest.NewRequest("POST", devicePath, strings.NewReader("{}"))
		req.Host = ""
		rec := httptest.NewRecorder()
		f.H.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"verificationUri":"https://owlette.app/add"`) {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	})
	if n := f.Count("device_codes"); n != 7 {
		t.Errorf("%d device codes, want 7", n)
	}
}

// A phrase is created only if absent; after PhraseDraws taken phrases the
// request fails with 503 and nothing is overwritten.
func TestDeviceCodeCollisions(t *testing.T) {
	f := newFixture(t)
	draws := 0
	h := &handlers{d: f.D, m: agenttoken.New(f.D), phrase: func() (string, error) { draws++; return "oak-ivy-zoo", nil }}
	f.H = buildWith(f, h)
	first := f.Do("POST", devicePath, nil, map[string]any{"machineId": "FIRST"}, nil)
	if first.StatusCode != 200 || draws != 1 {
		t.Fatalf("%d %s after %d draws", first.StatusCode, first.Raw, draws)
	}
	draws = 0
	r := f.Do("POST", devicePath, nil, map[string]any{"machineId": "SECOND"}, nil)
	if r.StatusCode != 503 || draws != PhraseDraws || r.JSON["error"] == nil {
		t.Fatalf("%d %s after %d draws", r.StatusCode, r.Raw, draws)
	}
	if d := f.Doc("device_codes/oak-ivy-zoo"); d["machineId"] != "FIRST" {
		t.Errorf("existing phrase overwritten: %v", d)
	}
}

func TestAuthorize(t *testing.T) {
	f := newFixture(t)
	start := func(body map[string]any) string {
		t.Helper()
		r := f.Do("POST", devicePath, nil, body, nil)
		if r.StatusCode != 200 {
			t.Fatalf("device-code: %d %s", r.StatusCode, r.Raw)
		}
		return r.JSON["pairPhrase"].(string)
	}
	phrase := start(map[string]any{"machineId": "KIOSK-1", "version": "2.0.1"})
	blank := start(map[string]any{})
	stale := start(map[string]any{})
	f.Clock.Advance(11 * time.Minute)
	fresh := start(map[string]any{"machineId": "KIOSK-2"})
	phrase2 := start(map[string]any{"machineId": "KIOSK-3"})
	f.Clock.Advance(-11 * time.Minute)
	// phrase, blank: created "now"; fresh, phrase2: created 11 min later, so
	// valid at any clock used below; stale: expired once the clock moves on.
	body := func(p string) map[string]any { return map[string]any{"pairPhrase": p, "siteId": f.site} }
	cookie := apptest.WithCookie(f.member.Cookie())
	w := pairphrase.List()
	authorized := func(p, machine string, placeholder bool) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			d := f.Doc("device_codes/" + p)
			if d["status"] != "authorized" || d["siteId"] != f.site || d["authorizedBy"] != f.member.UID || !isTime(d["authorizedAt"]) {
				t.Errorf("doc %v", d)
			}
			access, _ := d["accessToken"].(string)
			refresh, _ := d["refreshToken"].(string)
			if !secretFormat.MatchString(refresh) {
				t.Errorf("refresh %q", refresh)
			}
			bound := machine
			if placeholder {
				bound = "pending_" + strings.ReplaceAll(p, "-", "_")
			}
			f.wantClaims(t, access, f.site, bound, map[bool]string{true: "unknown", false: "2.0.1"}[placeholder])
			rt := f.Doc("agent_refresh_tokens/" + agenttoken.Hash(refresh))
			if rt["machineId"] != bound || rt["createdBy"] != f.member.UID || rt["siteId"] != f.site || rt["agentUid"] != agenttoken.UID(f.site, bound) {
				t.Errorf("refresh doc %v", rt)
			}
		}
	}
	f.Run(t, []apptest.Scenario{
		// Order: body → phrase → session → site → state.
		{Name: "no body", Method: "POST", Path: authorizePath, Status: 400},
		{Name: "malformed", Method: "POST", Path: authorizePath, Cred: cookie, Body: apptest.Raw("{"), Status: 400},
		{Name: "missing phrase", Method: "POST", Path: authorizePath, Body: map[string]any{"siteId": f.site}, Status: 400},
		{Name: "missing siteId", Method: "POST", Path: authorizePath, Body: map[string]any{"pairPhrase": phrase}, Status: 400},
		{Name: "phrase not a string", Method: "POST", Path: authorizePath, Body: map[string]any{"pairPhrase": 3, "siteId": f.site}, Status: 400},
		{Name: "two words", Method: "POST", Path: authorizePath, Body: body(w[0] + "-" + w[1]), Status: 400},
		{Name: "unknown word", Method: "POST", Path: authorizePath, Body: body(w[0] + "-" + w[1] + "-qqqqq"), Status: 400},
		{Name: "four words", Method: "POST", Path: authorizePath, Cred: cookie, Body: body(phrase + "-" + w[0]), Status: 400},
		{Name: "no credential", Method: "POST", Path: authorizePath, Body: body(phrase), Status: 401},
		{Name: "API key", Method: "POST", Path: authorizePath, Cred: apptest.WithAPIKey(f.admn.APIKey()), Body: body(phrase), Status: 401},
		{Name: "ID token", Method: "POST", Path: authorizePath, Cred: apptest.WithBearer(f.member.IDToken()), Body: body(phrase), Status: 401},
		{Name: "agent token of the site", Method: "POST", Path: authorizePath, Cred: apptest.WithBearer(f.agentToken(f.site)), Body: body(phrase), Status: 401},
		{Name: "MFA pending", Method: "POST", Path: authorizePath, Cred: apptest.WithCookie(f.member.CookieWith(session.MFAPending)), Body: body(phrase), Status: 403},
		{Name: "member of another site", Method: "POST", Path: authorizePath, Cred: apptest.WithCookie(f.stranger.Cookie()), Body: body(phrase), Status: 403},
		{Name: "unknown site", Method: "POST", Path: authorizePath, Cred: apptest.WithCookie(f.admn.Cookie()), Body: map[string]any{"pairPhrase": phrase, "siteId": "nowhere"}, Status: 404},
		{Name: "unknown phrase", Method: "POST", Path: authorizePath, Cred: cookie, Body: body(w[5] + "-" + w[6] + "-" + w[7]), Status: 404},
		{Name: "member authorizes (case and spaces normalised)", Method: "POST", Path: authorizePath, Cred: cookie, Body: body("  " + strings.ToUpper(phrase) + " "), Status: 200,
			Want: map[string]any{"success": true, "machineId": "KIOSK-1"}, Check: authorized(phrase, "KIOSK-1", false)},
		{Name: "again", Method: "POST", Path: authorizePath, Cred: cookie, Body: body(phrase), Status: 409},
		{Name: "placeholder for /ADD=", Method: "POST", Path: authorizePath, Cred: cookie, Body: body(blank), Status: 200,
			Want: map[string]any{"success": true, "machineId": nil}, Check: authorized(blank, "", true)},
		{Name: "owner", Method: "POST", Path: authorizePath, Cred: apptest.WithCookie(f.owner.Cookie()), Body: body(fresh), Status: 200},
	})
	f.Clock.Advance(10*time.Minute + time.Second)
	f.Run(t, []apptest.Scenario{
		{Name: "expired phrase is deleted", Method: "POST", Path: authorizePath, Cred: cookie, Body: body(stale), Status: 404,
			Check: func(t *testing.T, _ *apptest.Response) {
				if f.Doc("device_codes/"+stale) != nil {
					t.Error("expired device code not deleted")
				}
			}},
		{Name: "admin", Method: "POST", Path: authorizePath, Cred: apptest.WithCookie(f.admn.Cookie()), Body: body(phrase2), Status: 200},
	})
	if n := f.Count("agent_refresh_tokens"); n != 4 {
		t.Errorf("%d refresh tokens, want 4", n)
	}
}

// Concurrent approvals of one phrase: one mints and commits, the others get
// 409 and leave no refresh token behind.
func TestAuthorizeConcurrent(t *testing.T) {
	f := newFixture(t)
	r := f.Do("POST", devicePath, nil, map[string]any{"machineId": "RACE"}, nil)
	phrase := r.JSON["pairPhrase"].(string)
	rs := f.parallel(6, "POST", authorizePath, apptest.WithCookie(f.member.Cookie()), map[string]any{"pairPhrase": phrase, "siteId": f.site})
	if s := statuses(rs); s[200] != 1 || s[409] != 5 {
		for _, r := range rs {
			t.Logf("%d %s", r.StatusCode, r.Raw)
		}
		t.Fatalf("statuses %v, want one 200 and five 409", s)
	}
	ids := f.docs(t, "agent_refresh_tokens")
	d := f.Doc("device_codes/" + phrase)
	if len(ids) != 1 || ids[0] != agenttoken.Hash(d["refreshToken"].(string)) {
		t.Errorf("refresh tokens %v; the device doc's is %v", ids, agenttoken.Hash(d["refreshToken"].(string)))
	}
}

func TestPoll(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.member.Cookie())
	start := func(body map[string]any) (string, string) {
		t.Helper()
		r := f.Do("POST", devicePath, nil, body, nil)
		return r.JSON["pairPhrase"].(string), r.JSON["deviceCode"].(string)
	}
	authorize := func(p string) {
		t.Helper()
		if r := f.Do("POST", authorizePath, cookie, map[string]any{"pairPhrase": p, "siteId": f.site}, nil); r.StatusCode != 200 {
			t.Fatalf("authorize: %d %s", r.StatusCode, r.Raw)
		}
	}
	pending, pendingCode := start(map[string]any{"machineId": "P"})
	byCode, code := start(map[string]any{"machineId": "C", "version": "3"})
	byPhrase, _ := start(map[string]any{"machineId": "Q"})
	late, _ := start(map[string]any{"machineId": "L"})
	undelivered, _ := start(map[string]any{"machineId": "U"})
	broken, _ := start(map[string]any{"machineId": "B"})
	if _, err := f.FS.Doc("device_codes/"+broken).Set(t.Context(), map[string]any{"status": "authorized", "accessToken": nil, "expiresAt": f.Clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	authorize(byCode)
	authorize(byPhrase)
	authorize(late)
	authorize(undelivered)
	undeliveredRT := f.Doc("device_codes/" + undelivered)["refreshToken"].(string)
	delivered := func(machine string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			f.wantClaims(t, r.JSON["accessToken"].(string), f.site, machine, map[string]string{"C": "3", "Q": "unknown"}[machine])
			if !secretFormat.MatchString(r.JSON["refreshToken"].(string)) {
				t.Errorf("refresh %v", r.JSON["refreshToken"])
			}
			if n, _ := r.JSON["expiresIn"].(float64); n < 3590 || n > 3600 {
				t.Errorf("expiresIn %v", n)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Error("cacheable tokens")
			}
		}
	}
	gone := func(p string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, _ *apptest.Response) {
			if f.Doc("device_codes/"+p) != nil {
				t.Errorf("device_codes/%s still exists", p)
			}
		}
	}
	f.Run(t, []apptest.Scenario{
		{Name: "no body", Method: "POST", Path: pollPath, Status: 400},
		{Name: "malformed", Method: "POST", Path: pollPath, Body: apptest.Raw("{"), Status: 400},
		{Name: "neither field", Method: "POST", Path: pollPath, Body: map[string]any{}, Status: 400},
		{Name: "blank phrase", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": "   "}, Status: 400},
		{Name: "phrase not a string", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": 1}, Status: 400},
		{Name: "deviceCode not a string", Method: "POST", Path: pollPath, Body: map[string]any{"deviceCode": map[string]any{}}, Status: 400},
		{Name: "unknown phrase", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": "no-such-phrase"}, Status: 404},
		{Name: "phrase with a slash", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": "a/b"}, Status: 404},
		{Name: "unknown device code", Method: "POST", Path: pollPath, Body: map[string]any{"deviceCode": "nope"}, Status: 404},
		{Name: "pending by phrase", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": pending}, Status: 202, Want: map[string]any{"status": "pending"}},
		{Name: "pending by device code", Method: "POST", Path: pollPath, Body: map[string]any{"deviceCode": pendingCode}, Status: 202, Want: map[string]any{"status": "pending"}},
		{Name: "invalid state", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": broken}, Status: 400},
		{Name: "authorized, by device code", Method: "POST", Path: pollPath, Body: map[string]any{"deviceCode": code}, Status: 200,
			Want: map[string]any{"siteId": f.site}, Check: func(t *testing.T, r *apptest.Response) { delivered("C")(t, r); gone(byCode)(t, r) }},
		{Name: "delivered once", Method: "POST", Path: pollPath, Body: map[string]any{"deviceCode": code}, Status: 404},
		// Phrase wins over device code; it is cleaned but not word-checked.
		{Name: "authorized, by phrase (upper case)", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": " " + strings.ToUpper(byPhrase), "deviceCode": "ignored"}, Status: 200,
			Check: func(t *testing.T, r *apptest.Response) { delivered("Q")(t, r); gone(byPhrase)(t, r) }},
		{Name: "phrase delivered once", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": byPhrase}, Status: 404},
	})
	// DECISIONS 12.10: 4 minutes after authorize, 56 minutes remain. The
	// token's exp comes from the Auth emulator's wall clock while the test
	// clock started at setup, so allow a minute of drift either way; the
	// constant 3600 of the original still fails.
	f.Clock.Advance(4 * time.Minute)
	r := f.Do("POST", pollPath, nil, map[string]any{"pairPhrase": late}, nil)
	if n, _ := r.JSON["expiresIn"].(float64); r.StatusCode != 200 || n < 3600-240-60 || n > 3600-240+60 {
		t.Errorf("expiresIn 4 min after authorize: %d %v", r.StatusCode, r.JSON["expiresIn"])
	}
	f.Clock.Advance(7 * time.Minute)
	f.Run(t, []apptest.Scenario{
		{Name: "expired", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": pending}, Status: 410, Want: map[string]any{"error": "expired"}, Check: gone(pending)},
		{Name: "expired is gone", Method: "POST", Path: pollPath, Body: map[string]any{"deviceCode": pendingCode}, Status: 404},
		{Name: "expired undelivered tokens are dropped", Method: "POST", Path: pollPath, Body: map[string]any{"pairPhrase": undelivered}, Status: 410,
			Check: func(t *testing.T, r *apptest.Response) {
				gone(undelivered)(t, r)
				if f.Doc("agent_refresh_tokens/"+agenttoken.Hash(undeliveredRT)) != nil {
					t.Error("the never-delivered refresh token is still valid")
				}
			}},
	})
}

// Concurrent polls of an authorized phrase: the tokens go out exactly once.
func TestPollConcurrent(t *testing.T) {
	f := newFixture(t)
	r := f.Do("POST", devicePath, nil, map[string]any{"machineId": "RACE"}, nil)
	phrase := r.JSON["pairPhrase"].(string)
	if a := f.Do("POST", authorizePath, apptest.WithCookie(f.member.Cookie()), map[string]any{"pairPhrase": phrase, "siteId": f.site}, nil); a.StatusCode != 200 {
		t.Fatalf("%d %s", a.StatusCode, a.Raw)
	}
	rs := f.parallel(8, "POST", pollPath, nil, map[string]any{"pairPhrase": phrase})
	if s := statuses(rs); s[200] != 1 || s[404] != 7 {
		t.Fatalf("statuses %v, want one 200 and seven 404", s)
	}
}
