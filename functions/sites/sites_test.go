package sites_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/sites"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/store"
)

func TestListSites(t *testing.T) {
	e := apptest.New(t, sites.Register)
	admin, member := e.Admin(), e.Member("beta")
	e.Site("beta", member.UID)
	e.Site("alpha", "")
	created := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	ctx := context.Background()
	// A site without a name and with a non-timestamp createdAt.
	if _, err := e.FS.Collection("sites").Doc("zeta").Set(ctx, map[string]any{"createdAt": int64(1700000000000)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.FS.Collection("sites").Doc("alpha").Update(ctx, []firestore.Update{{Path: "createdAt", Value: created}}); err != nil {
		t.Fatal(err)
	}
	key := admin.APIKey()
	const path = "/api/admin/sites"
	pending := admin.CookieWith(session.MFAPending)
	agent := e.IDTokenFor("agent_beta_m1", map[string]any{"role": "agent", "site_id": "beta", "machine_id": "m1"})

	wantSites := func(t *testing.T, r *apptest.Response) {
		list, _ := r.JSON["sites"].([]any)
		if len(list) != 3 {
			t.Fatalf("sites: %s", r.Raw)
		}
		ids := []string{}
		for _, s := range list {
			ids = append(ids, s.(map[string]any)["id"].(string))
		}
		// Sorted by display name: "Site alpha", "Site beta", "zeta".
		if ids[0] != "alpha" || ids[1] != "beta" || ids[2] != "zeta" {
			t.Errorf("order %v", ids)
		}
		if r.Header.Get("X-RateLimit-Limit") != "300" || r.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("headers: %v", r.Header)
		}
	}
	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "GET", Path: path, Status: 401},
		{Name: "invalid API key", Method: "GET", Path: path, Cred: apptest.WithAPIKey("owk_nope"), Status: 401, Want: map[string]any{"error": "Invalid API key"}},
		{Name: "invalid API key beats a valid cookie", Method: "GET", Path: path, Cred: both(apptest.WithAPIKey("owk_nope"), apptest.WithCookie(admin.Cookie())), Status: 401},
		{Name: "API key in the query string", Method: "GET", Path: path + "?api_key=" + key, Status: 400},
		{Name: "forged bearer", Method: "GET", Path: path, Cred: apptest.WithBearer("eyJhbGciOiJub25lIn0.e30."), Status: 401},
		{Name: "member cookie", Method: "GET", Path: path, Cred: apptest.WithCookie(member.Cookie()), Status: 403},
		{Name: "member API key", Method: "GET", Path: path, Cred: apptest.WithAPIKey(member.APIKey()), Status: 403},
		{Name: "agent token", Method: "GET", Path: path, Cred: apptest.WithBearer(agent), Status: 403},
		{Name: "admin with MFA pending", Method: "GET", Path: path, Cred: apptest.WithCookie(pending), Status: 403, Want: map[string]any{"mfaRequired": true}},
		{Name: "admin cookie", Method: "GET", Path: path, Cred: apptest.WithCookie(admin.Cookie()), Status: 200,
			Want: map[string]any{"success": true, "sites.0.id": "alpha", "sites.0.name": "Site alpha", "sites.0.createdAt": store.ISO(created), "sites.0.owner": nil,
				"sites.1.owner": member.UID, "sites.2.name": "zeta", "sites.2.createdAt": nil},
			Absent: []string{"sites.0.machineCount"}, Check: wantSites},
		{Name: "admin API key header", Method: "GET", Path: path, Cred: apptest.WithAPIKey(key), Status: 200, Check: wantSites},
		{Name: "admin API key as bearer", Method: "GET", Path: path, Cred: apptest.WithBearer(key), Status: 200, Check: wantSites},
		{Name: "admin ID token", Method: "GET", Path: path, Cred: apptest.WithBearer(admin.IDToken()), Status: 200, Check: wantSites},
		{Name: "wrong method", Method: "POST", Path: path, Cred: apptest.WithAPIKey(key), Status: 405},
	})
}

func both(a, b apptest.Cred) apptest.Cred {
	return func(r *http.Request) { a(r); b(r) }
}
