package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/owlette/server/shared/apptest"
)

func TestRouterAndSeed(t *testing.T) {
	e := apptest.New(t)
	ctx := context.Background()
	first, err := Seed(ctx, e.D)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Seed(ctx, e.D)
	if err != nil {
		t.Fatal(err)
	}
	if info.AdminUID != first.AdminUID {
		t.Errorf("seed is not idempotent: admin %s then %s", first.AdminUID, info.AdminUID)
	}
	if n := e.Count("users/" + info.AdminUID + "/api_keys"); n != 1 {
		t.Errorf("%d demo keys after two seeds, want 1", n)
	}
	h := NewRouter(e.D)
	do := func(method, path, key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		if key != "" {
			r.Header.Set("x-api-key", key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("GET", "/api/admin/sites", info.APIKey); w.Code != 200 || !strings.Contains(w.Body.String(), SiteID) {
		t.Errorf("sites with the printed key: %d %s", w.Code, w.Body)
	}
	if w := do("GET", "/api/admin/sites", first.APIKey); w.Code != http.StatusUnauthorized {
		t.Errorf("the replaced demo key still works: %d", w.Code)
	}
	if w := do("GET", "/api/nothing/here", ""); w.Code != 404 || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("unknown path: %d %s", w.Code, w.Body)
	}
	if w := do("GET", "/api/auth/session", ""); w.Code != 200 {
		t.Errorf("session status: %d", w.Code)
	}
	banner := info.Banner("http://127.0.0.1:18080", "")
	if !strings.Contains(banner, "http://127.0.0.1:18080/api/docs") {
		t.Errorf("banner lacks the docs link:\n%s", banner)
	}
	if !strings.Contains(banner, "curl -s -H 'x-api-key: "+info.APIKey+"' http://127.0.0.1:18080/api/admin/sites") {
		t.Errorf("banner lacks the curl line:\n%s", banner)
	}
}
