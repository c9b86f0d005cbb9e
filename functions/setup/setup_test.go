package setup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/setup"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/session"
)

func TestGenerateToken(t *testing.T) {
	e := apptest.New(t, setup.Register)
	owner, member, stranger, admin := e.Member(), e.Member("site-a"), e.Member("site-b"), e.Admin()
	e.Site("site-a", owner.UID)
	e.Site("site-b", "")
	const path = "/api/setup/generate-token"
	body := map[string]any{"siteId": "site-a"}

	issued := func(uid string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			tok, _ := r.JSON["token"].(string)
			if len(tok) != 43 {
				t.Fatalf("token %q", tok)
			}
			doc := e.Doc("agent_tokens/" + tok)
			if doc["siteId"] != "site-a" || doc["createdBy"] != uid || doc["used"] != false {
				t.Errorf("code doc: %v", doc)
			}
			if _, ok := doc["status"]; ok {
				t.Error("setup codes carry no status field")
			}
			if exp, _ := doc["expiresAt"].(time.Time); !exp.Equal(e.Clock.Now().Add(24 * time.Hour)) {
				t.Errorf("expiresAt %v", doc["expiresAt"])
			}
		}
	}
	e.Run(t, []apptest.Scenario{
		// Body is validated before the session (api.md order).
		{Name: "no credential, bad body", Method: "POST", Path: path, Body: map[string]any{}, Status: 400},
		{Name: "malformed JSON", Method: "POST", Path: path, Cred: apptest.WithCookie(member.Cookie()), Body: apptest.Raw(`{"siteId"`), Status: 400},
		{Name: "huge body", Method: "POST", Path: path, Cred: apptest.WithCookie(member.Cookie()), Body: apptest.Raw(`{"siteId":"` + strings.Repeat("s", 2<<20) + `"}`), Status: 413},
		{Name: "siteId wrong type", Method: "POST", Path: path, Cred: apptest.WithCookie(member.Cookie()), Body: map[string]any{"siteId": []int{1}}, Status: 400},
		{Name: "siteId with a slash", Method: "POST", Path: path, Cred: apptest.WithCookie(member.Cookie()), Body: map[string]any{"siteId": "a/b"}, Status: 400},
		{Name: "no credential", Method: "POST", Path: path, Body: body, Status: 401},
		{Name: "API key is not a session", Method: "POST", Path: path, Cred: apptest.WithAPIKey(admin.APIKey()), Body: body, Status: 401},
		{Name: "ID token is not a session", Method: "POST", Path: path, Cred: apptest.WithBearer(admin.IDToken()), Body: body, Status: 401},
		{Name: "MFA pending", Method: "POST", Path: path, Cred: apptest.WithCookie(member.CookieWith(session.MFAPending)), Body: body, Status: 403},
		// The pending mark in the cookie is refused before the body is read.
		{Name: "MFA pending with a bad body", Method: "POST", Path: path, Cred: apptest.WithCookie(member.CookieWith(session.MFAPending)), Body: apptest.Raw("{"), Status: 403,
			Want: map[string]any{"mfaRequired": true}},
		{Name: "member of another site", Method: "POST", Path: path, Cred: apptest.WithCookie(stranger.Cookie()), Body: body, Status: 403},
		{Name: "unknown site", Method: "POST", Path: path, Cred: apptest.WithCookie(admin.Cookie()), Body: map[string]any{"siteId": "nowhere"}, Status: 404},
		{Name: "assigned member", Method: "POST", Path: path, Cred: apptest.WithCookie(member.Cookie()), Body: body, Status: 200,
			Want: map[string]any{"siteId": "site-a", "userId": member.UID}, Check: issued(member.UID)},
		{Name: "site owner", Method: "POST", Path: path, Cred: apptest.WithCookie(owner.Cookie()), Body: body, Status: 200, Check: issued(owner.UID)},
		{Name: "admin", Method: "POST", Path: path, Cred: apptest.WithCookie(admin.Cookie()), Body: body, Status: 200, Check: issued(admin.UID)},
	})
	if n := e.Count("agent_tokens"); n != 3 {
		t.Errorf("%d codes written, want 3 (refused requests must write nothing)", n)
	}
}
