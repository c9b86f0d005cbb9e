package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type sample struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	Inner struct {
		On bool `json:"on"`
	} `json:"inner"`
}

func (s sample) Validate() error { return Required("name", s.Name) }

func TestDecode(t *testing.T) {
	cases := []struct {
		name, body string
		limit      int64
		status     int
		msg        string
	}{
		{"valid, unknown fields ignored", `{"name":"a","count":2,"extra":{"x":1}}`, 0, 0, ""},
		{"empty", ``, 0, 400, "Request body is empty: expected a JSON object"},
		{"whitespace only", "  \n", 0, 400, "Request body is empty"},
		{"truncated", `{"name":"a"`, 0, 400, "Malformed JSON: the body ends before the value is complete"},
		{"syntax", `{"name":}`, 0, 400, "Malformed JSON at byte"},
		{"wrong type", `{"name":"a","count":"two"}`, 0, 400, `Field "count" must be a number, not string`},
		{"wrong nested type", `{"name":"a","inner":{"on":"yes"}}`, 0, 400, `Field "inner.on" must be a boolean, not string`},
		{"array for object", `[1]`, 0, 400, "Request body must be a JSON object, not array"},
		{"string array element", `{"name":"a","tags":[1]}`, 0, 400, `Field "tags" must be a string, not number`},
		{"two values", `{"name":"a"}{"name":"b"}`, 0, 400, "single JSON value"},
		{"validation", `{"count":1}`, 0, 400, "Missing required field: name"},
		{"too large", `{"name":"` + strings.Repeat("x", 100) + `"}`, 50, 413, "Request body too large (limit 50 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			limit := c.limit
			if limit == 0 {
				limit = DefaultMaxBody
			}
			var dst sample
			err := DecodeLimit(httptest.NewRecorder(), r, &dst, limit)
			if c.status == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if dst.Name != "a" || dst.Count != 2 {
					t.Errorf("decoded %+v", dst)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *web.Error", err)
			}
			if e.Status != c.status || !strings.Contains(e.Message, c.msg) {
				t.Errorf("got %d %q, want %d containing %q", e.Status, e.Message, c.status, c.msg)
			}
		})
	}
}

func TestDecodeOptional(t *testing.T) {
	var dst struct {
		Name string `json:"name"`
	}
	for _, body := range []string{"", "{oops", "[]"} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		if err := DecodeOptional(httptest.NewRecorder(), r, &dst); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
	r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat(" ", DefaultMaxBody+10)+"{}"))
	if err := DecodeOptional(httptest.NewRecorder(), r, &dst); AsError(err).Status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized optional body: %v", err)
	}
}

func TestRenderErrorHidesCause(t *testing.T) {
	w := httptest.NewRecorder()
	RenderError(w, httptest.NewRequest("GET", "/", nil), Internal(errors.New("database password is hunter2")))
	if w.Code != 500 || strings.Contains(w.Body.String(), "hunter2") || !strings.Contains(w.Body.String(), `"error":"Internal server error"`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	RenderError(w, httptest.NewRequest("GET", "/", nil), BadRequest("nope").With("success", false))
	if w.Body.String() != `{"error":"nope","success":false}` {
		t.Errorf("body %s", w.Body)
	}
}
