package guard_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/apikeys"
	sessionfn "github.com/owlette/server/functions/session"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/credcache"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/web"
)

// cacheRoutes are one route per kind of guard that reads a user or a site,
// without a rate limit (whose leases would blur the read counts).
func cacheRoutes(rt *app.Router) {
	who := func(w http.ResponseWriter, r *http.Request) error {
		return web.OK(w, web.M{"uid": guard.Caller(r).UID})
	}
	site := func(w http.ResponseWriter, r *http.Request) error {
		p, err := guard.Site(r, r.URL.Query().Get("siteId"))
		if err != nil {
			return err
		}
		return web.OK(w, web.M{"uid": p.UID})
	}
	rt.Handle("GET /api/admin/test/admin", guard.Admin, ratelimit.None, who)
	rt.Handle("GET /api/admin/test/admin-site", guard.AdminSite, ratelimit.None, site)
	rt.Handle("GET /api/admin/test/member", guard.Member, ratelimit.None, site)
	rt.Handle("GET /api/admin/test/pending", guard.Session.AllowPendingMFA(), ratelimit.None, who)
}

// cost sends a request and returns its status and the read and write RPCs
// it made.
func cost(e *apptest.Env, method, path string, cred apptest.Cred, body any) (status, reads, writes int) {
	e.T.Helper()
	e.RPCs.Reset()
	r := e.Do(method, path, cred, body, nil)
	return r.StatusCode, e.RPCs.Reads(), e.RPCs.Writes()
}

func expect(t *testing.T, e *apptest.Env, what, path string, cred apptest.Cred, wantStatus, wantReads int) {
	t.Helper()
	st, reads, writes := cost(e, "GET", path, cred, nil)
	if st != wantStatus || (wantReads >= 0 && reads != wantReads) {
		t.Fatalf("%s: %d with %d reads, %d writes; want %d with %d reads", what, st, reads, writes, wantStatus, wantReads)
	}
}

// A caller's second request reads nothing its guard already verified: the
// API key, the session record, the user and the site come from memory.
func TestCachedCredentialsCostNoReads(t *testing.T) {
	e := apptest.New(t, cacheRoutes)
	ten := e.Tenancy("site-a", "site-b")
	siteURL := "/api/admin/test/admin-site?siteId=site-a"
	memberURL := "/api/admin/test/member?siteId=site-a"
	for _, c := range []struct {
		name       string
		cred       apptest.Cred
		url        string
		firstReads int
	}{
		// key index; user (the admin check runs before the handler names
		// the site); site
		{"admin API key", apptest.WithAPIKey(ten.Admin.APIKey()), siteURL, 3},
		// record and user together; site
		{"admin session", apptest.WithCookie(ten.Admin.Cookie()), siteURL, 2},
		// key index; then user and site together
		{"member API key", apptest.WithAPIKey(ten.Member.APIKey()), memberURL, 2},
		// record, user and site together
		{"owner session", apptest.WithCookie(ten.Owner.Cookie()), memberURL, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.Clock.Advance(credcache.TTL) // nothing left from the previous case
			st, reads, _ := cost(e, "GET", c.url, c.cred, nil)
			if st != 200 || reads != c.firstReads {
				t.Fatalf("first request: %d with %d reads, want 200 with %d", st, reads, c.firstReads)
			}
			for range 3 {
				if st, reads, writes := cost(e, "GET", c.url, c.cred, nil); st != 200 || reads != 0 || writes != 0 {
					t.Fatalf("next request: %d with %d reads, %d writes; want 200 with none", st, reads, writes)
				}
			}
		})
	}
	t.Run("the refusal is as strict from memory", func(t *testing.T) {
		cred := apptest.WithAPIKey(ten.Stranger.APIKey())
		expect(t, e, "stranger", memberURL, cred, 403, -1)
		expect(t, e, "stranger again", memberURL, cred, 403, 0)
		expect(t, e, "member of site-a on the admin route", siteURL, apptest.WithAPIKey(ten.Member.APIKey()), 403, -1)
	})
}

// A cached grant lives at most credcache.TTL after the read it came from,
// however often it is used meanwhile.
func TestCachedGrantNeverOutlivesTheTTL(t *testing.T) {
	e := apptest.New(t, cacheRoutes)
	key := apptest.WithAPIKey(e.Admin().APIKey())
	expect(t, e, "fill", "/api/admin/test/admin", key, 200, 2)
	for _, d := range []time.Duration{5 * time.Second, 4*time.Second + 999*time.Millisecond} {
		e.Clock.Advance(d)
		expect(t, e, "within the TTL", "/api/admin/test/admin", key, 200, 0)
	}
	e.Clock.Advance(time.Millisecond) // TTL after the first read
	expect(t, e, "at the TTL", "/api/admin/test/admin", key, 200, 2)
}

// E50 on this instance: the revoked key is refused on the very next
// request. Another instance that had it in memory refuses it within the
// TTL, never later.
func TestRevokedKeyIsRefusedAtOnce(t *testing.T) {
	e := apptest.New(t, cacheRoutes, apikeys.Register)
	other := e.Instance(cacheRoutes, apikeys.Register)
	admin := e.Admin()
	raw := admin.APIKey()
	key := apptest.WithAPIKey(raw)
	keyID, _ := e.Doc("api_keys/" + guard.HashKey(raw))["keyId"].(string)
	for _, in := range []*apptest.Env{e, other} {
		expect(t, in, "before", "/api/admin/test/admin", key, 200, -1)
		expect(t, in, "before, from memory", "/api/admin/test/admin", key, 200, 0)
	}
	if r := e.Do("DELETE", "/api/admin/keys/revoke", apptest.WithCookie(admin.Cookie()), map[string]any{"keyId": keyID}, nil); r.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Raw)
	}
	expect(t, e, "next request on the revoking instance", "/api/admin/test/admin", key, 401, -1)
	expect(t, other, "other instance, inside the TTL", "/api/admin/test/admin", key, 200, 0)
	e.Clock.Advance(credcache.TTL - time.Millisecond)
	expect(t, other, "other instance, just inside the TTL", "/api/admin/test/admin", key, 200, 0)
	e.Clock.Advance(time.Millisecond)
	expect(t, other, "other instance at the TTL", "/api/admin/test/admin", key, 401, -1)
	expect(t, e, "revoking instance, later", "/api/admin/test/admin", key, 401, -1)
}

// E02 (sign-out) on this instance: the cookie is refused on the very next
// request; another instance refuses it within the TTL, never later.
func TestSignedOutSessionIsRefusedAtOnce(t *testing.T) {
	e := apptest.New(t, cacheRoutes, sessionfn.Register)
	other := e.Instance(cacheRoutes, sessionfn.Register)
	cookie := apptest.WithCookie(e.Admin().Cookie())
	for _, in := range []*apptest.Env{e, other} {
		expect(t, in, "before", "/api/admin/test/admin", cookie, 200, 1)
		expect(t, in, "before, from memory", "/api/admin/test/admin", cookie, 200, 0)
	}
	if r := e.Do("DELETE", "/api/auth/session", cookie, nil, nil); r.StatusCode != 200 {
		t.Fatalf("sign-out: %d %s", r.StatusCode, r.Raw)
	}
	expect(t, e, "next request on the signing-out instance", "/api/admin/test/admin", cookie, 401, -1)
	expect(t, other, "other instance, inside the TTL", "/api/admin/test/admin", cookie, 200, 0)
	e.Clock.Advance(credcache.TTL)
	expect(t, other, "other instance at the TTL", "/api/admin/test/admin", cookie, 401, -1)
}

// Enabling MFA revokes the user's other sessions (session.RevokeOthers):
// on this instance they are refused at once, the current one stays.
func TestRevokedOtherSessionsAreRefusedAtOnce(t *testing.T) {
	e := apptest.New(t, cacheRoutes)
	admin := e.Admin()
	keep, other := admin.Cookie(), admin.Cookie()
	for _, c := range []*http.Cookie{keep, other} {
		expect(t, e, "before", "/api/admin/test/admin", apptest.WithCookie(c), 200, -1)
	}
	pl := e.D.Sessions.Read(cookieRequest(keep))
	if err := e.D.Sessions.RevokeOthers(context.Background(), admin.UID, pl.SID); err != nil {
		t.Fatal(err)
	}
	expect(t, e, "revoked session", "/api/admin/test/admin", apptest.WithCookie(other), 401, -1)
	expect(t, e, "kept session", "/api/admin/test/admin", apptest.WithCookie(keep), 200, -1)
}

func cookieRequest(c *http.Cookie) *http.Request {
	r, _ := http.NewRequest("GET", "/", nil)
	r.AddCookie(c)
	return r
}

// A site assignment removed outside this server (the dashboard writes
// users/{uid} itself; no route of ours changes a role or assignment) stops
// granting within the TTL.
func TestMembershipChangeTakesEffectWithinTheTTL(t *testing.T) {
	e := apptest.New(t, cacheRoutes)
	ten := e.Tenancy("site-a", "site-b")
	url := "/api/admin/test/member?siteId=site-a"
	key := apptest.WithAPIKey(ten.Member.APIKey())
	unassign := func() {
		if _, err := e.FS.Collection("users").Doc(ten.Member.UID).Update(context.Background(), []firestore.Update{{Path: "sites", Value: []string{}}}); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, e, "assigned", url, key, 200, -1)
	unassign()
	expect(t, e, "inside the TTL", url, key, 200, 0)
	e.Clock.Advance(credcache.TTL)
	expect(t, e, "at the TTL", url, key, 403, -1)

	if _, err := e.FS.Collection("users").Doc(ten.Member.UID).Update(context.Background(), []firestore.Update{{Path: "sites", Value: []string{"site-a"}}}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(credcache.TTL)
	expect(t, e, "assigned again", url, key, 200, -1)
}

// What is not kept: sessions still waiting for their MFA step (they change
// when the code is verified, possibly on another instance), and the user
// of a Bearer ID token (whose mfaEnrolled decides whether a password-only
// token passes: enrolment counts at once).
func TestWhatIsNeverServedFromMemory(t *testing.T) {
	e := apptest.New(t, cacheRoutes)
	admin := e.Admin()
	t.Run("pending session", func(t *testing.T) {
		pending := apptest.WithCookie(admin.CookieWith(session.MFAPending))
		for range 2 {
			expect(t, e, "pending session", "/api/admin/test/pending", pending, 200, 1)
		}
	})
	t.Run("ID token", func(t *testing.T) {
		tok := apptest.WithBearer(admin.IDToken())
		for range 2 {
			expect(t, e, "ID token", "/api/admin/test/admin", tok, 200, 1)
		}
		admin.EnableMFA()
		expect(t, e, "password-only token after enrolment", "/api/admin/test/admin", tok, 403, 1)
	})
}

// A value that is not a key as keys are minted is refused without a
// lookup, the first time too.
func TestMalformedKeyCostsNoRead(t *testing.T) {
	e := apptest.New(t, cacheRoutes)
	for _, k := range []string{"owk_short", "owk_" + string(make([]byte, 43)), "owk_unknownunknownunknownunknownunknownunknown!"} {
		st, reads, writes := cost(e, "GET", "/api/admin/test/admin", apptest.WithAPIKey(k), nil)
		if st != 401 || reads+writes != 0 {
			t.Errorf("%q: %d with %d reads, %d writes; want 401 with none", k, st, reads, writes)
		}
	}
}
