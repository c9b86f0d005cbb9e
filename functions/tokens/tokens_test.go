package tokens_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/tokens"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/store"
)

// seed writes agent_refresh_tokens docs as E14/X03 store them.
func seed(t *testing.T, e *apptest.Env, docs map[string]map[string]any) {
	t.Helper()
	b := e.FS.Batch()
	n := 0
	for id, d := range docs {
		b.Set(e.FS.Collection(tokens.Collection).Doc(id), d)
		if n++; n%500 == 0 {
			if _, err := b.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			b = e.FS.Batch()
		}
	}
	if n%500 != 0 {
		if _, err := b.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func token(site, machine string, created any) map[string]any {
	d := map[string]any{
		"siteId": site, "machineId": machine, "version": "2.4.0", "createdBy": "u1",
		"agentUid": "agent_" + site + "_" + machine,
	}
	if created != nil {
		d["createdAt"], d["lastUsed"] = created, created
	}
	return d
}

func agentToken(e *apptest.Env, site, machine string) string {
	return e.IDTokenFor("agent_"+site+"_"+machine, map[string]any{"role": "agent", "site_id": site, "machine_id": machine, "version": "2.4.0"})
}

func TestList(t *testing.T) {
	e := apptest.New(t, tokens.Register)
	admin, member := e.Admin(), e.Member("site-a")
	now := e.Clock.Now().Truncate(time.Millisecond)
	older, newer := now.Add(-2*time.Hour), now.Add(-time.Hour)
	noTS := token("site-a", "m3", nil)
	delete(noTS, "version")
	msCreated := token("site-a", "m4", nil)
	msCreated["createdAt"] = now.UnixMilli() // not a Timestamp: null, sorted last
	expiring := token("site-a", "m2", newer)
	expiring["expiresAt"] = now.Add(24 * time.Hour)
	seed(t, e, map[string]map[string]any{
		"h-old": token("site-a", "m1", older), "h-new": expiring, "h-nots": noTS, "h-ms": msCreated,
		"h-other": token("site-b", "m9", now),
	})
	const path = "/api/admin/tokens/list?siteId=site-a"
	cookie := admin.Cookie()

	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "GET", Path: path, Status: 401},
		{Name: "no credential, no siteId: guard first", Method: "GET", Path: "/api/admin/tokens/list", Status: 401},
		{Name: "forged bearer", Method: "GET", Path: path, Cred: apptest.WithBearer("eyJhbGciOiJub25lIn0.e30."), Status: 401},
		{Name: "unknown API key", Method: "GET", Path: path, Cred: apptest.WithAPIKey("owk_nope"), Status: 401},
		{Name: "member (not admin)", Method: "GET", Path: path, Cred: apptest.WithCookie(member.Cookie()), Status: 403},
		{Name: "member API key", Method: "GET", Path: path, Cred: apptest.WithAPIKey(member.APIKey()), Status: 403},
		{Name: "agent token of the site", Method: "GET", Path: path, Cred: apptest.WithBearer(agentToken(e, "site-a", "m1")), Status: 403},
		{Name: "missing siteId", Method: "GET", Path: "/api/admin/tokens/list", Cred: apptest.WithCookie(cookie), Status: 400},
		{Name: "empty siteId", Method: "GET", Path: "/api/admin/tokens/list?siteId=", Cred: apptest.WithCookie(cookie), Status: 400},
		{Name: "admin cookie", Method: "GET", Path: path, Cred: apptest.WithCookie(cookie), Status: 200,
			Want: map[string]any{
				"count":              4,
				"tokens.0":           map[string]any{"id": "h-new", "machineId": "m2", "version": "2.4.0", "createdBy": "u1", "agentUid": "agent_site-a_m2", "createdAt": store.ISO(newer), "lastUsed": store.ISO(newer), "expiresAt": store.ISO(now.Add(24 * time.Hour))},
				"tokens.1":           map[string]any{"id": "h-old", "machineId": "m1", "version": "2.4.0", "createdBy": "u1", "agentUid": "agent_site-a_m1", "createdAt": store.ISO(older), "lastUsed": store.ISO(older), "expiresAt": nil},
				"tokens.2.id":        "h-ms", // nulls last, in id order
				"tokens.3.id":        "h-nots",
				"tokens.2.createdAt": nil,
				"tokens.3.lastUsed":  nil,
			},
			Absent: []string{"success", "tokens.3.version", "tokens.4"}},
		{Name: "admin API key", Method: "GET", Path: path, Cred: apptest.WithAPIKey(admin.APIKey()), Status: 200, Want: map[string]any{"count": 4}},
		{Name: "admin Bearer ID token", Method: "GET", Path: path, Cred: apptest.WithBearer(admin.IDToken()), Status: 200, Want: map[string]any{"count": 4}},
		{Name: "other site (admins see every site)", Method: "GET", Path: "/api/admin/tokens/list?siteId=site-b", Cred: apptest.WithCookie(cookie), Status: 200,
			Want: map[string]any{"count": 1, "tokens.0.id": "h-other"}},
		{Name: "site without tokens", Method: "GET", Path: "/api/admin/tokens/list?siteId=nowhere", Cred: apptest.WithCookie(cookie), Status: 200,
			Want: map[string]any{"count": 0, "tokens": []any{}}},
		{Name: "odd siteId is just a value", Method: "GET", Path: "/api/admin/tokens/list?siteId=a%2Fb", Cred: apptest.WithCookie(cookie), Status: 200,
			Want: map[string]any{"count": 0}},
	})

	t.Run("no rate limit", func(t *testing.T) {
		r := e.Do("GET", path, apptest.WithCookie(cookie), nil, nil)
		if h := r.Header.Get("X-RateLimit-Limit"); h != "" {
			t.Errorf("E40 is not rate limited, got X-RateLimit-Limit %s", h)
		}
	})
}

func TestRevoke(t *testing.T) {
	e := apptest.New(t, tokens.Register)
	admin, member := e.Admin(), e.Member("site-a")
	now := e.Clock.Now()
	seed(t, e, map[string]map[string]any{
		"a1": token("site-a", "m1", now), "a2": token("site-a", "m1", now), "a3": token("site-a", "m2", now),
		"a4": token("site-a", "m3", now), "b1": token("site-b", "m1", now),
	})
	const path = "/api/admin/tokens/revoke"
	cookie := admin.Cookie()
	gone := func(ids ...string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, _ *apptest.Response) {
			for _, id := range ids {
				if e.Doc(tokens.Collection+"/"+id) != nil {
					t.Errorf("token %s still exists", id)
				}
			}
		}
	}
	kept := func(ids ...string) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, _ *apptest.Response) {
			for _, id := range ids {
				if e.Doc(tokens.Collection+"/"+id) == nil {
					t.Errorf("token %s was deleted", id)
				}
			}
		}
	}
	both := func(fs ...func(*testing.T, *apptest.Response)) func(*testing.T, *apptest.Response) {
		return func(t *testing.T, r *apptest.Response) {
			for _, f := range fs {
				f(t, r)
			}
		}
	}

	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "POST", Path: path, Body: map[string]any{"siteId": "site-a", "all": true}, Status: 401, Check: kept("a1", "a3")},
		{Name: "no credential, bad body: guard first", Method: "POST", Path: path, Body: apptest.Raw("{oops"), Status: 401},
		{Name: "member", Method: "POST", Path: path, Cred: apptest.WithCookie(member.Cookie()), Body: map[string]any{"siteId": "site-a", "all": true}, Status: 403, Check: kept("a1")},
		{Name: "agent token", Method: "POST", Path: path, Cred: apptest.WithBearer(agentToken(e, "site-a", "m1")), Body: map[string]any{"siteId": "site-a", "all": true}, Status: 403, Check: kept("a1")},
		{Name: "forged bearer", Method: "POST", Path: path, Cred: apptest.WithBearer("x.y.z"), Body: map[string]any{"siteId": "site-a", "all": true}, Status: 401},
		{Name: "empty body", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Status: 400},
		{Name: "malformed body", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: apptest.Raw(`{"siteId":`), Status: 400},
		{Name: "array body", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: apptest.Raw(`[]`), Status: 400},
		{Name: "oversized body", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": strings.Repeat("s", 2<<20), "all": true}, Status: 413, Check: kept("a1")},
		{Name: "API key in the query string", Method: "POST", Path: path + "?api_key=owk_x", Body: map[string]any{"siteId": "site-a", "all": true}, Status: 400, Check: kept("a1")},
		{Name: "missing siteId", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"all": true}, Status: 400, Check: kept("a1")},
		{Name: "no selector", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": "site-a"}, Status: 400},
		{Name: "all must be the boolean true", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": "site-a", "all": "true"}, Status: 400, Check: kept("a1")},
		{Name: "tokenId wrong type", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": "site-a", "tokenId": 5}, Status: 400},
		{Name: "siteId wrong type", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": []string{"site-a"}, "all": true}, Status: 400},
		{Name: "unknown tokenId", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": "site-a", "tokenId": "nope"}, Status: 200,
			Want: map[string]any{"success": false, "revokedCount": 0, "message": "Token not found"}, Absent: []string{"error"}},
		{Name: "tokenId that cannot be a document id", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": "site-a", "tokenId": "a/b"}, Status: 200,
			Want: map[string]any{"success": false, "revokedCount": 0, "message": "Token not found"}},
		{Name: "tokenId of another site", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": "site-a", "tokenId": "b1"}, Status: 403, Check: kept("b1")},
		{Name: "tokenId wins over machineId", Method: "POST", Path: path, Cred: apptest.WithAPIKey(admin.APIKey()), Body: map[string]any{"siteId": "site-a", "tokenId": "a3", "machineId": "m1"}, Status: 200,
			Want: map[string]any{"success": true, "revokedCount": 1, "message": apptest.Present}, Check: both(gone("a3"), kept("a1", "a2"))},
		{Name: "machineId", Method: "POST", Path: path, Cred: apptest.WithBearer(admin.IDToken()), Body: map[string]any{"siteId": "site-a", "machineId": "m1"}, Status: 200,
			Want: map[string]any{"success": true, "revokedCount": 2, "message": apptest.Present}, Check: both(gone("a1", "a2"), kept("a4", "b1"))},
		{Name: "machineId with nothing left is still success", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": "site-a", "machineId": "m1"}, Status: 200,
			Want: map[string]any{"success": true, "revokedCount": 0}},
		{Name: "all wins over tokenId", Method: "POST", Path: path, Cred: apptest.WithCookie(cookie), Body: map[string]any{"siteId": "site-a", "all": true, "tokenId": "b1"}, Status: 200,
			Want: map[string]any{"success": true, "revokedCount": 1, "message": apptest.Present}, Check: both(gone("a4"), kept("b1"))},
	})

	t.Run("rate limited as api", func(t *testing.T) {
		r := e.Do("POST", path, apptest.WithCookie(cookie), map[string]any{"siteId": "site-a", "all": true}, nil)
		if r.Header.Get("X-RateLimit-Limit") != "300" {
			t.Errorf("X-RateLimit-Limit = %q, want 300", r.Header.Get("X-RateLimit-Limit"))
		}
	})
}

// More than one batch's worth of tokens is revoked in chunks, not with one
// oversized batch (which the original failed with a 500).
func TestRevokeManyInChunks(t *testing.T) {
	e := apptest.New(t, tokens.Register)
	admin := e.Admin()
	now := e.Clock.Now()
	docs := map[string]map[string]any{"other": token("site-b", "m1", now)}
	const many = 2*tokens.DeleteChunk + 37
	for i := 0; i < many; i++ {
		machine := "m1"
		if i%2 == 1 {
			machine = "m2"
		}
		docs[fmt.Sprintf("t%04d", i)] = token("site-a", machine, now)
	}
	seed(t, e, docs)

	e.RPCs.Reset()
	r := e.Do("POST", "/api/admin/tokens/revoke", apptest.WithCookie(admin.Cookie()), map[string]any{"siteId": "site-a", "machineId": "m1"}, nil)
	if r.StatusCode != 200 || r.JSON["revokedCount"] != float64((many+1)/2) {
		t.Fatalf("machineId: %d %s", r.StatusCode, r.Raw)
	}
	t.Logf("revoking %d tokens: %v", (many+1)/2, e.RPCs.Snapshot())
	r = e.Do("POST", "/api/admin/tokens/revoke", apptest.WithCookie(admin.Cookie()), map[string]any{"siteId": "site-a", "all": true}, nil)
	if r.StatusCode != 200 || r.JSON["revokedCount"] != float64(many/2) {
		t.Fatalf("all: %d %s", r.StatusCode, r.Raw)
	}
	if n := e.Count(tokens.Collection); n != 1 {
		t.Errorf("%d tokens left, want only the other site's", n)
	}
	if e.Doc(tokens.Collection+"/other") == nil {
		t.Error("other site's token deleted")
	}
}
