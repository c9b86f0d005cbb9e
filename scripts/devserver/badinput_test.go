package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/owlette/server/shared/pairphrase"
	"github.com/owlette/server/shared/web"
)

// extraParams are query parameters some routes read besides walkQuery's.
var extraParams = []string{"action", "level", "since", "search", "tier", "provider", "token", "chatId", "keyId", "tokenId", "processId", "template"}

// badVariant is one malformed request to a route.
type badVariant struct {
	name  string
	path  string // escaped
	query string // raw query
	body  []byte // nil: the route's valid body (or none for GET)
}

// badVariants lists, for route r with a valid query q and body b: invalid
// UTF-8 (escaped and raw) and oversized values in every query parameter,
// ids that cannot exist in every path wildcard, and in the body every field
// with a wrong type or an oversized value, plus bodies that are not objects.
func badVariants(r walkRoute, q url.Values, b map[string]any) []badVariant {
	var out []badVariant
	valid := q.Encode()
	names := append(sortedKeys(q), extraParams...)
	for _, n := range names {
		with := func(v string) string {
			c := url.Values{}
			for k, vs := range q {
				c[k] = vs
			}
			c.Set(n, v)
			return c.Encode()
		}
		out = append(out,
			badVariant{name: "query " + n + " invalid UTF-8", path: r.path, query: with("\xff\xfe")},
			badVariant{name: "query " + n + " 1,600 bytes", path: r.path, query: with(strings.Repeat("a", 1600))},
			badVariant{name: "query " + n + " 20,000 bytes", path: r.path, query: with(strings.Repeat("7", 20_000))},
		)
	}
	out = append(out,
		badVariant{name: "raw bytes in the query", path: r.path, query: valid + "&siteId=\xff\xfe&machineId=\xfe"},
		badVariant{name: "malformed escape in the query", path: r.path, query: valid + "&siteId=%zz"},
	)
	for _, w := range r.wildcards {
		for name, v := range map[string]string{"invalid UTF-8": "%FF%FE", "1,600 bytes": strings.Repeat("b", 1600), "reserved id": "__x__", "slash": "a%2Fb", "dot-dot": ".."} {
			out = append(out, badVariant{name: "path " + w + " " + name, path: strings.Replace(r.path, "walker-"+w, v, 1), query: valid})
		}
	}
	if r.method == http.MethodGet {
		return out
	}
	enc := func(m any) []byte { j, _ := json.Marshal(m); return j }
	for _, k := range sortedKeys(b) {
		with := func(v any) []byte {
			c := map[string]any{}
			for kk, vv := range b {
				c[kk] = vv
			}
			c[k] = v
			return enc(c)
		}
		wrong := any(12345)
		switch b[k].(type) {
		case float64, int, bool:
			wrong = "not-a-number"
		case []string, []any:
			wrong = map[string]any{"x": 1}
		}
		out = append(out,
			badVariant{name: "body " + k + " wrong type", path: r.path, query: valid, body: with(wrong)},
			badVariant{name: "body " + k + " object", path: r.path, query: valid, body: with(map[string]any{"$gt": ""})},
			badVariant{name: "body " + k + " 9,000 bytes", path: r.path, query: valid, body: with(strings.Repeat("c", 9000))},
			badVariant{name: "body " + k + " 20,000 bytes", path: r.path, query: valid, body: with(strings.Repeat("d", 20_000))},
			badVariant{name: "body " + k + " invalid UTF-8", path: r.path, query: valid, body: []byte(strings.Replace(string(with("X")), `"X"`, "\"\xff\xfe\"", 1))},
			badVariant{name: "body " + k + " list of 10,000", path: r.path, query: valid, body: with(make([]int, 10_000))},
		)
	}
	out = append(out,
		badVariant{name: "body not an object", path: r.path, query: valid, body: []byte(`[1,2,3]`)},
		badVariant{name: "body malformed", path: r.path, query: valid, body: []byte(`{"siteId":`)},
		badVariant{name: "body with a 900,000-byte string", path: r.path, query: valid, body: enc(map[string]any{"siteId": b["siteId"], "machineId": b["machineId"], "processName": strings.Repeat("p", 900_000), "installer_name": strings.Repeat("i", 900_000)})},
		badVariant{name: "body over 1 MiB", path: r.path, query: valid, body: enc(map[string]any{"siteId": "x", "pad": strings.Repeat("e", 1<<20)})},
		badVariant{name: "body with a 2,000-byte field name", path: r.path, query: valid, body: enc(map[string]any{strings.Repeat("k", 2000): "v"})},
	)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestBadInputEverywhere sends malformed requests to every registered route
// with a credential its guard accepts (DECISIONS §3 "Input never reaches
// Firestore unchecked"): invalid UTF-8 and oversized values in every id and
// query parameter and in every body field, wrong types, ids that cannot
// exist. No answer may be a 5xx, every error is JSON with an "error"
// message, and every answer comes within the route's deadline.
func TestBadInputEverywhere(t *testing.T) {
	e := walkEnv(t)
	admin := e.User("admin", "walker-site")
	site := e.Site("walker-site", admin.UID)
	adminKey := admin.APIKey()
	agent := e.AgentToken(site, "walker-machine")
	phrase, err := pairphrase.Generate()
	if err != nil {
		t.Fatal(err)
	}
	q := walkQuery(site, admin.UID)
	b := walkBody(site, admin.UID, admin.Email, phrase)
	valid, _ := json.Marshal(b)

	var mu sync.Mutex
	sent, statuses := 0, map[int]int{}
	for _, r := range allRoutes(t, e) {
		t.Run(r.pattern, func(t *testing.T) {
			t.Parallel()
			cred := credFor(r.route.Guard, admin, adminKey, agent, e)
			for _, v := range badVariants(r, q, b) {
				body := v.body
				if body == nil && r.method != http.MethodGet {
					body = valid
				}
				req := walkRequest(r, v.path, v.query, body)
				cred(req)
				res, took := serve(r, req)
				mu.Lock()
				sent++
				statuses[res.StatusCode]++
				mu.Unlock()
				where := fmt.Sprintf("%s: %d %.200s", v.name, res.StatusCode, res.Raw)
				if res.StatusCode >= 500 {
					t.Errorf("%s", where)
				}
				if res.StatusCode >= 400 {
					if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Errorf("%s: content type %q", where, ct)
					}
					if msg, _ := res.JSON["error"].(string); msg == "" {
						t.Errorf("%s: no error message", where)
					}
				}
				if took > r.route.Deadline {
					t.Errorf("%s: answered after %v (deadline %v)", where, took, r.route.Deadline)
				}
			}
		})
	}
	t.Cleanup(func() {
		t.Logf("%d malformed requests: statuses %v (deadline %v)", sent, statuses, web.DefaultDeadline)
	})
}
