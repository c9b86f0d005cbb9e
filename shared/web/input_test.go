package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClientAddr(t *testing.T) {
	tests := []struct {
		name   string
		c      ClientAddr
		remote string
		xff    []string
		header map[string]string
		want   string
	}{
		{"direct peer by default", ClientAddr{}, "192.0.2.7:5555", []string{"203.0.113.9"}, nil, "192.0.2.7"},
		{"one trusted hop: the last entry", ClientAddr{Hops: 1}, "10.0.0.1:1", []string{"6.6.6.6, 203.0.113.9"}, nil, "203.0.113.9"},
		{"Hosting → Cloud Run: two hops", ClientAddr{Hops: 2}, "10.0.0.1:1", []string{"6.6.6.6, 203.0.113.9, 35.191.0.1"}, nil, "203.0.113.9"},
		{"a spoofed first entry is ignored", ClientAddr{Hops: 2}, "10.0.0.1:1", []string{"1.2.3.4, 5.6.7.8, 203.0.113.9, 35.191.0.1"}, nil, "203.0.113.9"},
		{"entries spread over header lines", ClientAddr{Hops: 2}, "10.0.0.1:1", []string{"6.6.6.6", "203.0.113.9, 35.191.0.1"}, nil, "203.0.113.9"},
		{"fewer entries than hops: the nearest one", ClientAddr{Hops: 2}, "10.0.0.1:1", []string{"203.0.113.9"}, nil, "203.0.113.9"},
		{"no header: the peer", ClientAddr{Hops: 2}, "198.51.100.3:80", nil, nil, "198.51.100.3"},
		{"garbage entry: the peer", ClientAddr{Hops: 1}, "198.51.100.3:80", []string{"not-an-ip"}, nil, "198.51.100.3"},
		{"ipv6 and mapped", ClientAddr{Hops: 1}, "10.0.0.1:1", []string{"::ffff:203.0.113.9"}, nil, "203.0.113.9"},
		{"bracketed ipv6", ClientAddr{Hops: 1}, "10.0.0.1:1", []string{"[2001:db8::1]"}, nil, "2001:db8::1"},
		{"front-end header wins", ClientAddr{Hops: 2, Header: "Fastly-Client-IP"}, "10.0.0.1:1", []string{"1.1.1.1, 2.2.2.2"}, map[string]string{"Fastly-Client-IP": "203.0.113.50"}, "203.0.113.50"},
		{"invalid front-end header falls back", ClientAddr{Hops: 1, Header: "Fastly-Client-IP"}, "10.0.0.1:1", []string{"203.0.113.9"}, map[string]string{"Fastly-Client-IP": "x"}, "203.0.113.9"},
		{"nothing usable", ClientAddr{}, "pipe", nil, nil, "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			if got := tc.c.Resolve(r); got != tc.want {
				t.Fatalf("Resolve = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckInput(t *testing.T) {
	tests := []struct {
		name, target string
		wild         map[string]string
		status       int
		msg          string
	}{
		{"plain", "/x?siteId=a&machineId=b", nil, 0, ""},
		{"escaped invalid UTF-8 value", "/x?siteId=%FF%FE", nil, 400, `Parameter "siteId" is not valid UTF-8`},
		{"raw invalid UTF-8 value", "/x?machineId=\xff\xfe", nil, 400, `Parameter "machineId" is not valid UTF-8`},
		{"invalid UTF-8 name", "/x?%FF=1", nil, 400, "parameter name is not valid UTF-8"},
		{"value over 1,500 bytes", "/x?siteId=" + strings.Repeat("a", 1501), nil, 400, `Parameter "siteId" is too long (limit 1500 bytes)`},
		{"value of 1,500 bytes", "/x?action=" + strings.Repeat("a", 1500), nil, 0, ""},
		{"malformed escape", "/x?siteId=%zz", nil, 400, "Malformed query string"},
		{"URL too long", "/x?q=" + strings.Repeat("a", MaxURLBytes), nil, 414, "Request URL too long"},
		{"path id", "/x", map[string]string{"deploymentId": "deploy-1"}, 0, ""},
		{"path id invalid UTF-8", "/x", map[string]string{"deploymentId": "\xff"}, 404, "deploymentId is not a valid id"},
		{"path id reserved", "/x", map[string]string{"deploymentId": "__x__"}, 404, "not a valid id"},
		{"path id too long", "/x", map[string]string{"deploymentId": strings.Repeat("d", 1501)}, 404, "not a valid id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x", nil)
			if i := strings.IndexByte(tc.target, '?'); i >= 0 {
				r.URL.RawQuery = tc.target[i+1:]
			}
			var names []string
			for k, v := range tc.wild {
				r.SetPathValue(k, v)
				names = append(names, k)
			}
			err := CheckInput(r, names)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e := AsError(err)
			if e.Status != tc.status || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("got %d %q, want %d containing %q", e.Status, e.Message, tc.status, tc.msg)
			}
		})
	}
	if got := Wildcards("PATCH /api/admin/processes/{processId}/launch-mode"); len(got) != 1 || got[0] != "processId" {
		t.Errorf("Wildcards = %v", got)
	}
	if got := Wildcards("GET /api/docs/{path...}"); len(got) != 0 {
		t.Errorf("Wildcards = %v", got)
	}
}

func TestDecodeFieldCaps(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type req struct {
		SiteID     string         `json:"siteId"`
		MachineIDs []string       `json:"machineIds"`
		Note       string         `json:"note"`
		Long       string         `json:"long" max:"20000"`
		Nested     inner          `json:"nested"`
		Any        map[string]any `json:"any"`
		Raw        json.RawMessage
	}
	tests := []struct {
		name, body, msg string
	}{
		{"ok", `{"siteId":"s","note":"n","long":"` + strings.Repeat("l", 19000) + `","raw":"` + strings.Repeat("r", 30000) + `"}`, ""},
		{"default cap", `{"note":"` + strings.Repeat("n", MaxStringBytes+1) + `"}`, `Field "note" is too long (limit 8192 bytes)`},
		{"raised cap", `{"long":"` + strings.Repeat("l", 20001) + `"}`, `Field "long" is too long (limit 20000 bytes)`},
		{"id over 1,500 bytes", `{"siteId":"` + strings.Repeat("s", 1501) + `"}`, `Field "siteId" is too long (limit 1500 bytes)`},
		{"id in a list", `{"machineIds":["a","` + strings.Repeat("m", 1501) + `"]}`, `Field "machineIds" is too long`},
		{"nested", `{"nested":{"name":"` + strings.Repeat("n", MaxStringBytes+1) + `"}}`, `Field "name" is too long`},
		{"inside a dynamic object", `{"any":{"deep":[{"x":"` + strings.Repeat("x", MaxStringBytes+1) + `"}]}}`, `Field "x" is too long`},
		{"long field name", `{"any":{"` + strings.Repeat("k", 1501) + `":1}}`, "A field name in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var dst req
			err := Decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(tc.body)), &dst)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			e := AsError(err)
			if e.Status != 400 || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("got %d %q, want 400 containing %q", e.Status, e.Message, tc.msg)
			}
		})
	}
}

// TestDeadlineAnswersForAStuckHandler: a handler that ignores its context
// still gets its request answered 504 (JSON) shortly after the deadline,
// and what it writes later is dropped.
func TestDeadlineAnswersForAStuckHandler(t *testing.T) {
	old := deadlineGrace
	deadlineGrace = 50 * time.Millisecond
	defer func() { deadlineGrace = old }()
	release := make(chan struct{})
	wrote := make(chan error, 1)
	h := Deadline(100*time.Millisecond, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Deadline(); !ok {
			t.Error("no deadline on the request context")
		}
		<-release
		_, err := w.Write([]byte(`{"late":true}`))
		wrote <- err
	}))
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(NewRecorder(rec), httptest.NewRequest("GET", "/", nil))
	took := time.Since(start)
	close(release)
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), `"error"`) || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %v", rec.Code, rec.Body, rec.Header())
	}
	if took > time.Second {
		t.Fatalf("answered after %v", took)
	}
	if err := <-wrote; err == nil || strings.Contains(rec.Body.String(), "late") {
		t.Fatalf("the late write went through: %v %q", err, rec.Body)
	}
	// A cause that is a deadline renders as 504, not 500.
	if e := AsError(Internal(context.DeadlineExceeded)); e.Status != http.StatusGatewayTimeout {
		t.Fatalf("deadline cause: %d", e.Status)
	}
}

// TestShortBodyTimesOut: on a real server, a body shorter than its
// Content-Length gets a JSON 408 when the body deadline passes instead of
// holding the request open.
func TestShortBodyTimesOut(t *testing.T) {
	h := Middleware(slog.New(slog.DiscardHandler), Options{BodyTimeout: 300 * time.Millisecond}, Handle(func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		if err := Decode(w, r, &v); err != nil {
			return err
		}
		return OK(w, v)
	}))
	srv := httptest.NewUnstartedServer(h)
	srv.Config = NewServer(h)
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, _ = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %v", took)
	}
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
