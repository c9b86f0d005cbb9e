// Package autonomoustest is the test stack of the cortex functions
// (functions/cortex, cortexinvestigation, cortexescalation): route groups
// served over HTTP against the emulators with the repository's rules
// loaded, a loopback fake of the LLM providers (shared/llm/llmfake) the
// functions are pointed at, simulated agents (scripts/agentsim/sim) that run
// relayed tools through the real command queue, and readers of the two
// cortex stream formats.
package autonomoustest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/scripts/agentsim/sim/simtest"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/testenv"
)

// Scale compresses the simulated agents' time: command polls of 0.2–0.5 s
// and a same-type gap of 0.5 s.
const Scale = 10

// RelayGap is the relay spacing matching Scale's same-type gap.
const RelayGap = 600 * time.Millisecond

// SiteKey is the site LLM key the stack stores (any key works with the
// fake).
const SiteKey = "sk-ant-test-site-key"

// Stack is one isolated server under test.
type Stack struct {
	*apptest.Env
	// URL serves the groups over real HTTP (streams, simulated agents).
	URL  string
	Fake *llmfake.Server
	// Ten holds the site's callers; SiteID is Ten.Site.
	Ten    *apptest.Tenancy
	SiteID string
}

// New serves groups over HTTP against a fresh project with site-a (owned
// by Tenancy.Owner, Member assigned) and site-b, the rules loaded, e-mail
// configured (escalation jobs are queued) and the LLM providers pointed at
// a fresh fake.
func New(t testing.TB, groups ...app.Register) *Stack {
	t.Helper()
	e := apptest.New(t, groups...)
	ten := e.Tenancy("site-a", "site-b")
	testenv.LoadRules(t, e.Project)
	fake, err := llmfake.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	cfg := e.D.Config
	cfg.AnthropicBaseURL, cfg.OpenAIBaseURL = fake.AnthropicURL(), fake.OpenAIURL()
	cfg.ResendAPIKey = "re_test_key"
	srv := httptest.NewServer(e.H)
	t.Cleanup(srv.Close)
	return &Stack{Env: e, URL: srv.URL, Fake: fake, Ten: ten, SiteID: ten.Site}
}

// SiteLLM stores the site's LLM settings (provider anthropic unless given).
func (s *Stack) SiteLLM(t testing.TB, provider string) {
	t.Helper()
	if provider == "" {
		provider = llm.Anthropic
	}
	if err := llmconfig.Save(context.Background(), llmconfig.SiteSettings(s.FS, s.SiteID), s.D.Config, provider, SiteKey, ""); err != nil {
		t.Fatal(err)
	}
}

// Set writes a document (merge).
func (s *Stack) Set(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := s.FS.Doc(path).Set(context.Background(), data, firestore.MergeAll); err != nil {
		t.Fatalf("set %s: %v", path, err)
	}
}

// Agent runs a simulated agent for machine of the stack's site until the
// test ends, started (online, config seeded with its processes).
func (s *Stack) Agent(t testing.TB, machine string) *sim.Agent {
	t.Helper()
	cfg := sim.Defaults(machine)
	cfg.API = s.URL + "/api"
	cfg.ProjectID = s.Project
	cfg.Scale = Scale
	cfg.Inventory = false
	creds := &sim.Credentials{
		SiteID: s.SiteID, MachineID: machine, RefreshToken: "unused-in-this-test",
		AccessToken: s.AgentToken(s.SiteID, machine), Expiry: time.Now().Add(time.Hour),
	}
	// Ready after the first heartbeat that follows the start: the agent's
	// start-up flag writes replace the machine document (without online)
	// and the heartbeat restores it.
	return simtest.Start(t, cfg, creds, sim.EventHeartbeat)
}

// Post sends a JSON body to the stack over HTTP with cred and header.
func (s *Stack) Post(t testing.TB, path string, cred apptest.Cred, body any, header map[string]string) *http.Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, rd)
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", time.Now().UnixNano()%250+1))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if cred != nil {
		cred(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// WaitFor polls cond every 50 ms until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Frame is one UI message stream part: its decoded fields and its JSON
// text as sent (key order is part of the contract).
type Frame struct {
	Data map[string]any
	Raw  string
}

// Type is the part's type.
func (f Frame) Type() string { s, _ := f.Data["type"].(string); return s }

// Get returns a field of the part.
func (f Frame) Get(k string) any { return f.Data[k] }

// ReadUIStream reads a UI message stream (`data: <json>\n\n` frames) to its
// end: the parts, and whether it ended with `data: [DONE]`. A frame that is
// not `data: ` + JSON fails the test.
func ReadUIStream(t testing.TB, r io.Reader) (frames []Frame, done bool) {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read stream: %v", err)
	}
	for _, chunk := range strings.SplitAfter(string(b), "\n\n") {
		if chunk == "" {
			continue
		}
		if done {
			t.Fatalf("data after [DONE]: %q", chunk)
		}
		payload, ok := strings.CutPrefix(chunk, "data: ")
		if !ok || !strings.HasSuffix(payload, "\n\n") {
			t.Fatalf("not an SSE data frame: %q", chunk)
		}
		payload = strings.TrimSuffix(payload, "\n\n")
		if payload == "[DONE]" {
			done = true
			continue
		}
		f := Frame{Raw: payload}
		if err := json.Unmarshal([]byte(payload), &f.Data); err != nil {
			t.Fatalf("frame is not JSON: %q", payload)
		}
		frames = append(frames, f)
	}
	return frames, done
}

// Types lists the frames' types.
func Types(frames []Frame) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = f.Type()
	}
	return out
}

// Text concatenates the text-delta parts.
func Text(frames []Frame) string {
	var b strings.Builder
	for _, f := range frames {
		if f.Type() == "text-delta" {
			d, _ := f.Data["delta"].(string)
			b.WriteString(d)
		}
	}
	return b.String()
}

// DataLine is one line of the legacy data stream.
type DataLine struct {
	Kind  byte   // '0' text, 'd' finish, '3' error
	Value string // the decoded JSON string (0:, 3:), or the raw JSON (d:)
}

// ReadDataStream reads the local path's data-stream lines to the end.
func ReadDataStream(t testing.TB, r io.Reader) []DataLine {
	t.Helper()
	var out []DataLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 3 || line[1] != ':' {
			t.Fatalf("not a data-stream line: %q", line)
		}
		l := DataLine{Kind: line[0], Value: line[2:]}
		if l.Kind == '0' || l.Kind == '3' {
			if err := json.Unmarshal([]byte(line[2:]), &l.Value); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
		}
		out = append(out, l)
	}
	return out
}

// Pending returns a machine's pending commands.
func (s *Stack) Pending(machine string) map[string]any {
	return s.Doc("sites/" + s.SiteID + "/machines/" + machine + "/commands/pending")
}

// Completed returns a machine's completed commands.
func (s *Stack) Completed(machine string) map[string]any {
	return s.Doc("sites/" + s.SiteID + "/machines/" + machine + "/commands/completed")
}

// Answer plays an agent for machine without the simulator: each new pending
// command is passed to reply, whose entry (nil: leave it unanswered) is
// written to completed before the pending key is removed, as the agent
// does. It returns the commands seen, in order, until the test ends. A
// listener that breaks (a busy emulator) is opened again.
func (s *Stack) Answer(t testing.TB, machine string, reply func(id string, cmd map[string]any) map[string]any) <-chan map[string]any {
	t.Helper()
	seen := make(chan map[string]any, 64)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	base := "sites/" + s.SiteID + "/machines/" + machine + "/commands/"
	handled := map[string]bool{}
	write := func(f func() error) {
		for i := 0; i < 5 && ctx.Err() == nil; i++ {
			if f() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	go func() {
		for ctx.Err() == nil {
			it := s.FS.Doc(base + "pending").Snapshots(ctx)
			for {
				snap, err := it.Next()
				if err != nil {
					break
				}
				if !snap.Exists() {
					continue
				}
				for id, v := range snap.Data() {
					if handled[id] {
						continue
					}
					handled[id] = true
					cmd, _ := v.(map[string]any)
					cmd["id"] = id
					seen <- cmd
					entry := reply(id, cmd)
					if entry == nil {
						continue
					}
					entry["completedAt"] = firestore.ServerTimestamp
					write(func() error {
						_, err := s.FS.Doc(base+"completed").Set(ctx, map[string]any{id: entry}, firestore.Merge(firestore.FieldPath{id}))
						return err
					})
					write(func() error {
						_, err := s.FS.Doc(base+"pending").Update(ctx, []firestore.Update{{FieldPath: firestore.FieldPath{id}, Value: firestore.Delete}})
						return err
					})
				}
			}
			it.Stop()
		}
	}()
	return seen
}
