// Package relay is the LOCAL-ONLY fan-out between the Firestore emulator and
// the processes that handle its change events.
//
// The emulator has one --functions_emulator address for all projects, while
// several processes want events at once: the dev server (project
// demo-owlette) and any number of tests (each in its own isolated project).
// scripts/stack runs a Relay on that address; each process registers
// "project → my base URL" at run time and the relay forwards every delivery
// (POST /functions/projects/<project>/triggers/<id>) verbatim to the base
// URL registered for <project>. Deliveries for unregistered projects get an
// immediate 404: the emulator delivers one event at a time, so the relay
// must never stall it.
//
// Control API (JSON):
//
//	GET    /relay/v1/health                       {"relay":"owlette-trigger-relay","projects":N}
//	GET    /relay/v1/projects                     {"projects":{"<project>":"<target>",...}}
//	PUT    /relay/v1/projects/<project>           {"target":"http://127.0.0.1:PORT"}  → 204
//	DELETE /relay/v1/projects/<project>[?target=T] → 204 (with target: only if it is still T)
//
// Targets must be http(s) URLs on a loopback host. This package has no
// dependencies beyond the standard library, so scripts/stack stays light.
package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// EnvVar names the relay's address (host:port) for the processes that
// register with it; scripts/stack sets it.
const EnvVar = "OWLETTE_TRIGGER_RELAY"

// Name identifies a relay in its health answer.
const Name = "owlette-trigger-relay"

const (
	controlPrefix  = "/relay/v1/"
	deliveryPrefix = "/functions/projects/"
	maxBody        = 16 << 20
)

// Relay is the server side. The zero value is not usable: call New.
type Relay struct {
	mu      sync.RWMutex
	targets map[string]string
	client  *http.Client
	log     io.Writer
}

// New returns a relay that logs one line per delivery and registration to
// log (nil: nowhere).
func New(log io.Writer) *Relay {
	if log == nil {
		log = io.Discard
	}
	return &Relay{
		targets: map[string]string{},
		// The emulator waits for each delivery; a handler that hangs must not
		// block every other project's events for long.
		client: &http.Client{Timeout: 60 * time.Second},
		log:    log,
	}
}

func (rl *Relay) logf(format string, args ...any) {
	fmt.Fprintf(rl.log, time.Now().Format("15:04:05.000")+" relay: "+format+"\n", args...)
}

// Target returns the base URL registered for project.
func (rl *Relay) Target(project string) (string, bool) {
	rl.mu.RLock()
	defer rl.mu.RUnlock()
	t, ok := rl.targets[project]
	return t, ok
}

func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, deliveryPrefix):
		rl.forward(w, r)
	case strings.HasPrefix(r.URL.Path, controlPrefix):
		rl.control(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found"})
	}
}

func (rl *Relay) control(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, controlPrefix)
	switch {
	case rest == "health" && r.Method == http.MethodGet:
		rl.mu.RLock()
		n := len(rl.targets)
		rl.mu.RUnlock()
		writeJSON(w, http.StatusOK, map[string]any{"relay": Name, "projects": n})
	case rest == "projects" && r.Method == http.MethodGet:
		rl.mu.RLock()
		m := make(map[string]string, len(rl.targets))
		for k, v := range rl.targets {
			m[k] = v
		}
		rl.mu.RUnlock()
		writeJSON(w, http.StatusOK, map[string]any{"projects": m})
	case strings.HasPrefix(rest, "projects/"):
		project := strings.TrimPrefix(rest, "projects/")
		if !validProject(project) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid project id"})
			return
		}
		switch r.Method {
		case http.MethodPut:
			var body struct {
				Target string `json:"target"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&body); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": "body must be {\"target\":\"http://127.0.0.1:PORT\"}"})
				return
			}
			target, err := ValidTarget(body.Target)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
				return
			}
			rl.mu.Lock()
			old := rl.targets[project]
			rl.targets[project] = target
			rl.mu.Unlock()
			if old != target {
				rl.logf("project %s → %s", project, target)
			}
			w.WriteHeader(http.StatusNoContent)
		case http.MethodDelete:
			only := r.URL.Query().Get("target")
			rl.mu.Lock()
			cur, ok := rl.targets[project]
			if ok && (only == "" || strings.TrimRight(only, "/") == cur) {
				delete(rl.targets, project)
			} else {
				ok = false
			}
			rl.mu.Unlock()
			if ok {
				rl.logf("project %s unregistered", project)
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "PUT, DELETE")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "method not allowed"})
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not found"})
	}
}

// forward relays one delivery to the project's target, verbatim.
func (rl *Relay) forward(w http.ResponseWriter, r *http.Request) {
	project, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, deliveryPrefix), "/")
	target, ok := rl.Target(project)
	if !ok {
		rl.logf("delivery %s dropped: project %s is not registered", r.URL.Path, project)
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "no process registered for project " + project})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unreadable or oversized body"})
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
		return
	}
	for k, vs := range r.Header {
		if k == "Connection" || k == "Keep-Alive" || k == "Te" || k == "Trailer" || k == "Transfer-Encoding" || k == "Upgrade" {
			continue
		}
		req.Header[k] = append([]string(nil), vs...)
	}
	start := time.Now()
	resp, err := rl.client.Do(req)
	if err != nil {
		rl.logf("delivery %s to %s failed: %v", r.URL.Path, target, err)
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": "target " + target + " unreachable"})
		return
	}
	defer resp.Body.Close()
	rl.logf("delivery %s → %s: %d in %s", r.URL.Path, target, resp.StatusCode, time.Since(start).Round(time.Millisecond))
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 1<<20))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func validProject(p string) bool {
	if p == "" || len(p) > 100 {
		return false
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidTarget checks a target base URL (http(s), loopback host, no query)
// and returns it without a trailing slash.
func ValidTarget(t string) (string, error) {
	u, err := url.Parse(t)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("target must be an http(s) base URL such as http://127.0.0.1:18080")
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
		return "", errors.New("target must be on a loopback host (the relay is local-only)")
	}
	return strings.TrimRight(t, "/"), nil
}

// ---------------------------------------------------------------------------
// Client side

var client = &http.Client{Timeout: 5 * time.Second}

// Register routes project's deliveries to target (a base URL serving
// /functions/...). Registering again replaces the target.
func Register(ctx context.Context, addr, project, target string) error {
	body, _ := json.Marshal(map[string]string{"target": target})
	return call(ctx, http.MethodPut, "http://"+addr+controlPrefix+"projects/"+project, body)
}

// Unregister removes project's route if it still points at target (any
// target when target is "").
func Unregister(ctx context.Context, addr, project, target string) error {
	u := "http://" + addr + controlPrefix + "projects/" + project
	if target != "" {
		u += "?target=" + url.QueryEscape(target)
	}
	return call(ctx, http.MethodDelete, u, nil)
}

// Healthy reports whether a relay answers at addr.
func Healthy(ctx context.Context, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+controlPrefix+"health", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var v struct {
		Relay string `json:"relay"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&v) == nil && v.Relay == Name
}

// Projects lists the registrations of the relay at addr.
func Projects(ctx context.Context, addr string) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+controlPrefix+"projects", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v struct {
		Projects map[string]string `json:"projects"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	return v.Projects, nil
}

func call(ctx context.Context, method, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("trigger relay: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("trigger relay: %s %s: %s", method, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}
