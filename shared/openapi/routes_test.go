package openapi

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// handleCall matches a route registration in functions/:
// rt.Handle("POST /api/x", guard.Admin[.AllowPendingMFA()], ratelimit.API, h.x)
// rt.Handle("POST /api/x", guard.Internal(Header), ratelimit.None, h.x)
var (
	handleCall = regexp.MustCompile(`rt\.Handle\("([A-Z]+) (/api/[^"]*)",\s*guard\.(\w+)(?:\((\w+)\))?(\.AllowPendingMFA\(\))?,\s*ratelimit\.(\w+)`)
	anyHandle  = regexp.MustCompile(`rt\.Handle\("[A-Z]+ /api/`)
)

// codeGuards maps a shared/guard guard to the document guards it can serve.
// Internal's argument names the secret header; its value decides between
// x-cortex-secret and x-internal-secret (see internalGuard).
var codeGuards = map[string][]string{
	"Public":           {"G-NONE"},
	"Internal":         {"G-CORTEX-SECRET", "G-INTERNAL-SECRET"},
	"Cron":             {"G-CRON"},
	"Session":          {"G-SESSION", "G-CORTEX"},
	"SessionOrIDToken": {"G-SESSION-OR-IDT"},
	"Admin":            {"G-ADMIN"},
	"AdminSite":        {"G-ADMIN-SITE"},
	"Member":           {"G-MEMBER"},
	"SessionSite":      {"G-SESSION-SITE", "G-CORTEX"},
	"Self":             {"G-SELF"},
	"Agent":            {"G-AGENT"},
}

var codeLimits = map[string]string{
	"None": "", "Auth": "auth", "TokenExchange": "tokenExchange", "TokenRefresh": "tokenRefresh",
	"User": "user", "AgentAlert": "agentAlert", "Upload": "upload", "API": "api",
}

// The routes registered today must be documented with the guard and rate
// limit they are registered with (the rest of api.md is built later).
func TestRegisteredRoutesMatchDocument(t *testing.T) {
	files, err := filepath.Glob("../../functions/*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("functions/ not found")
	}
	doc := map[string]Operation{}
	for _, o := range mustOperations(t) {
		doc[o.Pattern()] = o
	}
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		matches := handleCall.FindAllStringSubmatch(string(src), -1)
		if n := len(anyHandle.FindAllString(string(src), -1)); n != len(matches) {
			t.Errorf("%s: %d /api registrations, %d understood: teach handleCall the new form", f, n, len(matches))
		}
		for _, m := range matches {
			seen++
			pattern, g, arg, pending, limit := m[1]+" "+m[2], m[3], m[4], m[5] != "", m[6]
			o, ok := doc[pattern]
			if !ok {
				t.Errorf("%s: %s is registered but not documented", f, pattern)
				continue
			}
			if !slices.Contains(codeGuards[g], o.Guard) {
				t.Errorf("%s: registered with guard.%s, documented as %s", pattern, g, o.Guard)
			}
			if g == "Internal" && internalGuard(arg) != o.Guard {
				t.Errorf("%s: guard.Internal(%s) is documented as %s", pattern, arg, o.Guard)
			}
			if pending != pendingOK[o.ID] {
				t.Errorf("%s: AllowPendingMFA = %v in code, %v in the document", pattern, pending, pendingOK[o.ID])
			}
			want, known := codeLimits[limit]
			if !known || want != o.RateLimit {
				t.Errorf("%s: registered with ratelimit.%s, documented as %q", pattern, limit, o.RateLimit)
			}
		}
	}
	if seen == 0 {
		t.Error("no rt.Handle registration found: has the registration syntax changed?")
	}
	t.Logf("%d registered routes checked", seen)
}

// internalGuard is the document guard of guard.Internal(header): the header
// constant names which secret header the route reads.
func internalGuard(header string) string {
	if strings.Contains(strings.ToLower(header), "cortex") {
		return "G-CORTEX-SECRET"
	}
	return "G-INTERNAL-SECRET"
}
