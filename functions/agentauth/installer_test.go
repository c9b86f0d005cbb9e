package agentauth

import (
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/store"
)

const installerPath = "/api/agent/generate-installer"

func TestGenerateInstaller(t *testing.T) {
	f := newFixture(t)
	body := map[string]any{"siteId": f.site}
	issued := func(uid string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			code, _ := r.JSON["registrationCode"].(string)
			if len(code) != 43 {
				t.Fatalf("code %q", code)
			}
			exp := f.Clock.Now().Add(24 * time.Hour)
			if r.JSON["expiresAt"] != store.ISO(exp) {
				t.Errorf("expiresAt %v, want %s", r.JSON["expiresAt"], store.ISO(exp))
			}
			d := f.Doc("agent_tokens/" + code)
			if d["siteId"] != f.site || d["createdBy"] != uid || d["used"] != false || d["status"] != "pending" || !isTime(d["createdAt"]) {
				t.Errorf("code doc %v", d)
			}
			if got, _ := d["expiresAt"].(time.Time); !got.Equal(exp) {
				t.Errorf("stored expiresAt %v", d["expiresAt"])
			}
			// The code works with E14.
			ex := f.Do("POST", exchangePath, nil, map[string]any{"registrationCode": code, "machineId": "INSTALLED", "version": "1"}, nil)
			if ex.StatusCode != 200 {
				t.Errorf("exchange of a fresh code: %d %s", ex.StatusCode, ex.Raw)
			}
		}
	}
	cookie := apptest.WithCookie(f.member.Cookie())
	f.Run(t, []apptest.Scenario{
		// Body first: an unauthenticated bad request is 400 (api.md order).
		{Name: "no credential, no body", Method: "POST", Path: installerPath, Status: 400},
		{Name: "no credential, no siteId", Method: "POST", Path: installerPath, Body: map[string]any{"userId": "x"}, Status: 400},
		{Name: "malformed", Method: "POST", Path: installerPath, Cred: cookie, Body: apptest.Raw("{"), Status: 400},
		{Name: "siteId not a string", Method: "POST", Path: installerPath, Cred: cookie, Body: map[string]any{"siteId": 12}, Status: 400},
		{Name: "siteId with a slash", Method: "POST", Path: installerPath, Cred: cookie, Body: map[string]any{"siteId": "a/b"}, Status: 400},
		{Name: "no credential", Method: "POST", Path: installerPath, Body: body, Status: 401},
		{Name: "API key is not a session", Method: "POST", Path: installerPath, Cred: apptest.WithAPIKey(f.admn.APIKey()), Body: body, Status: 401},
		{Name: "ID token is not a session", Method: "POST", Path: installerPath, Cred: apptest.WithBearer(f.admn.IDToken()), Body: body, Status: 401},
		{Name: "agent token of the site", Method: "POST", Path: installerPath, Cred: apptest.WithBearer(f.agentToken(f.site)), Body: body, Status: 401},
		{Name: "MFA pending", Method: "POST", Path: installerPath, Cred: apptest.WithCookie(f.member.CookieWith(session.MFAPending)), Body: body, Status: 403},
		{Name: "member of another site", Method: "POST", Path: installerPath, Cred: apptest.WithCookie(f.stranger.Cookie()), Body: body, Status: 403},
		{Name: "unknown site", Method: "POST", Path: installerPath, Cred: apptest.WithCookie(f.admn.Cookie()), Body: map[string]any{"siteId": "nowhere"}, Status: 404},
		{Name: "assigned member", Method: "POST", Path: installerPath, Cred: cookie, Body: body, Status: 200,
			Want: map[string]any{"siteId": f.site}, Absent: []string{"token", "userId"}, Check: issued(f.member.UID)},
		{Name: "owner", Method: "POST", Path: installerPath, Cred: apptest.WithCookie(f.owner.Cookie()), Body: body, Status: 200, Check: issued(f.owner.UID)},
		{Name: "admin", Method: "POST", Path: installerPath, Cred: apptest.WithCookie(f.admn.Cookie()), Body: body, Status: 200, Check: issued(f.admn.UID)},
	})
	if n := f.Count("agent_tokens"); n != 3 {
		t.Errorf("%d codes, want 3: refused requests must write nothing", n)
	}
}
