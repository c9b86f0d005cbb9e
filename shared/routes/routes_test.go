package routes

import (
	"regexp"
	"testing"
)

func TestLookup(t *testing.T) {
	cases := map[string]string{
		"/api/auth/session":                         "session",
		"/api/mfa/verify-login":                     "mfa",
		"/api/agent/auth/device-code/poll":          "agentauth",
		"/api/agent/generate-installer":             "agentauth",
		"/api/agent/alert":                          "alerts",
		"/api/agent/screenshot":                     "screenshots",
		"/api/admin/machines":                       "machines",
		"/api/admin/machines/status":                "machines",
		"/api/admin/processes/p1/launch-mode":       "processes",
		"/api/admin/deployments/deploy-1/cancel":    "deployments",
		"/api/admin/sites":                          "sites",
		"/api/admin/keys":                           "apikeys",
		"/api/admin/keys/create":                    "apikeys",
		"/api/webhooks/test":                        "webhooks",
		"/api/webhooks/user-created":                "utilities",
		"/api/cortex":                               "cortex",
		"/api/cortex/escalation":                    "cortex",
		"/api/settings/site-llm-key":                "llmsettings",
		"/api/cron/health-check":                    "utilities",
		"/api/admin/email/config":                   "utilities",
		"/api/setup/generate-token":                 "setup",
		"/api/admin/tools/execute":                  "commands",
		"/api/admin/software-inventory":             "inventory",
		"/api/admin/installer/upload":               "installers",
		"/api/admin/tokens/revoke":                  "tokens",
		"/api/admin/events/simulate":                "events",
		"/api/admin/logs":                           "logs",
		"/api/passkeys/cred-1":                      "passkeys",
		"/api/alerts/trigger":                       "alerts",
		"/api/admin/screenshots":                    "screenshots",
		"/api/admin/sites/extra":                    "",
		"/api/unknown":                              "",
		"/api/auth/session/x":                       "",
		"/api/admin/machines/status/deeper/further": "machines",
	}
	for path, want := range cases {
		f, ok := Lookup(path)
		if want == "" {
			if ok {
				t.Errorf("%s routed to %s, want no function", path, f.Name)
			}
			continue
		}
		if !ok || f.Name != want {
			t.Errorf("%s → %q, want %q", path, f.Name, want)
		}
	}
}

func TestTableShape(t *testing.T) {
	name := regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	seen := map[string]bool{}
	for _, f := range Functions {
		if !name.MatchString(f.Name) || seen[f.Name] {
			t.Errorf("bad or duplicate function name %q", f.Name)
		}
		seen[f.Name] = true
		if f.Package != "functions/"+f.Name {
			t.Errorf("%s: package %q", f.Name, f.Package)
		}
		if f.Timeout <= 0 || len(f.Paths) == 0 {
			t.Errorf("%s: timeout or paths missing", f.Name)
		}
	}
	if len(Functions) != 22 {
		t.Errorf("%d functions, want the 22 route groups", len(Functions))
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		glob, path string
		want       bool
	}{
		{"/api/x/**", "/api/x", false},
		{"/api/x/**", "/api/x/y", true},
		{"/api/x/**", "/api/x/y/z", true},
		{"/api/*/y", "/api/a/y", true},
		{"/api/*/y", "/api/a/b/y", false},
		{"/api/x", "/api/x/", true},
	} {
		if got := Match(c.glob, c.path); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.glob, c.path, got)
		}
	}
}
