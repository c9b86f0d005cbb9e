package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/owlette/server/scripts/agentsim/sim"
)

// Operators are the dashboard users and API-key scripts: each one loops over
// a weighted mix of the admin routes (machines, processes, commands with and
// without wait, deployments) with a think time between actions. Half of
// them use a dashboard session (__session cookie), half an API key. Each
// request comes from one of 250 client addresses per operator, so that no
// address exceeds RL-api's 300 requests per hour (api.md §1.6: at these rates
// a single address would get 429s, by design).
type Operators struct {
	base    string // http://host:port
	rec     *Recorder
	tracker *Tracker
	agents  func() []*sim.Agent
	client  *http.Client
	think   time.Duration

	seq     atomic.Int64
	polls   sync.WaitGroup
	pollCtx context.Context // deployment pollers run until the drain ends
}

type operator struct {
	*Operators
	id     int
	key    string // API key, or
	cookie string // __session value
	rng    *rand.Rand
	n      atomic.Int64 // requests made (picks the client address)
}

// action is one thing an operator does, with its weight in the mix.
type action struct {
	weight int
	do     func(o *operator, ctx context.Context)
}

var actions = []action{
	{20, (*operator).listMachines},
	{10, (*operator).machineStatus},
	{15, (*operator).listProcesses},
	{20, (*operator).sendWait},
	{10, (*operator).sendNoWait},
	{5, (*operator).deploy},
	{8, (*operator).listDeployments},
	{5, (*operator).launchMode},
	{7, (*operator).listSites},
}

// Run runs every operator until ctx ends.
func (ops *Operators) Run(ctx context.Context, seed *Seed, n int) {
	var wg sync.WaitGroup
	for i := range n {
		o := &operator{Operators: ops, id: i, rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
		if i%2 == 0 {
			o.key = seed.Keys[(i/2)%len(seed.Keys)]
		} else {
			o.cookie = seed.Cookies[(i/2)%len(seed.Cookies)]
		}
		wg.Go(func() { o.loop(ctx) })
	}
	wg.Wait()
}

// WaitPolls waits for the deployment pollers (they end with pollCtx).
func (ops *Operators) WaitPolls() { ops.polls.Wait() }

func (o *operator) loop(ctx context.Context) {
	total := 0
	for _, a := range actions {
		total += a.weight
	}
	// Start spread over one think time.
	if sleepCtx(ctx, time.Duration(o.rng.Int64N(int64(o.think)+1))) != nil {
		return
	}
	for ctx.Err() == nil {
		pick := o.rng.IntN(total)
		for _, a := range actions {
			if pick < a.weight {
				a.do(o, ctx)
				break
			}
			pick -= a.weight
		}
		// think time ± 50 %
		if sleepCtx(ctx, o.think/2+time.Duration(o.rng.Int64N(int64(o.think)+1))) != nil {
			return
		}
	}
}

// machine picks a running agent's machine id.
func (o *operator) machine() string {
	ags := o.agents()
	if len(ags) == 0 {
		return ""
	}
	return ags[o.rng.IntN(len(ags))].MachineID()
}

// call makes one request and records it under ep. ctx bounds the request
// only when the caller wants it to (a request in flight when the steady phase
// ends finishes normally).
func (o *operator) call(ctx context.Context, ep, method, path string, body any) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), method, o.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.key != "" {
		req.Header.Set("x-api-key", o.key)
	} else {
		req.Header.Set("Cookie", "__session="+o.cookie)
	}
	n := o.n.Add(1)
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", o.id%250, 1+n%250))
	s := time.Now()
	resp, err := o.client.Do(req)
	var out map[string]any
	status, text := 0, ""
	if err == nil {
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if rerr != nil {
			err = rerr
		} else {
			status, text = resp.StatusCode, string(data)
			_ = json.Unmarshal(data, &out)
		}
	}
	o.rec.Record(ep, viaAPI, s, time.Now(), status, err, text)
	return status, out
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

func (o *operator) listMachines(ctx context.Context) {
	o.call(ctx, "E19 GET /admin/machines", http.MethodGet, "/api/admin/machines"+q("siteId", siteID), nil)
}

func (o *operator) machineStatus(ctx context.Context) {
	if m := o.machine(); m != "" {
		o.call(ctx, "E20 GET /admin/machines/status", http.MethodGet, "/api/admin/machines/status"+q("siteId", siteID, "machineId", m), nil)
	}
}

func (o *operator) listProcesses(ctx context.Context) {
	if m := o.machine(); m != "" {
		o.call(ctx, "E25 GET /admin/processes", http.MethodGet, "/api/admin/processes"+q("siteId", siteID, "machineId", m), nil)
	}
}

func (o *operator) listSites(ctx context.Context) {
	o.call(ctx, "E39 GET /admin/sites", http.MethodGet, "/api/admin/sites", nil)
}

func (o *operator) listDeployments(ctx context.Context) {
	o.call(ctx, "E30 GET /admin/deployments", http.MethodGet, "/api/admin/deployments"+q("siteId", siteID, "limit", "20"), nil)
}

// sendWait restarts a process and waits for the agent's result (E22 wait).
func (o *operator) sendWait(ctx context.Context) {
	m := o.machine()
	if m == "" {
		return
	}
	status, out := o.call(ctx, "E22 POST /admin/commands/send wait", http.MethodPost, "/api/admin/commands/send", map[string]any{
		"siteId": siteID, "machineId": m, "command": "restart_process",
		"data": map[string]any{"process_name": "TouchDesigner"}, "wait": true, "timeout": 30,
	})
	id, _ := out["commandId"].(string)
	if status != http.StatusOK || id == "" {
		return
	}
	o.tracker.Sent(id, m, "restart_process", true)
	if res, ok := out["result"].(map[string]any); ok {
		st, _ := res["status"].(string)
		o.tracker.Completed(id, st)
	}
}

// sendNoWait queues a tool call and leaves (E22 without wait); the agent's
// completion is tracked.
func (o *operator) sendNoWait(ctx context.Context) {
	m := o.machine()
	if m == "" {
		return
	}
	status, out := o.call(ctx, "E22 POST /admin/commands/send", http.MethodPost, "/api/admin/commands/send", map[string]any{
		"siteId": siteID, "machineId": m, "command": "mcp_tool_call",
		"data": map[string]any{"tool_name": "get_system_info", "tool_params": map[string]any{}},
	})
	if id, _ := out["commandId"].(string); status == http.StatusOK && id != "" {
		o.tracker.Sent(id, m, "mcp_tool_call", false)
	}
}

// deploy installs a package on 1–3 machines (E31) and follows the deployment
// (E32 every 5 s) until it ends.
func (o *operator) deploy(ctx context.Context) {
	ags := o.agents()
	if len(ags) == 0 {
		return
	}
	k := 1 + o.rng.IntN(min(3, len(ags)))
	seen := map[string]bool{}
	var ms []string
	for len(ms) < k {
		m := ags[o.rng.IntN(len(ags))].MachineID()
		if !seen[m] {
			seen[m] = true
			ms = append(ms, m)
		}
	}
	n := o.seq.Add(1)
	status, out := o.call(ctx, "E31 POST /admin/deployments", http.MethodPost, "/api/admin/deployments", map[string]any{
		"siteId": siteID, "name": fmt.Sprintf("Load deployment %d", n), "installer_name": fmt.Sprintf("LoadApp-%d.exe", n),
		"installer_url": fmt.Sprintf("https://downloads.example.com/loadapp-v1.%d.0.exe", n), "silent_flags": "/S", "machineIds": ms,
	})
	id, _ := out["deploymentId"].(string)
	if status != http.StatusOK || id == "" {
		return
	}
	o.tracker.Deployment(id, ms)
	o.polls.Add(1)
	go func() {
		defer o.polls.Done()
		for sleepCtx(o.pollCtx, 5*time.Second) == nil {
			st, out := o.call(o.pollCtx, "E32 GET /admin/deployments/{id}", http.MethodGet, "/api/admin/deployments/"+id+q("siteId", siteID), nil)
			if st != http.StatusOK {
				continue
			}
			d, _ := out["deployment"].(map[string]any)
			if s, _ := d["status"].(string); o.tracker.DeploymentStatus(id, s) {
				return
			}
		}
	}()
}

// launchMode reads a machine's processes (E25) and flips the Signage
// process between off and always (E29); the agent applies the config change.
func (o *operator) launchMode(ctx context.Context) {
	m := o.machine()
	if m == "" {
		return
	}
	status, out := o.call(ctx, "E25 GET /admin/processes", http.MethodGet, "/api/admin/processes"+q("siteId", siteID, "machineId", m), nil)
	if status != http.StatusOK {
		return
	}
	procs, _ := out["processes"].([]any)
	for _, p := range procs {
		pm, _ := p.(map[string]any)
		if pm["name"] != "Signage" {
			continue
		}
		id, _ := pm["id"].(string)
		mode := "always"
		if pm["launch_mode"] == "always" {
			mode = "off"
		}
		o.call(ctx, "E29 PATCH /admin/processes/{id}/launch-mode", http.MethodPatch, "/api/admin/processes/"+url.PathEscape(id)+"/launch-mode",
			map[string]any{"siteId": siteID, "machineId": m, "mode": mode})
		return
	}
}
