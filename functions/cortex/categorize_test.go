package cortex_test

import (
	"strings"
	"testing"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/llmfake"
)

func TestCategorizeSingle(t *testing.T) {
	s := newStack(t)
	member := apptest.WithCookie(s.Ten.Member.Cookie())
	s.Set(t, "chats/mine", map[string]any{"userId": s.Ten.Member.UID, "siteId": "site-a", "title": "New conversation"})
	s.Set(t, "chats/theirs", map[string]any{"userId": s.Ten.Admin.UID, "siteId": "site-a", "title": "Private"})
	long := "The lobby TouchDesigner " + strings.Repeat("keeps crashing ", 20)
	s.Fake.Enqueue(
		llmfake.Turn{Text: []string{`{"title": "TouchDesigner keeps `, `crashing", "category": "crashes"}`}},
		llmfake.Turn{Text: []string{"I cannot help with that."}},
	)
	s.Run(t, []apptest.Scenario{
		{Name: "title and category", Method: "POST", Path: "/api/cortex/categorize", Cred: member,
			Body: map[string]any{"siteId": "site-a", "chatId": "mine", "message": "TD crashes every hour"}, Status: 200,
			Want: map[string]any{"title": "TouchDesigner keeps crashing", "category": "Crashes"},
			Check: func(t *testing.T, r *apptest.Response) {
				if c := s.Doc("chats/mine"); c["title"] != "TouchDesigner keeps crashing" || c["category"] != "Crashes" {
					t.Errorf("chat %v", c)
				}
				req := s.Fake.Requests()[0]
				if req.Model != llm.CheapAnthropicModel || !strings.Contains(req.System, "System Info") || req.LastUserText() != "TD crashes every hour" || len(req.Tools) != 0 {
					t.Errorf("model request %+v", req)
				}
			}},
		{Name: "unreadable answer: fallback title, General", Method: "POST", Path: "/api/cortex/categorize", Cred: member,
			Body: map[string]any{"siteId": "site-a", "chatId": "mine", "message": long}, Status: 200,
			Want: map[string]any{"category": "General", "title": strings.TrimSpace(long[:80])}},
		{Name: "another user's chat", Method: "POST", Path: "/api/cortex/categorize", Cred: member,
			Body: map[string]any{"siteId": "site-a", "chatId": "theirs", "message": "x"}, Status: 404,
			Check: func(t *testing.T, r *apptest.Response) {
				if c := s.Doc("chats/theirs"); c["title"] != "Private" || c["category"] != nil {
					t.Errorf("chat changed: %v", c)
				}
			}},
		{Name: "missing chat", Method: "POST", Path: "/api/cortex/categorize", Cred: member,
			Body: map[string]any{"siteId": "site-a", "chatId": "nope", "message": "x"}, Status: 404},
	})
	if n := len(s.Fake.Requests()); n != 2 {
		t.Errorf("%d model calls, want 2 (refusals cost none)", n)
	}
}

// Batch: untitled chats get a title and category from their first user
// message, titled ones a category; chats the caller may not touch and
// missing ones are skipped.
func TestCategorizeBatch(t *testing.T) {
	s := newStack(t)
	member := apptest.WithCookie(s.Ten.Member.Cookie())
	uid := s.Ten.Member.UID
	s.Set(t, "chats/untitled", map[string]any{"userId": uid, "siteId": "site-a", "messages": []any{
		map[string]any{"id": "1", "role": "assistant", "parts": []any{map[string]any{"type": "text", "text": "Hi"}}},
		map[string]any{"id": "2", "role": "user", "parts": []any{map[string]any{"type": "text", "text": "The lobby screen is black"}}},
	}})
	s.Set(t, "chats/titled", map[string]any{"userId": uid, "siteId": "site-a", "title": "Lobby display issue"})
	s.Set(t, "chats/legacy", map[string]any{"userId": uid, "siteId": "site-a", "title": "new conversation"})
	s.Set(t, "chats/legacy/messages/m1", map[string]any{"role": "user", "content": "The projector flickers", "createdAt": s.Clock.Now()})
	s.Set(t, "chats/auto", map[string]any{"source": "autonomous", "siteId": "site-a", "title": "Auto: TD crashed"})
	s.Set(t, "chats/other-site-auto", map[string]any{"source": "autonomous", "siteId": "site-b", "title": "Auto: X crashed"})
	s.Set(t, "chats/theirs", map[string]any{"userId": s.Ten.Admin.UID, "siteId": "site-a", "title": "x"})
	s.Set(t, "chats/empty", map[string]any{"userId": uid, "siteId": "site-a"})
	// Calls run in parallel: every answer is the same, so their order does
	// not matter.
	for range 4 {
		s.Fake.Enqueue(llmfake.Turn{Text: []string{`{"title":"Black screen","category":"Display"}`}})
	}
	r := s.Do("POST", "/api/cortex/categorize", member, map[string]any{"siteId": "site-a", "chatIds": []string{
		"untitled", "titled", "legacy", "auto", "other-site-auto", "theirs", "missing", "empty", "titled", "../x",
	}}, nil)
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	res, _ := r.JSON["results"].(map[string]any)
	if len(res) != 4 || res["untitled"] != "Display" || res["titled"] != "Display" || res["legacy"] != "Display" || res["auto"] != "Display" {
		t.Errorf("results %v", res)
	}
	if c := s.Doc("chats/untitled"); c["title"] != "Black screen" || c["category"] != "Display" {
		t.Errorf("untitled %v", c)
	}
	if c := s.Doc("chats/titled"); c["title"] != "Lobby display issue" || c["category"] != "Display" {
		t.Errorf("titled %v", c)
	}
	if c := s.Doc("chats/theirs"); c["category"] != nil {
		t.Errorf("another user's chat changed: %v", c)
	}
	var users []string
	for _, q := range s.Fake.Requests() {
		users = append(users, q.LastUserText())
	}
	for _, want := range []string{"The lobby screen is black", "The projector flickers", "Lobby display issue", "Auto: TD crashed"} {
		found := false
		for _, u := range users {
			found = found || u == want
		}
		if !found {
			t.Errorf("no model call for %q (calls: %q)", want, users)
		}
	}
}
