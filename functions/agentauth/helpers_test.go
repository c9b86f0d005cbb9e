package agentauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

// fixture is one Env serving agentauth with a site, its owner, an assigned
// member, a member of another site and an admin.
type fixture struct {
	*apptest.Env
	site                          string
	owner, member, stranger, admn *apptest.User
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	e := apptest.New(t, Register)
	// Site ids are unique because agent users live in the shared Auth emulator.
	site, other := testenv.UniqueID("site-"), testenv.UniqueID("other-")
	f := &fixture{Env: e, site: site}
	f.owner, f.member, f.stranger, f.admn = e.Member(), e.Member(site), e.Member(other), e.Admin()
	e.Site(site, f.owner.UID)
	e.Site(other, "")
	return f
}

// withMinter rebuilds the handler around another Minter.
func (f *fixture) withMinter(m *agenttoken.Minter) {
	f.H = app.Build(f.D, func(rt *app.Router) { register(rt, m) })
}

// buildWith serves the routes of a hand-made handlers value.
func buildWith(f *fixture, h *handlers) http.Handler {
	return app.Build(f.D, func(rt *app.Router) { route(rt, h) })
}

// code stores a registration code as E16 would, then applies changes
// (a nil value deletes the field).
func (f *fixture) code(t testing.TB, changes map[string]any) string {
	t.Helper()
	code, _ := agenttoken.NewRegistrationCode()
	data := map[string]any{
		"siteId": f.site, "createdBy": f.member.UID, "createdAt": f.Clock.Now(),
		"expiresAt": f.Clock.Now().Add(24 * time.Hour), "used": false, "status": "pending",
	}
	for k, v := range changes {
		if v == nil {
			delete(data, k)
		} else {
			data[k] = v
		}
	}
	if _, err := f.FS.Collection(agenttoken.RegistrationCodes).Doc(code).Set(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	return code
}

// refreshToken stores a refresh token for machine of the fixture's site.
func (f *fixture) refreshToken(t testing.TB, machine string, changes map[string]any) string {
	t.Helper()
	tok, ref, _ := agenttoken.NewRefreshToken(f.FS)
	data := agenttoken.RefreshData(agenttoken.NewIdentity(f.site, machine, "2.0.0"), f.member.UID)
	for k, v := range changes {
		if v == nil {
			delete(data, k)
		} else {
			data[k] = v
		}
	}
	if _, err := ref.Set(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	return tok
}

// agentToken is a real agent ID token of a site.
func (f *fixture) agentToken(site string) string {
	return f.IDTokenFor(agenttoken.UID(site, "CRED-HOST"), map[string]any{"role": "agent", "site_id": site, "machine_id": "CRED-HOST", "version": "1"})
}

// verify checks an access token with the Admin SDK and returns its claims.
func (f *fixture) verify(t testing.TB, idToken string) *auth.Token {
	t.Helper()
	tok, err := f.D.Auth.VerifyIDToken(context.Background(), idToken)
	if err != nil {
		t.Fatalf("access token does not verify: %v", err)
	}
	return tok
}

// wantClaims asserts an access token's uid and claims.
func (f *fixture) wantClaims(t testing.TB, idToken, site, machine, version string) {
	t.Helper()
	tok := f.verify(t, idToken)
	if tok.UID != agenttoken.UID(site, machine) {
		t.Errorf("uid %q, want %q", tok.UID, agenttoken.UID(site, machine))
	}
	for k, want := range map[string]string{"role": "agent", "site_id": site, "machine_id": machine, "version": version} {
		if got := tok.Claims[k]; got != want {
			t.Errorf("claim %s = %v, want %q", k, got, want)
		}
	}
}

// docs lists the ids of a collection.
func (f *fixture) docs(t testing.TB, coll string) []string {
	t.Helper()
	snaps, err := f.FS.Collection(coll).Documents(context.Background()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range snaps {
		ids = append(ids, s.Ref.ID)
	}
	sort.Strings(ids)
	return ids
}

// parallel sends n identical requests at once and returns their statuses.
func (f *fixture) parallel(n int, method, path string, cred apptest.Cred, body any) []*apptest.Response {
	out := make([]*apptest.Response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f.Do(method, path, cred, body, nil)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func statuses(rs []*apptest.Response) map[int]int {
	m := map[int]int{}
	for _, r := range rs {
		m[r.StatusCode]++
	}
	return m
}

// failingToolkit is a loopback Identity Toolkit answering 500 to even
// requests and closing the connection on odd ones.
func failingToolkit(t testing.TB) string {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		odd := n%2 == 1
		mu.Unlock()
		if odd {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		http.Error(w, `{"error":{"code":500,"message":"INTERNAL_ERROR"}}`, 500)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// isTime reports a stored timestamp.
func isTime(v any) bool { _, ok := v.(time.Time); return ok }
