package commands_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/commands"
	"github.com/owlette/server/scripts/agentsim/sim"
	"github.com/owlette/server/scripts/agentsim/sim/simtest"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

// fixture is one isolated server with a site, its users and an outsider.
type fixture struct {
	*apptest.Env
	site                          string
	admin, member, owner, outside *apptest.User
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	e := apptest.New(t, commands.Register)
	ten := e.Tenancy("site-a", "site-b")
	return &fixture{Env: e, site: ten.Site, admin: ten.Admin, member: ten.Member, owner: ten.Owner, outside: ten.Stranger}
}

func (f *fixture) agentToken(site, machine string) string { return f.AgentToken(site, machine) }

func (f *fixture) pending(machine string) map[string]any {
	return f.Doc("sites/" + f.site + "/machines/" + machine + "/commands/pending")
}

func (f *fixture) completed(machine string) map[string]any {
	return f.Doc("sites/" + f.site + "/machines/" + machine + "/commands/completed")
}

// fakeAgent answers the next command that appears in machine's pending
// document with entry (completedAt added), writing completed first and then
// removing the pending key, as the agent does. It returns the command seen.
func (f *fixture) fakeAgent(t testing.TB, machine string, entry map[string]any) <-chan map[string]any {
	t.Helper()
	seen := make(chan map[string]any, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	base := "sites/" + f.site + "/machines/" + machine + "/commands/"
	it := f.FS.Doc(base + "pending").Snapshots(ctx)
	go func() {
		defer cancel()
		defer it.Stop()
		for {
			snap, err := it.Next()
			if err != nil {
				return
			}
			if !snap.Exists() {
				continue
			}
			for id, v := range snap.Data() {
				cmd, _ := v.(map[string]any)
				e := map[string]any{"completedAt": firestore.ServerTimestamp}
				for k, x := range entry {
					e[k] = x
				}
				if _, err := f.FS.Doc(base+"completed").Set(ctx, map[string]any{id: e}, firestore.Merge(firestore.FieldPath{id})); err != nil {
					t.Errorf("fake agent: %v", err)
				}
				if _, err := f.FS.Doc(base+"pending").Update(ctx, []firestore.Update{{FieldPath: firestore.FieldPath{id}, Value: firestore.Delete}}); err != nil {
					t.Errorf("fake agent: %v", err)
				}
				cmd["id"] = id
				seen <- cmd
				return
			}
		}
	}()
	return seen
}

// agentStack is the commands function behind a real HTTP server, with the
// repository's firestore.rules loaded so that simulated agents
// (scripts/agentsim/sim) reach Firestore exactly as real ones do: over REST,
// with their own ID token, under the rules.
type agentStack struct {
	*fixture
	URL string
	key string // an admin API key
}

func newAgentStack(t testing.TB) *agentStack {
	t.Helper()
	f := newFixture(t)
	testenv.LoadRules(t, f.Project)
	srv := httptest.NewServer(f.H)
	t.Cleanup(srv.Close)
	return &agentStack{fixture: f, URL: srv.URL, key: f.admin.APIKey()}
}

// startAgent runs a simulated agent for machine until the test ends.
// scale compresses its intervals (1 = the real agent's timing).
func (s *agentStack) startAgent(t testing.TB, machine string, scale float64) *sim.Agent {
	t.Helper()
	cfg := sim.Defaults(machine)
	cfg.API = s.URL + "/api"
	cfg.ProjectID = s.Project
	cfg.Scale = scale
	// A real agent token (claims role/site_id/machine_id/version) from the
	// Auth emulator; it stays valid for the whole test, so no refresh.
	creds := &sim.Credentials{
		SiteID: s.site, MachineID: machine, RefreshToken: "unused-in-this-test",
		AccessToken: s.agentToken(s.site, machine), Expiry: time.Now().Add(time.Hour),
	}
	return simtest.Start(t, cfg, creds, sim.EventStarted)
}

// send calls E22 over HTTP with the admin API key.
func (s *agentStack) send(ctx context.Context, body map[string]any) (int, map[string]any, error) {
	return s.post(ctx, "/api/admin/commands/send", body)
}

// post calls a route over HTTP with the admin API key.
func (s *agentStack) post(ctx context.Context, path string, body map[string]any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, bytes.NewReader(b))
	req.Header.Set("x-api-key", s.key)
	// Spread requests over client addresses: the API budget is per IP.
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", time.Now().UnixNano()%250+1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	err = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, err
}
