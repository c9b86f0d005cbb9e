package cortex_test

import (
	"strings"
	"testing"

	"github.com/owlette/server/shared/apptest"
)

// Bad input gets a JSON 4xx naming the problem, never a 500, before any
// stream starts; the states E52 answers itself (503, missing LLM key) are
// JSON too.
func TestChatBadInput(t *testing.T) {
	s := newStack(t)
	s.Set(t, "sites/site-a/machines/ON", map[string]any{"online": true})
	s.Set(t, "sites/site-b/machines/OFF", map[string]any{"online": false})
	member := apptest.WithCookie(s.Ten.Member.Cookie())
	admin := apptest.WithCookie(s.Ten.Admin.Cookie())
	with := func(kv ...any) map[string]any { return apptest.Override(chatBody("ON", "hello"), kv...) }
	msg := func(role string, content any) []any { return []any{map[string]any{"role": role, "content": content}} }
	big := strings.Repeat("x", 20<<10)
	errHas := func(sub string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			if e, _ := r.JSON["error"].(string); !strings.Contains(e, sub) {
				t.Errorf("error %q does not mention %q", e, sub)
			}
		}
	}
	noActiveChat := func(t *testing.T, r *apptest.Response) {
		if s.Doc("sites/site-a/machines/ON/cortex/active-chat") != nil || len(s.Fake.Requests()) != 0 {
			t.Error("a refused chat reached the machine or the model")
		}
	}
	const p = "/api/cortex"
	s.Run(t, []apptest.Scenario{
		{Name: "bad body without a session is 401 (session first)", Method: "POST", Path: p, Cred: apptest.NoCred, Body: apptest.Raw("{"), Status: 401},
		{Name: "empty body", Method: "POST", Path: p, Cred: member, Status: 400, Check: errHas("empty")},
		{Name: "malformed JSON", Method: "POST", Path: p, Cred: member, Body: apptest.Raw(`{"messages":`), Status: 400},
		{Name: "array body", Method: "POST", Path: p, Cred: member, Body: apptest.Raw(`[]`), Status: 400},
		{Name: "messages missing", Method: "POST", Path: p, Cred: member, Body: with("messages", nil), Status: 400, Check: errHas("messages")},
		{Name: "messages not an array", Method: "POST", Path: p, Cred: member, Body: with("messages", "hi"), Status: 400, Check: errHas("messages")},
		{Name: "messages empty", Method: "POST", Path: p, Cred: member, Body: with("messages", []any{}), Status: 400},
		{Name: "message with an unknown role", Method: "POST", Path: p, Cred: member, Body: with("messages", msg("robot", "x")), Status: 400, Check: errHas("messages[0]")},
		{Name: "message not an object", Method: "POST", Path: p, Cred: member, Body: with("messages", []any{1}), Status: 400, Check: errHas("messages[0]")},
		{Name: "only a system message", Method: "POST", Path: p, Cred: member, Body: with("messages", msg("system", "obey me")), Status: 400},
		{Name: "content of the wrong type", Method: "POST", Path: p, Cred: member, Body: with("messages", msg("user", 7)), Status: 400},
		{Name: "siteId missing", Method: "POST", Path: p, Cred: member, Body: with("siteId", nil), Status: 400, Check: errHas("siteId")},
		{Name: "siteId not a string", Method: "POST", Path: p, Cred: member, Body: with("siteId", 5), Status: 400},
		{Name: "chatId missing", Method: "POST", Path: p, Cred: member, Body: with("chatId", ""), Status: 400, Check: errHas("chatId")},
		{Name: "machineId missing", Method: "POST", Path: p, Cred: member, Body: with("machineId", nil), Status: 400, Check: errHas("machineId")},
		{Name: "machineId names no document", Method: "POST", Path: p, Cred: member, Body: with("machineId", "a/b"), Status: 400},
		{Name: "machineName over 8 KiB", Method: "POST", Path: p, Cred: member, Body: with("machineName", big), Status: 400},
		{Name: "body over 8 MiB", Method: "POST", Path: p, Cred: member, Body: with("messages", msg("user", strings.Repeat("y", 9<<20))), Status: 413},
		{Name: "a 20 KiB message is fine (then: machine offline)", Method: "POST", Path: p, Cred: member, Body: with("messages", msg("user", big), "machineId", "NOPE"), Status: 503, Check: errHas("offline")},
		{Name: "machine offline", Method: "POST", Path: p, Cred: admin, Body: with("siteId", "site-b", "machineId", "OFF"), Status: 503},
		{Name: "site mode, nothing online", Method: "POST", Path: p, Cred: admin, Body: with("siteId", "site-b", "machineId", "__site__"), Status: 503, Check: errHas("No machines online")},
	})
	// The site has a key (newStack); without one the explanation comes
	// back as a 500 JSON error before any stream.
	if _, err := s.FS.Doc("sites/site-a/settings/llm").Delete(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.Run(t, []apptest.Scenario{
		{Name: "no LLM key", Method: "POST", Path: p, Cred: member, Body: with(), Status: 500, Check: func(t *testing.T, r *apptest.Response) {
			errHas("No LLM API key")(t, r)
			noActiveChat(t, r)
		}},
	})
}

func TestOtherRoutesBadInput(t *testing.T) {
	s := newStack(t)
	member := apptest.WithCookie(s.Ten.Member.Cookie())
	secret := map[string]string{"X-Cortex-Secret": s.D.Config.CortexSecret}
	noLock := func(t *testing.T, r *apptest.Response) {
		if s.Doc("sites/site-a/cortex-state/lock") != nil || s.Count("cortex_jobs") != 0 {
			t.Error("a refused request took a slot or queued a job")
		}
	}
	e53 := func(kv ...any) map[string]any {
		return apptest.Override(map[string]any{"siteId": "site-a", "machineId": "M1", "processName": "TD", "eventType": "process_crash"}, kv...)
	}
	s.Run(t, []apptest.Scenario{
		{Name: "E54 apiKey missing", Method: "POST", Path: "/api/cortex/provision-key", Cred: member, Body: map[string]any{"siteId": "site-a", "machineId": "M1"}, Status: 400},
		{Name: "E54 machineId names no document", Method: "POST", Path: "/api/cortex/provision-key", Cred: member, Body: map[string]any{"siteId": "site-a", "machineId": "..", "apiKey": "k"}, Status: 400},
		{Name: "E54 malformed", Method: "POST", Path: "/api/cortex/provision-key", Cred: member, Body: apptest.Raw("nope"), Status: 400},
		{Name: "X11 siteId missing", Method: "POST", Path: "/api/cortex/categorize", Cred: member, Body: map[string]any{"chatId": "c", "message": "m"}, Status: 400},
		{Name: "X11 neither mode", Method: "POST", Path: "/api/cortex/categorize", Cred: member, Body: map[string]any{"siteId": "site-a", "chatId": "c"}, Status: 400},
		{Name: "X11 chatIds not an array", Method: "POST", Path: "/api/cortex/categorize", Cred: member, Body: map[string]any{"siteId": "site-a", "chatIds": "c"}, Status: 400},
		{Name: "X11 too many chatIds", Method: "POST", Path: "/api/cortex/categorize", Cred: member, Body: map[string]any{"siteId": "site-a", "chatIds": make([]string, 51)}, Status: 400},
		{Name: "E53 processName missing", Method: "POST", Path: "/api/cortex/autonomous", Header: secret, Body: e53("processName", nil), Status: 400, Check: noLock},
		{Name: "E53 eventType empty", Method: "POST", Path: "/api/cortex/autonomous", Header: secret, Body: e53("eventType", ""), Status: 400, Check: noLock},
		{Name: "E53 machineId names no document", Method: "POST", Path: "/api/cortex/autonomous", Header: secret, Body: e53("machineId", "x/y"), Status: 400, Check: noLock},
		{Name: "E53 errorMessage over 8 KiB", Method: "POST", Path: "/api/cortex/autonomous", Header: secret, Body: e53("errorMessage", strings.Repeat("e", 9<<10)), Status: 400, Check: noLock},
		{Name: "E53 machineName not a string", Method: "POST", Path: "/api/cortex/autonomous", Header: secret, Body: e53("machineName", 3), Status: 400, Check: noLock},
		{Name: "E53 empty body", Method: "POST", Path: "/api/cortex/autonomous", Header: secret, Status: 400, Check: noLock},
	})
}
