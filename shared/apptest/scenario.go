package apptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// Cred attaches a credential to a request.
type Cred func(*http.Request)

// NoCred sends no credential.
func NoCred(*http.Request) {}

// WithCookie sends a session cookie.
func WithCookie(c *http.Cookie) Cred { return func(r *http.Request) { r.AddCookie(c) } }

// WithAPIKey sends an API key in x-api-key.
func WithAPIKey(k string) Cred { return func(r *http.Request) { r.Header.Set("x-api-key", k) } }

// WithBearer sends "Authorization: Bearer tok".
func WithBearer(tok string) Cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// Raw marks a request body to be sent verbatim.
type Raw string

// Override returns a copy of base with key/value pairs applied: a nil value
// deletes the key. Bad-input tables vary one field of a valid body with it.
func Override(base map[string]any, kv ...any) map[string]any {
	b := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(b, kv[i].(string))
		} else {
			b[kv[i].(string)] = kv[i+1]
		}
	}
	return b
}

// Scenario is one request and what must come of it.
type Scenario struct {
	Name   string
	Method string
	Path   string
	Cred   Cred
	Body   any // nil: no body; Raw: verbatim; otherwise JSON-encoded
	Header map[string]string
	// Status is the expected status code.
	Status int
	// Want maps dotted JSON paths ("keys.0.name") to expected values; the
	// value Present only checks that the path exists.
	Want map[string]any
	// Absent lists paths that must not be in the body.
	Absent []string
	// Check inspects the response and the Firestore side effects.
	Check func(t *testing.T, r *Response)
}

// Present matches any value at a path.
var Present = struct{ present bool }{true}

// Response is a recorded response with its decoded JSON body.
type Response struct {
	*http.Response
	Raw  []byte
	JSON map[string]any
}

// Get returns the value at a dotted path.
func (r *Response) Get(path string) (any, bool) { return lookup(r.JSON, path) }

// Do sends one request to the Env's handler.
func (e *Env) Do(method, path string, cred Cred, body any, header map[string]string) *Response {
	e.T.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case Raw:
		raw = []byte(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.fatalf("encode body: %v", err)
		}
		raw = j
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	// A distinct client address per request keeps the per-IP rate limits
	// out of tests that are not about them.
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", nextIP()))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if cred != nil {
		cred(req)
	}
	rec := httptest.NewRecorder()
	e.H.ServeHTTP(rec, req)
	res := rec.Result()
	got, _ := io.ReadAll(res.Body)
	out := &Response{Response: res, Raw: got}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(got, &out.JSON)
	}
	e.checkContract(req, raw, out)
	return out
}

var ipCounter = make(chan int, 1)

func init() { ipCounter <- 0 }

func nextIP() int {
	n := <-ipCounter
	ipCounter <- n + 1
	return n%250 + 1
}

// Run executes scenarios as subtests.
func (e *Env) Run(t *testing.T, scenarios []Scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			res := e.Do(sc.Method, sc.Path, sc.Cred, sc.Body, sc.Header)
			if res.StatusCode != sc.Status {
				t.Fatalf("%s %s: status %d, want %d; body %s", sc.Method, sc.Path, res.StatusCode, sc.Status, res.Raw)
			}
			if res.StatusCode >= 400 {
				if msg, _ := res.JSON["error"].(string); msg == "" {
					t.Errorf("error response without an \"error\" message: %s", res.Raw)
				}
			}
			for path, want := range sc.Want {
				got, ok := res.Get(path)
				if !ok {
					t.Errorf("body has no %q: %s", path, res.Raw)
					continue
				}
				if want == Present {
					continue
				}
				if !equalJSON(got, want) {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			for _, path := range sc.Absent {
				if _, ok := res.Get(path); ok {
					t.Errorf("body must not have %q: %s", path, res.Raw)
				}
			}
			if sc.Check != nil {
				sc.Check(t, res)
			}
		})
	}
}

func lookup(v any, path string) (any, bool) {
	cur := v
	for _, part := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[part]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// equalJSON compares a decoded JSON value with an expectation written in Go.
func equalJSON(got, want any) bool {
	b, err := json.Marshal(want)
	if err != nil {
		return false
	}
	var w any
	_ = json.Unmarshal(b, &w)
	return reflect.DeepEqual(got, w)
}
