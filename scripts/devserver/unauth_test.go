package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/api/iterator"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/iron"
	"github.com/owlette/server/shared/session"
)

// TestUnauthenticatedCostsNothing sends 300 requests without a valid
// credential, each from its own X-Forwarded-For address, round-robin over
// every route that needs a credential and over the kinds of credential a
// caller may present (none, a forged or revoked session cookie, an unknown
// API key, a forged bearer token, a wrong internal or cron secret). None may
// succeed, none may write to Firestore (no document appears in the fresh
// project: the rate limits of such callers live in memory), and each may
// cost at most the one lookup of what it presented (DECISIONS §3
// "Unauthenticated traffic is cheap").
func TestUnauthenticatedCostsNothing(t *testing.T) {
	e := apptest.New(t)
	var guarded []walkRoute
	for _, r := range allRoutes(t, e) {
		if r.route.Guard.String() != "public" {
			guarded = append(guarded, r)
		}
	}
	// A well-sealed cookie whose session record does not exist (revoked or
	// never created): the server can only tell by looking it up.
	sealer, err := iron.NewSealer(apptest.SessionSecret)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(session.Payload{UserID: "nobody", ExpiresAt: e.Clock.Now().Add(time.Hour).UnixMilli(), SID: "revoked-session"})
	revoked, err := sealer.Seal(payload, session.SealTTL, e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	creds := []struct {
		name string
		set  func(*http.Request, walkRoute)
	}{
		{"none", func(*http.Request, walkRoute) {}},
		{"forged cookie", func(r *http.Request, _ walkRoute) {
			r.AddCookie(&http.Cookie{Name: session.CookieName, Value: "Fe26.2*1*forged*forged*forged*1*forged*forged~2"})
		}},
		{"revoked session", func(r *http.Request, _ walkRoute) {
			r.AddCookie(&http.Cookie{Name: session.CookieName, Value: revoked})
		}},
		{"unknown API key", func(r *http.Request, _ walkRoute) {
			r.Header.Set("X-Api-Key", "owk_unknownunknownunknownunknownunknownunknown1")
		}},
		{"forged bearer", func(r *http.Request, _ walkRoute) {
			r.Header.Set("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
		}},
		{"wrong secrets", func(r *http.Request, w walkRoute) {
			if h := w.route.Guard.Header(); h != "" {
				r.Header.Set(h, "wrong-secret")
			}
			r.Header.Set(guard.CronSecretHeader, "wrong-secret")
		}},
	}
	e.RPCs.Reset()
	statuses := map[int]int{}
	const n = 300
	for i := range n {
		r := guarded[i%len(guarded)]
		c := creds[(i/len(guarded)+i)%len(creds)]
		var body []byte
		if r.method != http.MethodGet {
			body = []byte(`{"siteId":"walker-site","machineId":"m","userId":"nobody"}`)
		}
		req := walkRequest(r, r.path, "siteId=walker-site&machineId=m&userId=nobody", body)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.%d.%d", i/250, i%250+1))
		c.set(req, r)
		reads := e.RPCs.Reads()
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		statuses[w.Code]++
		if w.Code < 400 {
			t.Errorf("%s with %s: %d %s", r.pattern, c.name, w.Code, w.Body)
		}
		if got := e.RPCs.Reads() - reads; got > 1 {
			t.Errorf("%s with %s: %d read RPCs, want at most 1", r.pattern, c.name, got)
		}
	}
	if w := e.RPCs.Writes(); w != 0 {
		t.Errorf("%d write RPCs for %d requests without a valid credential: %v", w, n, e.RPCs.Snapshot())
	}
	docs := 0
	cols := e.FS.Collections(context.Background())
	for {
		col, err := cols.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all, err := col.Documents(context.Background()).GetAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range all {
			t.Errorf("document written: %s", d.Ref.Path)
		}
		docs += len(all)
	}
	t.Logf("%d requests over %d routes, 300 addresses: statuses %v, %d read RPCs, %d documents", n, len(guarded), statuses, e.RPCs.Reads(), docs)
}
