package apikeys_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlette/server/functions/apikeys"
	"github.com/owlette/server/shared/apikey"
	"github.com/owlette/server/shared/apptest"
)

var keyFormat = regexp.MustCompile(`^owk_[A-Za-z0-9_-]{43}$`)

func TestCreateListRevoke(t *testing.T) {
	e := apptest.New(t, apikeys.Register)
	admin, other, member := e.Admin(), e.Admin(), e.Member()
	cookie := admin.Cookie()
	var key, keyID string

	e.Run(t, []apptest.Scenario{
		{Name: "create: no credential", Method: "POST", Path: "/api/admin/keys/create", Body: map[string]any{"name": "x"}, Status: 401},
		{Name: "create: member", Method: "POST", Path: "/api/admin/keys/create", Cred: apptest.WithCookie(member.Cookie()), Status: 403},
		{Name: "create: name not a string", Method: "POST", Path: "/api/admin/keys/create", Cred: apptest.WithCookie(cookie), Body: map[string]any{"name": 5}, Status: 400},
		{Name: "create: name too long", Method: "POST", Path: "/api/admin/keys/create", Cred: apptest.WithCookie(cookie), Body: map[string]any{"name": strings.Repeat("n", 101)}, Status: 400},
		{Name: "create: no body defaults the name", Method: "POST", Path: "/api/admin/keys/create", Cred: apptest.WithCookie(cookie), Status: 200,
			Want: map[string]any{"success": true, "name": "API Key"}},
		{Name: "create: malformed body is treated as empty", Method: "POST", Path: "/api/admin/keys/create", Cred: apptest.WithCookie(cookie), Body: apptest.Raw("{oops"), Status: 200,
			Want: map[string]any{"name": "API Key"}},
		{Name: "create", Method: "POST", Path: "/api/admin/keys/create", Cred: apptest.WithCookie(cookie), Body: map[string]any{"name": "CI"}, Status: 200,
			Want: map[string]any{"success": true, "name": "CI", "key": apptest.Present, "keyId": apptest.Present},
			Check: func(t *testing.T, r *apptest.Response) {
				key, keyID = r.JSON["key"].(string), r.JSON["keyId"].(string)
				if !keyFormat.MatchString(key) {
					t.Fatalf("key format: %q", key)
				}
				doc := e.Doc("users/" + admin.UID + "/api_keys/" + keyID)
				if doc["keyHash"] != apikey.Hash(key) || doc["keyPrefix"] != key[:11] || doc["name"] != "CI" || doc["lastUsedAt"] != nil {
					t.Errorf("key doc: %v", doc)
				}
				if _, ok := doc["createdAt"].(time.Time); !ok {
					t.Errorf("createdAt not a timestamp: %T", doc["createdAt"])
				}
				idx := e.Doc("api_keys/" + apikey.Hash(key))
				if idx["userId"] != admin.UID || idx["keyId"] != keyID {
					t.Errorf("index doc: %v", idx)
				}
			}},
	})

	t.Run("list with the new key", func(t *testing.T) {
		r := e.Do("GET", "/api/admin/keys", apptest.WithAPIKey(key), nil, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		keys := r.JSON["keys"].([]any)
		if len(keys) != 3 {
			t.Fatalf("want 3 keys, got %s", r.Raw)
		}
		first := keys[0].(map[string]any)
		if first["id"] != keyID || first["keyPrefix"] != key[:11] {
			t.Errorf("newest first: %v", first)
		}
		if _, ok := first["createdAt"].(map[string]any)["_seconds"]; !ok {
			t.Errorf("createdAt must be {_seconds,_nanoseconds}: %v", first["createdAt"])
		}
		if ms, ok := first["lastUsedAt"].(float64); !ok || int64(ms) != e.Clock.Now().UnixMilli() {
			t.Errorf("lastUsedAt = %v, want the request time in ms", first["lastUsedAt"])
		}
		for _, k := range keys {
			for _, secret := range []string{"key", "keyHash"} {
				if _, ok := k.(map[string]any)[secret]; ok {
					t.Errorf("list leaks %s", secret)
				}
			}
		}
		// Another admin sees only their own keys.
		if r := e.Do("GET", "/api/admin/keys", apptest.WithCookie(other.Cookie()), nil, nil); len(r.JSON["keys"].([]any)) != 0 {
			t.Errorf("other admin sees keys: %s", r.Raw)
		}
	})

	t.Run("lastUsedAt is written at most once a minute", func(t *testing.T) {
		idx := "api_keys/" + apikey.Hash(key)
		before := e.Doc(idx)["lastUsedAt"]
		e.Clock.Advance(30 * time.Second)
		e.Do("GET", "/api/admin/keys", apptest.WithAPIKey(key), nil, nil)
		if got := e.Doc(idx)["lastUsedAt"]; got != before {
			t.Errorf("written again after 30 s: %v → %v", before, got)
		}
		e.Clock.Advance(31 * time.Second)
		e.Do("GET", "/api/admin/keys", apptest.WithAPIKey(key), nil, nil)
		if got := e.Doc(idx)["lastUsedAt"]; got != e.Clock.Now().UnixMilli() {
			t.Errorf("not refreshed after a minute: %v", got)
		}
		if got := e.Doc("users/" + admin.UID + "/api_keys/" + keyID)["lastUsedAt"]; got != e.Clock.Now().UnixMilli() {
			t.Errorf("user key doc lastUsedAt: %v", got)
		}
	})

	e.Run(t, []apptest.Scenario{
		{Name: "revoke: no body", Method: "DELETE", Path: "/api/admin/keys/revoke", Cred: apptest.WithCookie(cookie), Status: 400},
		{Name: "revoke: keyId missing", Method: "DELETE", Path: "/api/admin/keys/revoke", Cred: apptest.WithCookie(cookie), Body: map[string]any{}, Status: 400,
			Want: map[string]any{"error": "Missing required field: keyId"}},
		{Name: "revoke: keyId wrong type", Method: "DELETE", Path: "/api/admin/keys/revoke", Cred: apptest.WithCookie(cookie), Body: map[string]any{"keyId": 7}, Status: 400},
		{Name: "revoke: malformed JSON", Method: "DELETE", Path: "/api/admin/keys/revoke", Cred: apptest.WithCookie(cookie), Body: apptest.Raw(`{"keyId":`), Status: 400},
		{Name: "revoke: huge body", Method: "DELETE", Path: "/api/admin/keys/revoke", Cred: apptest.WithCookie(cookie), Body: apptest.Raw(`{"keyId":"` + strings.Repeat("k", 2<<20) + `"}`), Status: 413},
		{Name: "create: huge body", Method: "POST", Path: "/api/admin/keys/create", Cred: apptest.WithCookie(cookie), Body: apptest.Raw(`{"name":"` + strings.Repeat("n", 2<<20) + `"}`), Status: 413},
		{Name: "revoke: unknown key", Method: "DELETE", Path: "/api/admin/keys/revoke", Cred: apptest.WithCookie(cookie), Body: map[string]any{"keyId": "nope"}, Status: 404},
		{Name: "revoke: invalid id", Method: "DELETE", Path: "/api/admin/keys/revoke", Cred: apptest.WithCookie(cookie), Body: map[string]any{"keyId": "__x__"}, Status: 404},
		{Name: "revoke: another admin's key", Method: "DELETE", Path: "/api/admin/keys/revoke", Cred: apptest.WithCookie(other.Cookie()), Body: map[string]any{"keyId": "placeholder"}, Status: 404},
	})
	t.Run("revoke", func(t *testing.T) {
		if r := e.Do("DELETE", "/api/admin/keys/revoke", apptest.WithCookie(other.Cookie()), map[string]any{"keyId": keyID}, nil); r.StatusCode != 404 {
			t.Fatalf("another admin revoked the key: %d", r.StatusCode)
		}
		r := e.Do("DELETE", "/api/admin/keys/revoke", apptest.WithCookie(cookie), map[string]any{"keyId": keyID}, nil)
		if r.StatusCode != 200 || r.JSON["success"] != true {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if e.Doc("users/"+admin.UID+"/api_keys/"+keyID) != nil || e.Doc("api_keys/"+apikey.Hash(key)) != nil {
			t.Error("key documents remain")
		}
		if r := e.Do("GET", "/api/admin/keys", apptest.WithAPIKey(key), nil, nil); r.StatusCode != 401 {
			t.Errorf("revoked key still works: %d", r.StatusCode)
		}
	})
}

func TestKeyLimit(t *testing.T) {
	e := apptest.New(t, apikeys.Register)
	admin := e.Admin()
	b := e.FS.Batch()
	for i := 0; i < apikeys.MaxKeysPerUser; i++ {
		b.Set(e.FS.Doc(fmt.Sprintf("users/%s/api_keys/k%d", admin.UID, i)), map[string]any{"name": "k"})
	}
	if _, err := b.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.Do("POST", "/api/admin/keys/create", apptest.WithCookie(admin.Cookie()), nil, nil)
	if r.StatusCode != 409 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	if n := e.Count("api_keys"); n != 0 {
		t.Errorf("index docs written: %d", n)
	}
}

// TestParallelCreatesCannotPassTheKeyLimit is the check-then-create race of
// DECISIONS §3: a user 3 keys below the limit sends 20 creates at once; at
// most 3 succeed, the rest are refused, and the count stays exact for the
// next create after a revoke.
func TestParallelCreatesCannotPassTheKeyLimit(t *testing.T) {
	e := apptest.New(t, apikeys.Register)
	admin := e.Admin()
	b := e.FS.Batch()
	for i := 0; i < apikeys.MaxKeysPerUser-3; i++ {
		b.Set(e.FS.Doc(fmt.Sprintf("users/%s/api_keys/k%d", admin.UID, i)), map[string]any{"name": "k"})
	}
	if _, err := b.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	cookie := admin.Cookie()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var created []string
	for range 20 {
		wg.Go(func() {
			r := e.Do("POST", "/api/admin/keys/create", apptest.WithCookie(cookie), nil, nil)
			mu.Lock()
			defer mu.Unlock()
			statuses[r.StatusCode]++
			if r.StatusCode == 200 {
				created = append(created, r.JSON["keyId"].(string))
			}
		})
	}
	wg.Wait()
	if statuses[200] != 3 || statuses[200]+statuses[409]+statuses[503] != 20 {
		t.Fatalf("statuses %v: want exactly 3 created and the rest refused", statuses)
	}
	if n := e.Count("users/" + admin.UID + "/api_keys"); n != apikeys.MaxKeysPerUser {
		t.Fatalf("%d keys, want %d", n, apikeys.MaxKeysPerUser)
	}
	if r := e.Do("DELETE", "/api/admin/keys/revoke", apptest.WithCookie(cookie), map[string]any{"keyId": created[0]}, nil); r.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Raw)
	}
	if r := e.Do("POST", "/api/admin/keys/create", apptest.WithCookie(cookie), nil, nil); r.StatusCode != 200 {
		t.Fatalf("create after a revoke: %d %s", r.StatusCode, r.Raw)
	}
	if r := e.Do("POST", "/api/admin/keys/create", apptest.WithCookie(cookie), nil, nil); r.StatusCode != 409 {
		t.Fatalf("create at the limit: %d %s", r.StatusCode, r.Raw)
	}
}
