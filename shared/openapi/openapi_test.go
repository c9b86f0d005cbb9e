package openapi

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// endpoint is one row of api.md: §2 index (E01–E66), §3 (X01–X14), with the
// guard of §1.5 and the rate-limit class of §1.6. Guards of internal
// endpoints name their credential check (DECISIONS.md §3: secret or OIDC).
type endpoint struct {
	id, method, path, guard, limit string
}

var apiMD = []endpoint{
	{"E01", "POST", "/api/auth/session", "G-NONE", "auth"},
	{"E02", "DELETE", "/api/auth/session", "G-NONE", ""},
	{"E03", "GET", "/api/auth/session", "G-NONE", ""},
	{"E04", "POST", "/api/mfa/setup", "G-SELF", "auth"},
	{"E05", "POST", "/api/mfa/verify-setup", "G-SELF", "auth"},
	{"E06", "POST", "/api/mfa/verify-login", "G-SELF", "auth"},
	{"E07", "POST", "/api/passkeys/register/options", "G-SELF", "auth"},
	{"E08", "POST", "/api/passkeys/register/verify", "G-SELF", "auth"},
	{"E09", "POST", "/api/passkeys/authenticate/options", "G-NONE", "auth"},
	{"E10", "POST", "/api/passkeys/authenticate/verify", "G-NONE", "auth"},
	{"E11", "GET", "/api/passkeys/list", "G-SELF", "auth"},
	{"E12", "PATCH", "/api/passkeys/{credentialId}", "G-SELF", "auth"},
	{"E13", "DELETE", "/api/passkeys/{credentialId}", "G-SELF", "auth"},
	{"E14", "POST", "/api/agent/auth/exchange", "G-NONE", "tokenExchange"},
	{"E15", "POST", "/api/agent/auth/refresh", "G-NONE", "tokenRefresh"},
	{"E16", "POST", "/api/agent/generate-installer", "G-SESSION-SITE", ""},
	{"E17", "POST", "/api/agent/alert", "G-AGENT", "agentAlert"},
	{"E18", "POST", "/api/agent/screenshot", "G-AGENT", "api"},
	{"E19", "GET", "/api/admin/machines", "G-ADMIN-SITE", "api"},
	{"E20", "GET", "/api/admin/machines/status", "G-ADMIN-SITE", "api"},
	{"E21", "POST", "/api/admin/machines/update", "G-MEMBER", "api"},
	{"E22", "POST", "/api/admin/commands/send", "G-ADMIN-SITE", "api"},
	{"E23", "DELETE", "/api/admin/commands/clear", "G-MEMBER", "api"},
	{"E24", "GET", "/api/admin/software-inventory", "G-MEMBER", "api"},
	{"E25", "GET", "/api/admin/processes", "G-MEMBER", "api"},
	{"E26", "POST", "/api/admin/processes", "G-MEMBER", "api"},
	{"E27", "PATCH", "/api/admin/processes/{processId}", "G-MEMBER", "api"},
	{"E28", "DELETE", "/api/admin/processes/{processId}", "G-MEMBER", "api"},
	{"E29", "PATCH", "/api/admin/processes/{processId}/launch-mode", "G-MEMBER", "api"},
	{"E30", "GET", "/api/admin/deployments", "G-MEMBER", "api"},
	{"E31", "POST", "/api/admin/deployments", "G-MEMBER", "api"},
	{"E32", "GET", "/api/admin/deployments/{deploymentId}", "G-MEMBER", "api"},
	{"E33", "DELETE", "/api/admin/deployments/{deploymentId}", "G-MEMBER", "api"},
	{"E34", "POST", "/api/admin/deployments/{deploymentId}/cancel", "G-MEMBER", "api"},
	{"E35", "GET", "/api/admin/installer/latest", "G-ADMIN", "api"},
	{"E36", "GET", "/api/admin/installer/versions", "G-ADMIN", "api"},
	{"E37", "POST", "/api/admin/installer/upload", "G-ADMIN", "upload"},
	{"E38", "PUT", "/api/admin/installer/upload", "G-ADMIN", "upload"},
	{"E39", "GET", "/api/admin/sites", "G-ADMIN", "api"},
	{"E40", "GET", "/api/admin/tokens/list", "G-ADMIN", ""},
	{"E41", "POST", "/api/admin/tokens/revoke", "G-ADMIN", "api"},
	{"E42", "GET", "/api/admin/logs", "G-ADMIN-SITE", "api"},
	{"E43", "POST", "/api/admin/events/simulate", "G-ADMIN-SITE", "agentAlert"},
	{"E44", "GET", "/api/admin/webhooks", "G-ADMIN-SITE", ""},
	{"E45", "POST", "/api/admin/webhooks", "G-ADMIN-SITE", ""},
	{"E46", "DELETE", "/api/admin/webhooks", "G-ADMIN-SITE", ""},
	{"E47", "POST", "/api/webhooks/test", "G-ADMIN", ""},
	{"E48", "GET", "/api/admin/keys", "G-ADMIN", "api"},
	{"E49", "POST", "/api/admin/keys/create", "G-ADMIN", "api"},
	{"E50", "DELETE", "/api/admin/keys/revoke", "G-ADMIN", "api"},
	{"E51", "POST", "/api/setup/generate-token", "G-SESSION-SITE", "api"},
	{"E52", "POST", "/api/cortex", "G-CORTEX", ""},
	{"E53", "POST", "/api/cortex/autonomous", "G-CORTEX-SECRET", ""},
	{"E54", "POST", "/api/cortex/provision-key", "G-CORTEX", ""},
	{"E55", "POST", "/api/cortex/escalation", "G-CORTEX-SECRET", ""},
	{"E56", "GET", "/api/cortex/escalation", "G-CRON", ""},
	{"E57", "POST", "/api/settings/llm-key", "G-SESSION", "auth"},
	{"E58", "GET", "/api/settings/llm-key", "G-SESSION", "auth"},
	{"E59", "DELETE", "/api/settings/llm-key", "G-SESSION", "auth"},
	{"E60", "POST", "/api/settings/site-llm-key", "G-ADMIN", "api"},
	{"E61", "GET", "/api/settings/site-llm-key", "G-ADMIN", "api"},
	{"E62", "DELETE", "/api/settings/site-llm-key", "G-ADMIN", "api"},
	{"E63", "GET", "/api/cron/health-check", "G-CRON", ""},
	{"E64", "POST", "/api/test-email", "G-ADMIN", ""},
	{"E65", "POST", "/api/webhooks/user-created", "G-SESSION-OR-IDT", ""},
	{"E66", "GET", "/api/unsubscribe", "G-NONE", ""},
	{"X01", "POST", "/api/agent/auth/device-code", "G-NONE", "tokenExchange"},
	{"X02", "POST", "/api/agent/auth/device-code/authorize", "G-SESSION-SITE", "tokenExchange"},
	{"X03", "POST", "/api/agent/auth/device-code/poll", "G-NONE", "api"},
	{"X04", "GET", "/api/admin/tools", "G-ADMIN", "api"},
	{"X05", "POST", "/api/admin/tools/execute", "G-ADMIN-SITE", "api"},
	{"X06", "DELETE", "/api/admin/screenshots", "G-ADMIN-SITE", ""},
	{"X07", "GET", "/api/admin/fetch-td-version", "G-ADMIN", "api"},
	{"X08", "GET", "/api/admin/email/config", "G-ADMIN", ""},
	{"X09", "POST", "/api/alerts/trigger", "G-INTERNAL-SECRET", ""},
	{"X10", "POST", "/api/bug-report", "G-SESSION-OR-IDT", "user"},
	{"X11", "POST", "/api/cortex/categorize", "G-SESSION", ""},
	{"X12", "GET", "/api/settings/llm-models", "G-SESSION", "auth"},
	{"X13", "POST", "/api/settings/llm-models", "G-SESSION", "auth"},
	{"X14", "GET", "/api/openapi", "G-NONE", ""},
}

// guardSchemes is which security schemes each guard accepts (any one of).
var guardSchemes = map[string][]string{
	"G-NONE":            nil,
	"G-SESSION":         {"sessionCookie"},
	"G-SELF":            {"sessionCookie"},
	"G-SESSION-SITE":    {"sessionCookie"},
	"G-CORTEX":          {"sessionCookie"},
	"G-SESSION-OR-IDT":  {"firebaseIdToken", "sessionCookie"},
	"G-ADMIN":           {"apiKey", "firebaseIdToken", "sessionCookie"},
	"G-ADMIN-SITE":      {"apiKey", "firebaseIdToken", "sessionCookie"},
	"G-MEMBER":          {"apiKey", "firebaseIdToken", "sessionCookie"},
	"G-AGENT":           {"agentToken"},
	"G-CORTEX-SECRET":   {"cortexSecret", "schedulerOidc"},
	"G-INTERNAL-SECRET": {"internalSecret", "schedulerOidc"},
	"G-CRON":            {"cronSecret", "schedulerOidc"},
}

// The security schemes of the brief, with their type and where they live.
var wantSchemes = map[string]struct{ typ, in, name, scheme string }{
	"sessionCookie":   {"apiKey", "cookie", "__session", ""},
	"apiKey":          {"apiKey", "header", "x-api-key", ""},
	"firebaseIdToken": {"http", "", "", "bearer"},
	"agentToken":      {"http", "", "", "bearer"},
	"cortexSecret":    {"apiKey", "header", "x-cortex-secret", ""},
	"internalSecret":  {"apiKey", "header", "x-internal-secret", ""},
	"cronSecret":      {"apiKey", "header", "X-Cron-Secret", ""},
	"schedulerOidc":   {"http", "", "", "bearer"},
}

var rateLimitHeaders = []string{
	"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
	"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy",
}

func mustLoad(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func mustOperations(t *testing.T) []Operation {
	t.Helper()
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

func operation(t *testing.T, doc *openapi3.T, method, path string) *openapi3.Operation {
	t.Helper()
	item := doc.Paths.Value(path)
	if item == nil {
		t.Fatalf("path %s missing", path)
	}
	op := item.GetOperation(method)
	if op == nil {
		t.Fatalf("%s %s missing", method, path)
	}
	return op
}

func TestLoadsAndValidatesAsOpenAPI31(t *testing.T) {
	doc := mustLoad(t)
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	// Validate again with every check kin-openapi has switched on: formats
	// and examples against their schemas (JSON Schema 2020-12 for 3.1).
	err := doc.Validate(context.Background(),
		openapi3.IsOpenAPI31OrLater(),
		openapi3.EnableSchemaFormatValidation(),
		openapi3.EnableExamplesValidation(),
		openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableSchemaPatternValidation(),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/" {
		t.Errorf("servers = %v, want one server with url /", doc.Servers)
	}
	if again, _ := Load(); again != doc {
		t.Error("Load is not cached")
	}
}

func TestExactlyTheOperationsOfAPIMD(t *testing.T) {
	if len(apiMD) != 80 {
		t.Fatalf("test table has %d rows, api.md has 80", len(apiMD))
	}
	got := map[string]Operation{}
	for _, o := range mustOperations(t) {
		got[o.Pattern()] = o
	}
	if len(got) != 80 {
		t.Errorf("document has %d operations, want 80", len(got))
	}
	want := map[string]bool{}
	for _, e := range apiMD {
		p := e.method + " " + e.path
		want[p] = true
		o, ok := got[p]
		if !ok {
			t.Errorf("%s %s missing", e.id, p)
			continue
		}
		if o.ID != e.id {
			t.Errorf("%s: x-owlette-id = %q, want %s", p, o.ID, e.id)
		}
		if o.Guard != e.guard {
			t.Errorf("%s %s: x-owlette-guard = %q, want %s", e.id, p, o.Guard, e.guard)
		}
		if o.RateLimit != e.limit {
			t.Errorf("%s %s: x-owlette-rate-limit = %q, want %q", e.id, p, o.RateLimit, e.limit)
		}
	}
	for p := range got {
		if !want[p] {
			t.Errorf("%s is not an api.md endpoint", p)
		}
	}
}

var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

func TestOperationIDsUniqueAndCamelCase(t *testing.T) {
	ids, xids := map[string]string{}, map[string]string{}
	for _, o := range mustOperations(t) {
		if !camelCase.MatchString(o.OperationID) {
			t.Errorf("%s: operationId %q is not camelCase", o.Pattern(), o.OperationID)
		}
		if prev, dup := ids[o.OperationID]; dup {
			t.Errorf("operationId %q used by %s and %s", o.OperationID, prev, o.Pattern())
		}
		ids[o.OperationID] = o.Pattern()
		if prev, dup := xids[o.ID]; dup {
			t.Errorf("x-owlette-id %q used by %s and %s", o.ID, prev, o.Pattern())
		}
		xids[o.ID] = o.Pattern()
	}
}

// TestTags: every operation carries exactly one declared tag and every
// declared tag is described and used. That each tag is the function serving
// the operation is checked by functions/registry, which knows the functions.
func TestTags(t *testing.T) {
	doc := mustLoad(t)
	declared := map[string]bool{}
	for _, tag := range doc.Tags {
		if declared[tag.Name] {
			t.Errorf("tag %q declared twice", tag.Name)
		}
		if strings.TrimSpace(tag.Description) == "" {
			t.Errorf("tag %q has no description", tag.Name)
		}
		declared[tag.Name] = true
	}
	used := map[string]int{}
	for _, o := range mustOperations(t) {
		op := operation(t, doc, o.Method, o.Path)
		if len(op.Tags) != 1 || !declared[op.Tags[0]] {
			t.Errorf("%s: tags %v, want one declared tag", o.Pattern(), op.Tags)
			continue
		}
		used[o.Tag]++
	}
	for name := range declared {
		if used[name] == 0 {
			t.Errorf("tag %q has no operation", name)
		}
	}
	t.Logf("operations per tag: %v", used)
}

func TestSecuritySchemes(t *testing.T) {
	doc := mustLoad(t)
	got := doc.Components.SecuritySchemes
	if len(got) != len(wantSchemes) {
		t.Errorf("%d security schemes, want %d", len(got), len(wantSchemes))
	}
	for name, w := range wantSchemes {
		ref, ok := got[name]
		if !ok || ref.Value == nil {
			t.Errorf("security scheme %s missing", name)
			continue
		}
		s := ref.Value
		if s.Type != w.typ || s.In != w.in || s.Name != w.name || s.Scheme != w.scheme {
			t.Errorf("%s = {%s %s %s %s}, want %+v", name, s.Type, s.In, s.Name, s.Scheme, w)
		}
		if w.scheme == "bearer" && s.BearerFormat != "JWT" {
			t.Errorf("%s: bearerFormat %q, want JWT", name, s.BearerFormat)
		}
		if strings.TrimSpace(s.Description) == "" {
			t.Errorf("%s has no description", name)
		}
	}
	if !strings.Contains(got["apiKey"].Value.Description, "Bearer owk_") || !strings.Contains(got["apiKey"].Value.Description, "?api_key=") {
		t.Error("apiKey scheme must mention Authorization: Bearer owk_… and the refused ?api_key=")
	}
	if doc.Security != nil && len(doc.Security) > 0 {
		t.Error("no document-wide security: every operation states its own")
	}
}

func TestSecurityFollowsGuard(t *testing.T) {
	doc := mustLoad(t)
	for _, o := range mustOperations(t) {
		want, ok := guardSchemes[o.Guard]
		if !ok {
			t.Errorf("%s: unknown guard %q", o.Pattern(), o.Guard)
			continue
		}
		op := operation(t, doc, o.Method, o.Path)
		if op.Security == nil {
			t.Errorf("%s: no security (public routes say security: [])", o.Pattern())
			continue
		}
		got := slices.Sorted(slices.Values(o.Security))
		if !slices.Equal(got, want) {
			t.Errorf("%s (%s): security %v, want %v", o.Pattern(), o.Guard, got, want)
		}
		for _, req := range *op.Security {
			if len(req) != 1 {
				t.Errorf("%s: a security requirement must name one scheme (alternatives, not combinations): %v", o.Pattern(), req)
			}
		}
	}
}

func TestResponses(t *testing.T) {
	doc := mustLoad(t)
	for _, o := range mustOperations(t) {
		op := operation(t, doc, o.Method, o.Path)
		codes := slices.Collect(maps.Keys(op.Responses.Map()))
		success := false
		for _, c := range codes {
			if c == "default" {
				// The generic failures every route can answer (400, 404,
				// 408, 413, 414, 503, 504): one shared Error response.
				r := op.Responses.Default()
				if r.Ref != "#/components/responses/OtherError" || r.Value == nil || r.Value.Content.Get("application/json") == nil {
					t.Errorf("%s: default must be the shared OtherError JSON response", o.Pattern())
				}
				continue
			}
			n, err := strconv.Atoi(c)
			if err != nil {
				t.Errorf("%s: response key %q is not a status code", o.Pattern(), c)
				continue
			}
			if n >= 200 && n < 400 {
				success = true
			}
			r := op.Responses.Value(c)
			if r.Value == nil || r.Value.Description == nil || strings.TrimSpace(*r.Value.Description) == "" {
				t.Errorf("%s %s: no description", o.Pattern(), c)
			}
			if n >= 400 && n != 504 && r.Value != nil && r.Value.Content.Get("application/json") == nil {
				t.Errorf("%s %s: error without a JSON body", o.Pattern(), c)
			}
		}
		if !success {
			t.Errorf("%s: no success response", o.Pattern())
		}
		// Where the guard can fail, the failure is documented.
		if len(o.Security) > 0 && op.Responses.Value("401") == nil && op.Responses.Value("403") == nil {
			t.Errorf("%s: guarded but documents neither 401 nor 403", o.Pattern())
		}
		if op.RequestBody != nil && op.RequestBody.Value.Required && op.Responses.Value("400") == nil {
			t.Errorf("%s: reads a body but documents no 400", o.Pattern())
		}
		if op.Responses.Value("500") == nil {
			t.Errorf("%s: no 500", o.Pattern())
		}
		// A session or ID token can be refused for a missing MFA step,
		// except on the routes a pending session may use.
		if pendingOK[o.ID] {
			if mfaCapable(op.Responses.Value("403")) {
				t.Errorf("%s accepts a pending session: its 403 cannot be mfaRequired", o.Pattern())
			}
		} else if slices.Contains(o.Security, "sessionCookie") || slices.Contains(o.Security, "firebaseIdToken") {
			if !mfaCapable(op.Responses.Value("403")) {
				t.Errorf("%s: accepts a user credential but its 403 cannot carry mfaRequired", o.Pattern())
			}
		}
		if strings.TrimSpace(op.Summary) == "" {
			t.Errorf("%s: no summary", o.Pattern())
		}
	}
}

// pendingOK are the guarded routes a session still waiting for its MFA step
// may use (DECISIONS.md §3; guard.AllowPendingMFA in functions/).
var pendingOK = map[string]bool{"E06": true, "E11": true}

// mfaCapable reports whether a 403 response's body may be MfaRequired.
func mfaCapable(r *openapi3.ResponseRef) bool {
	if r == nil || r.Value == nil {
		return false
	}
	mt := r.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return false
	}
	if strings.HasSuffix(mt.Schema.Ref, "/MfaRequired") {
		return true
	}
	if mt.Schema.Value != nil {
		for _, s := range mt.Schema.Value.AnyOf {
			if strings.HasSuffix(s.Ref, "/MfaRequired") {
				return true
			}
		}
	}
	return false
}

// Routes of api.md §1.6 that carry the rate-limit headers and a 429.
func TestRateLimitedRoutes(t *testing.T) {
	doc := mustLoad(t)
	limited := 0
	for _, e := range apiMD {
		op := operation(t, doc, e.method, e.path)
		r429 := op.Responses.Value("429")
		if e.limit == "" {
			// The MFA routes answer 429 for failed attempts, but they are
			// also class-limited, so a 429 here is a mistake.
			if r429 != nil {
				t.Errorf("%s %s %s: not rate-limited but documents 429", e.id, e.method, e.path)
			}
			continue
		}
		limited++
		if r429 == nil {
			t.Errorf("%s %s %s: rate-limited (%s) without 429", e.id, e.method, e.path, e.limit)
			continue
		}
		if r429.Ref != "#/components/responses/TooManyRequests" {
			t.Errorf("%s: 429 is %q, want the shared TooManyRequests", e.id, r429.Ref)
		}
		if r429.Value.Headers["Retry-After"] == nil {
			t.Errorf("%s: 429 without Retry-After", e.id)
		}
		for _, h := range rateLimitHeaders {
			if r429.Value.Headers[h] == nil {
				t.Errorf("%s: 429 without %s", e.id, h)
			}
		}
		for code, r := range op.Responses.Map() {
			if n, _ := strconv.Atoi(code); n < 200 || n >= 300 {
				continue
			}
			for _, h := range rateLimitHeaders {
				hr := r.Value.Headers[h]
				if hr == nil {
					t.Errorf("%s %s: success %s without %s", e.id, e.path, code, h)
					continue
				}
				if hr.Ref != "#/components/headers/"+h {
					t.Errorf("%s %s: %s is %q, want the shared header component", e.id, code, h, hr.Ref)
				}
			}
		}
	}
	if limited != 58 {
		t.Errorf("%d rate-limited operations, api.md §1.6 lists 58", limited)
	}
}

func TestComponents(t *testing.T) {
	c := mustLoad(t).Components
	for _, name := range []string{"Error", "MfaRequired", "RateLimited", "FirestoreTimestamp", "IsoTimestamp", "EpochMillis", "RawTimestamp"} {
		if c.Schemas[name] == nil {
			t.Errorf("schema %s missing", name)
		}
	}
	if s := c.Schemas["MfaRequired"].Value; !slices.Contains(s.Required, "mfaRequired") || !slices.Contains(s.Required, "error") {
		t.Errorf("MfaRequired requires %v", s.Required)
	}
	if s := c.Schemas["RateLimited"].Value; s.Properties["retryAfter"] == nil || s.Properties["message"] == nil || s.Properties["error"] == nil {
		t.Error("RateLimited must have error, retryAfter and message")
	}
	if s := c.Schemas["FirestoreTimestamp"].Value; !slices.Equal(s.Required, []string{"_seconds", "_nanoseconds"}) {
		t.Errorf("FirestoreTimestamp requires %v", s.Required)
	}
	for _, h := range append([]string{"Retry-After"}, rateLimitHeaders...) {
		if c.Headers[h] == nil {
			t.Errorf("header %s missing", h)
		}
	}
	if !strings.Contains(c.Headers["X-RateLimit-Reset"].Value.Description, "milliseconds") {
		t.Error("X-RateLimit-Reset must say it is in milliseconds")
	}
	if c.Responses["TooManyRequests"] == nil || c.Responses["HostingTimeout"] == nil {
		t.Error("responses TooManyRequests and HostingTimeout must exist")
	}
}

// The waiting routes point at the one place that words the Hosting cap.
func TestHostingTimeoutDocumentedOnce(t *testing.T) {
	doc := mustLoad(t)
	for _, p := range []struct{ method, path string }{
		{"POST", "/api/admin/commands/send"},
		{"POST", "/api/admin/tools/execute"},
		{"POST", "/api/cortex"},
	} {
		r := operation(t, doc, p.method, p.path).Responses.Value("504")
		if r == nil || r.Ref != "#/components/responses/HostingTimeout" {
			t.Errorf("%s %s: 504 must reference HostingTimeout", p.method, p.path)
		}
	}
	if n := strings.Count(string(document), "cut after"); n != 1 {
		t.Errorf("the Hosting cap is worded %d times, want once (components.responses.HostingTimeout)", n)
	}
}

func TestSpecialResponses(t *testing.T) {
	doc := mustLoad(t)
	chat := operation(t, doc, "POST", "/api/cortex").Responses.Value("200").Value
	if chat.Content.Get("text/event-stream") == nil || chat.Content.Get("text/plain") == nil {
		t.Error("E52 must document text/event-stream and text/plain")
	}
	if chat.Headers["x-vercel-ai-ui-message-stream"] == nil || chat.Headers["X-Vercel-AI-Data-Stream"] == nil {
		t.Error("E52 must document both stream headers")
	}
	unsub := operation(t, doc, "GET", "/api/unsubscribe").Responses.Value("307")
	if unsub == nil || unsub.Value.Headers["Location"] == nil {
		t.Error("E66 must document the 307 redirect with Location")
	}
	spec := operation(t, doc, "GET", "/api/openapi").Responses.Value("200").Value
	if spec.Headers["Cache-Control"] == nil || spec.Headers["Access-Control-Allow-Origin"] == nil {
		t.Error("X14 must document Cache-Control and Access-Control-Allow-Origin")
	}
	poll := operation(t, doc, "POST", "/api/agent/auth/device-code/poll").Responses
	for _, c := range []string{"200", "202", "404", "410"} {
		if poll.Value(c) == nil {
			t.Errorf("X03 must document %s", c)
		}
	}
}

// Every $ref of the served document points at something that exists.
func TestEveryRefResolves(t *testing.T) {
	raw, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				if k == "$ref" {
					ref, _ := child.(string)
					n++
					if !strings.HasPrefix(ref, "#/") {
						t.Errorf("%s: non-local $ref %q", at, ref)
					} else if pointer(root, ref[1:]) == nil {
						t.Errorf("%s: $ref %q does not resolve", at, ref)
					}
					continue
				}
				walk(child, at+"/"+k)
			}
		case []any:
			for i, child := range x {
				walk(child, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(root, "#")
	if n < 100 {
		t.Errorf("only %d $refs found: is the JSON output inlining them?", n)
	}
}

// pointer resolves a JSON pointer ("/components/schemas/Error") in v.
func pointer(v any, p string) any {
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[tok]; !ok {
			return nil
		}
	}
	return v
}

func TestJSONRoundTrips(t *testing.T) {
	raw, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Fatal("JSON() is not valid JSON")
	}
	if strings.Contains(string(raw), `\u003c`) {
		t.Error("JSON() escapes HTML characters")
	}
	again, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if again.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", again.OpenAPI)
	}
	n := 0
	for _, item := range again.Paths.Map() {
		n += len(item.Operations())
	}
	if n != 80 {
		t.Errorf("JSON has %d operations, want 80", n)
	}
	if b, _ := JSON(); &b[0] != &raw[0] {
		t.Error("JSON is not cached")
	}
}

func TestOperationsListing(t *testing.T) {
	ops := mustOperations(t)
	for _, o := range ops {
		switch o.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			t.Errorf("%s: unexpected method", o.Pattern())
		}
	}
	if !slices.IsSortedFunc(ops, func(a, b Operation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	}) {
		t.Error("Operations is not sorted by path, method")
	}
	for _, o := range ops {
		if o.Pattern() == "POST /api/admin/commands/send" {
			if o.OperationID != "sendCommand" || o.ID != "E22" || o.Tag != "commands" || o.RateLimit != "api" {
				t.Errorf("E22 listed as %+v", o)
			}
		}
	}
}
