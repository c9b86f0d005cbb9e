package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AuthProxy is an HTTP proxy in front of the shared Auth emulator, with the
// same Down/Up faults as Proxy, that also makes the emulator usable from a
// project of the run's own: the emulator gives every API-key call
// (accounts:signInWithCustomToken, how agent tokens are minted) to its
// default project whatever the key, so
//
//   - the Admin SDK's project-scoped calls (/projects/<run>/accounts:update,
//     :lookup, …) are sent to the default project instead, where the
//     exchange creates the agents' users, and
//   - the minted ID tokens (unsigned in the emulator) get the run's project
//     as audience and issuer, as production's would.
//
// In production there is one project for both, and none of this applies.
type AuthProxy struct {
	addr     string
	upstream string
	run, emu string // project ids: the run's, the emulator's default
	count    *Counter
	client   *http.Client
	mu       sync.Mutex
	srv      *http.Server
}

// StartAuthProxy listens on a free port below the ephemeral range.
func StartAuthProxy(upstream, runProject, emuProject string, c *Counter) (*AuthProxy, error) {
	ln, err := listenLow()
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	// Below Node's 5 s keep-alive timeout: a connection the emulator is
	// closing is never reused (that race resets a request now and then).
	t.IdleConnTimeout = 3 * time.Second
	p := &AuthProxy{addr: ln.Addr().String(), upstream: upstream, run: runProject, emu: emuProject, count: c,
		client: &http.Client{Transport: t, Timeout: 60 * time.Second}}
	p.serve(ln)
	return p, nil
}

// Addr is the host:port clients use.
func (p *AuthProxy) Addr() string { return p.addr }

func (p *AuthProxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (p *AuthProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.count.Add(restOp(r.Method, r.URL.Path))
	path := strings.Replace(r.URL.Path, "/projects/"+p.run+"/", "/projects/"+p.emu+"/", 1)
	u := "http://" + p.upstream + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	req.ContentLength = r.ContentLength
	resp, err := p.client.Do(req)
	if err != nil {
		// Pass a broken upstream connection on as one (the client sees a
		// reset, as it would from Auth itself), not as a 502 no real Auth
		// endpoint answers.
		hangUp(w)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if strings.HasSuffix(path, ":signInWithCustomToken") && resp.StatusCode == http.StatusOK {
		body = p.retarget(body)
	}
	for k, vs := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// retarget rewrites the answer's idToken: aud and iss name the run's project.
func (p *AuthProxy) retarget(body []byte) []byte {
	var out map[string]any
	if json.Unmarshal(body, &out) != nil {
		return body
	}
	tok, _ := out["idToken"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return body
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return body
	}
	var claims map[string]any
	if json.Unmarshal(raw, &claims) != nil {
		return body
	}
	claims["aud"] = p.run
	claims["iss"] = "https://securetoken.google.com/" + p.run
	raw, _ = json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	out["idToken"] = strings.Join(parts, ".")
	b, err := json.Marshal(out)
	if err != nil {
		return body
	}
	return b
}

// Down closes the listener and every connection.
func (p *AuthProxy) Down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up listens again on the same address.
func (p *AuthProxy) Up() error {
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("auth proxy: listen again on %s: %w", p.addr, err)
}

// Close stops it for good.
func (p *AuthProxy) Close() { p.Down() }

// deleteUsers removes the run's agent users from the emulator's default
// project (where the exchange created them).
func deleteUsers(ctx context.Context, authEmulator, project string, uids []string) error {
	for len(uids) > 0 {
		n := min(len(uids), 1000)
		body, _ := json.Marshal(map[string]any{"localIds": uids[:n], "force": true})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			fmt.Sprintf("http://%s/identitytoolkit.googleapis.com/v1/projects/%s/accounts:batchDelete", authEmulator, project), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer owner")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("delete agent users: %s", resp.Status)
		}
		uids = uids[n:]
	}
	return nil
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	http.Error(w, "upstream connection failed", http.StatusBadGateway)
}
