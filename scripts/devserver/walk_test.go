package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/email/resendfake"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/llm/llmfake"
)

// The walkers: tests that send something to every route of every function
// the dev server serves (plus mfa and passkeys), so a route joins them by
// being registered. Each asserts one rule for all routes: pending MFA is
// refused (pending_test.go), bad input never gets a 5xx or silence
// (badinput_test.go), requests without a valid credential cost no write
// (unauth_test.go).

// walkEnv is an isolated project configured like `make dev`: e-mail to a
// fake Resend, LLM calls to fake providers, loopback webhooks allowed, so
// every route can do its whole work and answer for the input it got, not
// for a missing setting.
func walkEnv(t *testing.T) *apptest.Env {
	t.Helper()
	e := apptest.New(t)
	rf, err := resendfake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rf.Close() })
	lf, err := llmfake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	c := e.D.Config
	c.ResendAPIKey, c.ResendBaseURL, c.AdminEmail = "re_walker", rf.URL(), "admin@owlette.test"
	c.AnthropicBaseURL, c.OpenAIBaseURL = lf.AnthropicURL(), lf.OpenAIURL()
	c.WebhookAllowLoopback = true
	// X07's upstream page, on loopback.
	td := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `<a href="https://download.derivative.ca/TouchDesigner.2025.31550.exe">x</a>`)
	}))
	t.Cleanup(td.Close)
	c.TDArchiveURL = td.URL
	return e
}

// walkRoute is one registered route, with a concrete path for it.
type walkRoute struct {
	fn, pattern, method, path string
	wildcards                 []string
	route                     app.Route
	h                         http.Handler
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// allGroups is every HTTP route group the walkers cover: the /api route
// groups and the scheduled functions (which Cloud Scheduler calls at their
// own URL, not under /api), all of functions/registry.
func allGroups() map[string]fn.Spec {
	regs := map[string]fn.Spec{}
	for _, s := range registry.All {
		if s.Kind != fn.Firestore {
			regs[s.Name] = s
		}
	}
	return regs
}

// allRoutes lists every route of allGroups, each served by its group's own
// handler over e, sorted by pattern. It also checks that the routes table
// sends each path to the function that registers it.
func allRoutes(t *testing.T, e *apptest.Env) []walkRoute {
	t.Helper()
	var all []walkRoute
	for name, spec := range allGroups() {
		scheduled := spec.Kind == fn.Scheduled
		rt := app.NewRouter(e.D)
		spec.Register(rt)
		h := app.Build(e.D, spec.Register)
		for _, r := range rt.Routes() {
			method, path, ok := strings.Cut(r.Pattern, " ")
			if !ok {
				t.Errorf("%s: pattern %q has no method", name, r.Pattern)
				continue
			}
			var names []string
			path = wildcard.ReplaceAllStringFunc(path, func(w string) string {
				n := strings.TrimSuffix(strings.Trim(w, "{}"), "...")
				names = append(names, n)
				return "walker-" + n
			})
			if f, ok := registry.Lookup(path); !scheduled && (!ok || f.Name != name) {
				t.Errorf("%s %s is registered by %s but the routes table sends it to %q", method, path, name, f.Name)
			}
			all = append(all, walkRoute{fn: name, pattern: r.Pattern, method: method, path: path, wildcards: names, route: r, h: h})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].pattern < all[j].pattern })
	return all
}

// walkIP gives every walker request its own client address, so the
// per-address budgets stay out of the way.
var walkIP atomic.Int64

func nextWalkIP() string {
	n := walkIP.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", (n>>16)&255, (n>>8)&255, n&255)
}

// walkQuery and walkBody hold a valid value for every parameter and body
// field any route reads, for the site and user of a walker fixture.
func walkQuery(site, uid string) url.Values {
	return url.Values{
		"userId": {uid}, "siteId": {site}, "machineId": {"walker-machine"}, "deploymentId": {"walker-deployment"},
		"webhookId": {"walker-webhook"}, "screenshotId": {"walker-shot"}, "limit": {"1"},
	}
}

func walkBody(site, uid, email, phrase string) map[string]any {
	return map[string]any{
		"userId": uid, "siteId": site, "machineId": "walker-machine", "machineIds": []string{"walker-machine"},
		"email": email, "code": "123456", "backupCodes": []string{"AAAA1111"},
		"credential": map[string]any{}, "challengeId": "walker-challenge", "friendlyName": "walker",
		"pairPhrase": phrase, "keyId": "walker-key", "tokenId": "walker-token", "name": "walker",
		"title": "walker", "description": "walker", "category": "bug", "idToken": "walker",
		"installer_name": "walker.exe", "installer_url": "https://example.test/walker.exe", "silent_flags": "/S",
		"command": "walker", "tool": "get_system_info", "exe_path": "C:/walker.exe",
		"mode": "off", "wait": false, "timeout": -1, // never wait for an agent
		"ruleName": "walker", "metric": "cpu_percent", "value": 1, "threshold": 1, "operator": ">", "severity": "info", "channels": []string{},
	}
}

// walkRequest builds a request to r with query q and body b (JSON; nil for
// none), from its own client address.
func walkRequest(r walkRoute, path string, q string, body []byte) *http.Request {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	target := path
	if q != "" {
		target += "?" + q
	}
	req := httptest.NewRequest(r.method, "http://walker.test/", rd)
	// Set the target after construction: httptest.NewRequest parses it and
	// would refuse the malformed ones the bad-input walker sends.
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = pathParts(path)
	req.URL.RawQuery = q
	req.RequestURI = target
	req.Header.Set("X-Forwarded-For", nextWalkIP())
	return req
}

// pathParts splits an escaped path into the URL's Path and RawPath.
func pathParts(escaped string) (string, string, string) {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return escaped, "", ""
	}
	if p == escaped {
		return p, "", ""
	}
	return p, escaped, ""
}

// serve runs req through r and returns the response with its JSON body
// decoded, and how long it took.
func serve(r walkRoute, req *http.Request) (*apptest.Response, time.Duration) {
	w := httptest.NewRecorder()
	start := time.Now()
	r.h.ServeHTTP(w, req)
	took := time.Since(start)
	res := &apptest.Response{Response: w.Result(), Raw: w.Body.Bytes()}
	_ = json.Unmarshal(res.Raw, &res.JSON)
	return res, took
}

// credFor returns a credential that satisfies g for the walker's admin, the
// strongest each guard accepts, so the request reaches the handler's own
// checks.
func credFor(g guard.Guard, admin *apptest.User, adminKey, agentToken string, e *apptest.Env) func(*http.Request) {
	switch g.String() {
	case "public":
		return func(*http.Request) {}
	case "agent":
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+agentToken) }
	case "internal":
		return func(r *http.Request) { r.Header.Set(g.Header(), e.D.Config.CortexSecret) }
	case "cron":
		return func(r *http.Request) { r.Header.Set(guard.CronSecretHeader, e.D.Config.CronSecret) }
	case "admin", "admin-site", "member":
		return func(r *http.Request) { r.Header.Set("X-Api-Key", adminKey) }
	default: // session, self, session-site, session-or-idtoken
		c := admin.Cookie()
		return func(r *http.Request) { r.AddCookie(c) }
	}
}
