package relay

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRelayRoutesByProject(t *testing.T) {
	ctx := context.Background()
	type got struct {
		path, body string
		hdr        http.Header
	}
	recv := func(ch chan got, status int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			ch <- got{r.URL.RequestURI(), string(b), r.Header.Clone()}
			w.WriteHeader(status)
			_, _ = w.Write([]byte("from target"))
		}))
	}
	aCh, bCh := make(chan got, 4), make(chan got, 4)
	a, b := recv(aCh, http.StatusNoContent), recv(bCh, http.StatusInternalServerError)
	defer a.Close()
	defer b.Close()

	rl := httptest.NewServer(New(nil))
	defer rl.Close()
	addr := strings.TrimPrefix(rl.URL, "http://")
	if !Healthy(ctx, addr) {
		t.Fatal("relay not healthy")
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"relay":"x"}`)) }))
	defer other.Close()
	if Healthy(ctx, strings.TrimPrefix(other.URL, "http://")) {
		t.Fatal("another server passes the health check")
	}
	if err := Register(ctx, addr, "demo-a", a.URL+"/"); err != nil {
		t.Fatal(err)
	}
	if err := Register(ctx, addr, "demo-b", b.URL); err != nil {
		t.Fatal(err)
	}

	deliver := func(project string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, rl.URL+"/functions/projects/"+project+"/triggers/deploymentstatus", strings.NewReader("Q0FGRQ=="))
		req.Header.Set("Content-Type", "application/protobuf")
		req.Header.Set("ce-datacontenttype", "application/protobuf")
		req.Header.Set("ce-id", "e1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, _ := deliver("demo-a")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("demo-a: %d", resp.StatusCode)
	}
	g := <-aCh
	if g.path != "/functions/projects/demo-a/triggers/deploymentstatus" || g.body != "Q0FGRQ==" ||
		g.hdr.Get("Ce-Datacontenttype") != "application/protobuf" || g.hdr.Get("Content-Type") != "application/protobuf" || g.hdr.Get("Ce-Id") != "e1" {
		t.Errorf("forwarded %+v", g)
	}
	// The target's answer (here a failure) goes back to the emulator.
	if resp, body := deliver("demo-b"); resp.StatusCode != http.StatusInternalServerError || body != "from target" {
		t.Errorf("demo-b: %d %q", resp.StatusCode, body)
	}
	<-bCh
	if resp, _ := deliver("demo-unknown"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unregistered project: %d", resp.StatusCode)
	}
	if len(aCh)+len(bCh) != 0 {
		t.Error("a delivery reached the wrong project")
	}

	// Unregister only removes the caller's own registration.
	if err := Unregister(ctx, addr, "demo-a", "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if m, _ := Projects(ctx, addr); m["demo-a"] != a.URL || m["demo-b"] != b.URL {
		t.Fatalf("projects = %v", m)
	}
	if err := Unregister(ctx, addr, "demo-a", a.URL); err != nil {
		t.Fatal(err)
	}
	if resp, _ := deliver("demo-a"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after unregister: %d", resp.StatusCode)
	}

	// A target that went away: 502 at once.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if err := Register(ctx, addr, "demo-dead", dead.URL); err != nil {
		t.Fatal(err)
	}
	if resp, _ := deliver("demo-dead"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("dead target: %d", resp.StatusCode)
	}
}

func TestRelayRefusesBadRegistrations(t *testing.T) {
	ctx := context.Background()
	rl := httptest.NewServer(New(nil))
	defer rl.Close()
	addr := strings.TrimPrefix(rl.URL, "http://")
	for _, c := range []struct{ project, target string }{
		{"demo-a", "http://example.com:80"},
		{"demo-a", "http://10.0.0.1:8080"},
		{"demo-a", "ftp://127.0.0.1:21"},
		{"demo-a", "http://127.0.0.1:1/?x=1"},
		{"demo-a", ""},
		{"bad/project", "http://127.0.0.1:1"},
		{"bad%20project", "http://127.0.0.1:1"},
	} {
		if err := Register(ctx, addr, c.project, c.target); err == nil {
			t.Errorf("registered %q → %q", c.project, c.target)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:18080", "http://localhost:1", "http://[::1]:2"} {
		if _, err := ValidTarget(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	resp, err := http.Post(rl.URL+"/relay/v1/projects/demo-a", "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST control: %d", resp.StatusCode)
	}
}
