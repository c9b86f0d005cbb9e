package cortex_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
)

// E54: the key travels in a provision_cortex_key command; the agent's
// answer decides the status; nobody answering is a 504 with the command
// (and the key in it) withdrawn.
func TestProvisionKey(t *testing.T) {
	s := newStack(t)
	member := apptest.WithCookie(s.Ten.Member.Cookie())
	outcome := map[string]map[string]any{
		"M-OK":   {"status": "completed", "result": "Cortex API key provisioned"},
		"M-FAIL": {"status": "failed", "error": "Error: write_config() takes 1 positional argument but 2 were given"},
	}
	seen := map[string]<-chan map[string]any{}
	for m, entry := range outcome {
		seen[m] = s.Answer(t, m, func(string, map[string]any) map[string]any {
			e := map[string]any{"type": "provision_cortex_key"}
			for k, v := range entry {
				e[k] = v
			}
			return e
		})
	}
	s.Run(t, []apptest.Scenario{
		{Name: "agent stores the key", Method: "POST", Path: "/api/cortex/provision-key", Cred: member,
			Body: map[string]any{"siteId": "site-a", "machineId": "M-OK", "apiKey": "sk-ant-123"}, Status: 200, Want: map[string]any{"success": true},
			Check: func(t *testing.T, r *apptest.Response) {
				cmd := <-seen["M-OK"]
				if !regexp.MustCompile(`^provision_cortex_key_\d{13}$`).MatchString(cmd["id"].(string)) || cmd["type"] != "provision_cortex_key" ||
					cmd["api_key"] != "sk-ant-123" || cmd["provider"] != "anthropic" || cmd["status"] != "pending" {
					t.Errorf("command %v", cmd)
				}
				if _, ok := cmd["timestamp"].(time.Time); !ok {
					t.Errorf("timestamp %T, want a server timestamp", cmd["timestamp"])
				}
				if len(s.Completed("M-OK")) != 0 {
					t.Errorf("result not consumed: %v", s.Completed("M-OK"))
				}
			}},
		{Name: "agent fails", Method: "POST", Path: "/api/cortex/provision-key", Cred: member,
			Body: map[string]any{"siteId": "site-a", "machineId": "M-FAIL", "apiKey": "sk-x", "provider": "openai"}, Status: 500,
			Want: map[string]any{"error": "Error: write_config() takes 1 positional argument but 2 were given"},
			Check: func(t *testing.T, r *apptest.Response) {
				if cmd := <-seen["M-FAIL"]; cmd["provider"] != "openai" {
					t.Errorf("provider %v", cmd["provider"])
				}
			}},
		{Name: "nobody answers", Method: "POST", Path: "/api/cortex/provision-key", Cred: member,
			Body: map[string]any{"siteId": "site-a", "machineId": "M-SILENT", "apiKey": "sk-secret"}, Status: 504,
			Check: func(t *testing.T, r *apptest.Response) {
				if p := s.Pending("M-SILENT"); len(p) != 0 {
					t.Errorf("the key is still queued: %v", p)
				}
			}},
	})
}
