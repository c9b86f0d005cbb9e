package registry_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/openapi"
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$`)

// TestRegistry: the one list of functions agrees with the packages that
// exist, and every entry is deployable: a valid name equal to its package
// directory, the fields its kind needs, known configuration and secrets, a
// timeout in range.
func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range registry.All {
		if !nameRE.MatchString(s.Name) || seen[s.Name] {
			t.Errorf("%q: invalid or duplicate name", s.Name)
		}
		seen[s.Name] = true
		if got := s.Package(); got != "functions/"+s.Name {
			t.Errorf("%s: code lives in %q, want functions/%s", s.Name, got, s.Name)
		}
		if s.Config&^config.All != 0 {
			t.Errorf("%s: unknown configuration groups %b", s.Name, s.Config&^config.All)
		}
		for _, sec := range s.Secrets() {
			if !slices.Contains(config.AllSecrets, sec) {
				t.Errorf("%s: unknown secret %q", s.Name, sec)
			}
		}
		max := time.Hour
		switch s.Kind {
		case fn.HTTP:
			if s.Register == nil || len(s.Paths) == 0 {
				t.Errorf("%s: an HTTP function needs Register and Paths", s.Name)
			}
		case fn.Firestore:
			max = 540 * time.Second
			if s.Handle == nil || s.Document == "" || !strings.HasPrefix(s.EventType, "google.cloud.firestore.document.v1.") {
				t.Errorf("%s: a trigger needs Handle, Document and EventType", s.Name)
			}
		case fn.Scheduled:
			if s.Register == nil || s.Method == "" {
				t.Errorf("%s: a schedule needs Register and Method", s.Name)
			}
			if _, err := s.Every(); err != nil {
				t.Errorf("%s: %v", s.Name, err)
			}
			if !s.Config.Has(config.Cron | config.Scheduler) {
				t.Errorf("%s: a schedule authenticates its caller with guard.Cron: it needs config.Cron and config.Scheduler", s.Name)
			}
		}
		if s.Timeout <= 0 || s.Timeout > max {
			t.Errorf("%s: timeout %v out of range", s.Name, s.Timeout)
		}
	}
	dirs, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && d.Name() != "registry" && !seen[d.Name()] {
			t.Errorf("functions/%s exists but is not in the registry", d.Name())
		}
	}
}

// docGuard maps a route's guard to the guard names of the OpenAPI
// document (api.md §1.5).
func docGuard(g guard.Guard) []string {
	switch g.String() {
	case "public":
		return []string{"G-NONE"}
	case "internal":
		if strings.Contains(strings.ToLower(g.Header()), "cortex") {
			return []string{"G-CORTEX-SECRET"}
		}
		return []string{"G-INTERNAL-SECRET"}
	case "cron":
		return []string{"G-CRON"}
	case "session":
		return []string{"G-SESSION", "G-CORTEX"}
	case "session-or-idtoken":
		return []string{"G-SESSION-OR-IDT"}
	case "admin":
		return []string{"G-ADMIN"}
	case "admin-site":
		return []string{"G-ADMIN-SITE"}
	case "member":
		return []string{"G-MEMBER"}
	case "session-site":
		return []string{"G-SESSION-SITE", "G-CORTEX"}
	case "self":
		return []string{"G-SELF"}
	case "agent":
		return []string{"G-AGENT"}
	}
	return nil
}

// pendingOK are the operations that take a session still waiting for its
// MFA step (DECISIONS §3).
var pendingOK = map[string]bool{"E06": true, "E11": true}

// notOperations are routes that are pages, not API operations.
var notOperations = map[string]bool{"GET /api/docs": true, "GET /api/docs/{asset...}": true}

// TestRoutesAndOperations: every route the HTTP functions register is
// routed to its function by the Hosting table and has exactly one operation
// in the OpenAPI document, with the guard, rate-limit class and pending-MFA
// rule it is registered with; and every operation has a route.
func TestRoutesAndOperations(t *testing.T) {
	e := apptest.New(t)
	ops, err := openapi.Operations()
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]openapi.Operation{}
	for _, o := range ops {
		doc[o.Pattern()] = o
	}
	wild := regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`)
	registered := map[string]bool{}
	for _, s := range registry.Of(fn.HTTP) {
		rt := app.NewRouter(e.D)
		s.Register(rt)
		for _, r := range rt.Routes() {
			method, path, _ := strings.Cut(r.Pattern, " ")
			concrete := wild.ReplaceAllString(path, "x")
			if f, ok := registry.Lookup(concrete); !ok || f.Name != s.Name {
				t.Errorf("%s is registered by %s but Hosting sends it to %q", r.Pattern, s.Name, f.Name)
			}
			if notOperations[r.Pattern] {
				continue
			}
			// The document names path parameters as the code does.
			key := method + " " + path
			registered[key] = true
			o, ok := doc[key]
			if !ok {
				t.Errorf("%s (%s) has no operation in the OpenAPI document", r.Pattern, s.Name)
				continue
			}
			if o.Tag != s.Name {
				t.Errorf("%s: tagged %q, served by %s", key, o.Tag, s.Name)
			}
			if !slices.Contains(docGuard(r.Guard), o.Guard) {
				t.Errorf("%s: registered with guard %s, documented as %s", key, r.Guard, o.Guard)
			}
			if r.Guard.PendingOK() != pendingOK[o.ID] {
				t.Errorf("%s: pending MFA allowed = %v in code, %v in the document", key, r.Guard.PendingOK(), pendingOK[o.ID])
			}
			if string(r.Limit) != o.RateLimit {
				t.Errorf("%s: rate-limit class %q in code, %q in the document", key, r.Limit, o.RateLimit)
			}
		}
	}
	for _, o := range ops {
		if !registered[o.Pattern()] {
			t.Errorf("operation %s (%s) has no route", o.Pattern(), o.ID)
		}
	}
	if len(registered) != len(ops) {
		t.Errorf("%d routes, %d operations", len(registered), len(ops))
	}
	t.Logf("%d routes, each with its operation", len(registered))
}

// TestTagsAreFunctions: the OpenAPI document's tags are exactly the HTTP
// functions (its route groups), so the docs page lists each group once.
func TestTagsAreFunctions(t *testing.T) {
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	var tags, names []string
	for _, tag := range doc.Tags {
		tags = append(tags, tag.Name)
	}
	for _, s := range registry.Of(fn.HTTP) {
		names = append(names, s.Name)
	}
	slices.Sort(tags)
	slices.Sort(names)
	if !slices.Equal(tags, names) {
		t.Errorf("tags %v\nHTTP functions %v", tags, names)
	}
	if len(names) != 22 {
		t.Errorf("%d HTTP functions, want the 22 route groups", len(names))
	}
}

// TestLookup routes paths the way Hosting's rewrites do: the first matching
// glob wins, and a path no glob matches reaches no function.
func TestLookup(t *testing.T) {
	cases := map[string]string{
		"/api/auth/session":                         "session",
		"/api/auth/session/x":                       "",
		"/api/mfa/verify-login":                     "mfa",
		"/api/agent/auth/device-code/poll":          "agentauth",
		"/api/agent/generate-installer":             "agentauth",
		"/api/agent/alert":                          "alerts",
		"/api/agent/screenshot":                     "screenshots",
		"/api/admin/machines":                       "machines",
		"/api/admin/machines/status/deeper/further": "machines",
		"/api/admin/processes/p1/launch-mode":       "processes",
		"/api/admin/deployments/deploy-1/cancel":    "deployments",
		"/api/admin/sites":                          "sites",
		"/api/admin/sites/extra":                    "",
		"/api/admin/keys/create":                    "apikeys",
		"/api/webhooks/test":                        "webhooks",
		"/api/webhooks/user-created":                "utilities",
		"/api/cortex/escalation":                    "cortex",
		"/api/settings/site-llm-key":                "llmsettings",
		"/api/cron/health-check":                    "utilities",
		"/api/admin/tools/execute":                  "commands",
		"/api/docs/swagger-ui.css":                  "utilities",
		"/api/unknown":                              "",
	}
	for path, want := range cases {
		s, ok := registry.Lookup(path)
		if ok != (want != "") || s.Name != want {
			t.Errorf("%s → %q, want %q", path, s.Name, want)
		}
	}
}
