package agenttoken_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
	"github.com/owlette/server/shared/web"
)

func TestUID(t *testing.T) {
	for _, c := range []struct{ site, machine, want string }{
		{"site-a", "DESKTOP-01", "agent_site_a_DESKTOP_01"},
		{"s", "host.local", "agent_s_host_local"},
		{"s", "café", "agent_s_caf_"}, // one UTF-16 unit → one "_"
		{"s", "pc😀", "agent_s_pc__"},  // surrogate pair → two, as in JavaScript
		{"s", "a b/c", "agent_s_a_b_c"},
		{"s", "pending_oak_ivy_zoo", "agent_s_pending_oak_ivy_zoo"},
	} {
		if got := agenttoken.UID(c.site, c.machine); got != c.want {
			t.Errorf("UID(%q, %q) = %q, want %q", c.site, c.machine, got, c.want)
		}
	}
	long := agenttoken.UID(strings.Repeat("s", 50), strings.Repeat("m", 255))
	if len(long) != 128 || long == agenttoken.UID(strings.Repeat("s", 50), strings.Repeat("m", 254)+"n") {
		t.Errorf("long uid %q (%d chars) must be 128 chars and stay unique", long, len(long))
	}
}

func TestSecrets(t *testing.T) {
	code, _ := agenttoken.NewRegistrationCode()
	sec, _ := agenttoken.NewSecret()
	if len(code) != 43 || len(sec) != 86 || strings.ContainsAny(code+sec, "+/=") {
		t.Errorf("code %q (%d), secret %q (%d)", code, len(code), sec, len(sec))
	}
	if h := agenttoken.Hash("abc"); h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("hash %s", h)
	}
	if agenttoken.Placeholder("oak-ivy-zoo") != "pending_oak_ivy_zoo" || !agenttoken.IsPlaceholder("pending_x") || agenttoken.IsPlaceholder("host") {
		t.Error("placeholder")
	}
}

func TestExpiresAt(t *testing.T) {
	jwt := "eyJhbGciOiJub25lIn0." + "eyJleHAiOjE3MDAwMDAwMDB9" + ".sig" // {"exp":1700000000}
	if got, ok := agenttoken.ExpiresAt(jwt); !ok || got.Unix() != 1700000000 {
		t.Errorf("ExpiresAt = %v, %v", got, ok)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a.e30.c"} {
		if _, ok := agenttoken.ExpiresAt(bad); ok {
			t.Errorf("ExpiresAt(%q) ok", bad)
		}
	}
}

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"deadline", context.DeadlineExceeded, true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), true},
		{"eof", io.ErrUnexpectedEOF, true},
		{"net", &net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{"firestore unavailable", status.Error(codes.Unavailable, "down"), true},
		{"firestore aborted", status.Error(codes.Aborted, "contention"), true},
		{"firestore internal", status.Error(codes.Internal, "oops"), true},
		{"firestore permission", status.Error(codes.PermissionDenied, "no"), false},
		{"firestore invalid", status.Error(codes.InvalidArgument, "bad"), false},
		{"toolkit 500", &agenttoken.Error{Op: "x", Status: 500, Err: errors.New("x")}, true},
		{"toolkit 503", &agenttoken.Error{Op: "x", Status: 503, Err: errors.New("x")}, true},
		{"toolkit 429", &agenttoken.Error{Op: "x", Status: 429, Err: errors.New("x")}, true},
		{"toolkit 400", &agenttoken.Error{Op: "x", Status: 400, Err: errors.New("x")}, false},
		{"toolkit network", &agenttoken.Error{Op: "x", Err: &net.OpError{Op: "read", Err: errors.New("reset")}}, true},
		{"plain", errors.New("config missing"), false},
		{"nil", nil, false},
	} {
		if got := agenttoken.Transient(c.err); got != c.want {
			t.Errorf("%s: Transient = %v, want %v", c.name, got, c.want)
		}
		if c.err == nil {
			continue
		}
		e := agenttoken.HTTPError("issue the agent token", c.err)
		want := 500
		if c.want {
			want = 503
		}
		if e.Status != want || e.Message == "" {
			t.Errorf("%s: HTTPError = %d %q, want %d", c.name, e.Status, e.Message, want)
		}
	}
	if e := agenttoken.HTTPError("x", web.Unauthorized("nope")); e.Status != 401 {
		t.Errorf("a *web.Error must pass through, got %d", e.Status)
	}
}

// toolkit serves fake Identity Toolkit answers.
func toolkit(t *testing.T, h http.HandlerFunc) *agenttoken.Minter {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &agenttoken.Minter{APIKey: "k", Base: srv.URL, HTTP: &http.Client{Timeout: 2 * time.Second}}
}

func TestExchangeFailures(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		h         http.HandlerFunc
		transient bool
		msg       string
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, `{"error":{"message":"INTERNAL"}}`, 500) }, true, ""},
		{"503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, true, ""},
		{"429", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(429) }, true, ""},
		{"200 without token", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`<html>`)) }, true, ""},
		{"connection closed", func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}, true, ""},
		{"invalid custom token", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":{"code":400,"message":"INVALID_CUSTOM_TOKEN : bad"}}`))
		}, false, "Identity Toolkit answered 400 INVALID_CUSTOM_TOKEN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := toolkit(t, c.h)
			_, err := m.Exchange(ctx, "ct")
			if err == nil {
				t.Fatal("no error")
			}
			if agenttoken.Transient(err) != c.transient {
				t.Errorf("Transient(%v) = %v", err, !c.transient)
			}
			if e := agenttoken.HTTPError("issue the agent token", err); c.msg != "" && !strings.Contains(e.Message, c.msg) {
				t.Errorf("message %q lacks %q", e.Message, c.msg)
			}
		})
	}
	t.Run("request shape", func(t *testing.T) {
		m := toolkit(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if r.Method != "POST" || r.URL.Path != "/v1/accounts:signInWithCustomToken" || r.URL.Query().Get("key") != "k" ||
				string(b) != `{"returnSecureToken":true,"token":"ct"}` {
				t.Errorf("request %s %s %s", r.Method, r.URL, b)
			}
			_, _ = w.Write([]byte(`{"idToken":"tok","refreshToken":"google","expiresIn":"3600"}`))
		})
		if tok, err := m.Exchange(ctx, "ct"); err != nil || tok != "tok" {
			t.Errorf("Exchange = %q, %v", tok, err)
		}
	})
	t.Run("no api key", func(t *testing.T) {
		m := toolkit(t, nil)
		m.APIKey = ""
		_, err := m.Exchange(ctx, "ct")
		if e := agenttoken.HTTPError("x", err); e.Status != 500 {
			t.Errorf("missing key: %d", e.Status)
		}
	})
}

// Mint against the Auth emulator: the ID token carries the claims, for a new
// machine (user created by the exchange) and again for an existing one.
func TestMint(t *testing.T) {
	e := apptest.New(t)
	m := agenttoken.New(e.D)
	if !strings.HasPrefix(m.Base, "http://") {
		t.Fatalf("emulator base: %s", m.Base)
	}
	site := testenv.UniqueID("site")
	id := agenttoken.NewIdentity(site, "HOST-1", "")
	for i := 0; i < 2; i++ {
		tok, err := m.Mint(context.Background(), id)
		if err != nil {
			t.Fatalf("mint %d: %v", i, err)
		}
		v, err := e.D.Auth.VerifyIDToken(context.Background(), tok.IDToken)
		if err != nil {
			t.Fatal(err)
		}
		if v.UID != "agent_"+site+"_HOST_1" || v.Claims["role"] != "agent" || v.Claims["site_id"] != site ||
			v.Claims["machine_id"] != "HOST-1" || v.Claims["version"] != "unknown" {
			t.Errorf("token %s claims %v", v.UID, v.Claims)
		}
		if exp, ok := agenttoken.ExpiresAt(tok.IDToken); !ok || exp.Sub(time.Now()) < 3500*time.Second {
			t.Errorf("exp %v", exp)
		}
		u, err := e.D.Auth.GetUser(context.Background(), id.UID)
		if err != nil || u.CustomClaims["machine_id"] != "HOST-1" || u.CustomClaims["role"] != "agent" {
			t.Errorf("persisted claims %v (%v)", u, err)
		}
	}
}

func BenchmarkMint(b *testing.B) {
	e := apptest.New(b)
	m := agenttoken.New(e.D)
	id := agenttoken.NewIdentity(testenv.UniqueID("site"), "BENCH", "1.0")
	if _, err := m.Mint(context.Background(), id); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Mint(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}
