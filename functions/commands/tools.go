package commands

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/owlette/server/shared/cmdqueue"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/tools"
	"github.com/owlette/server/shared/web"
)

// listTools is X04: the tool registry up to ?tier= (default 3). tier is
// parseInt clamped to 1–3; a value that is no number lists nothing, as the
// original's NaN comparison did.
func (h *handlers) listTools(w http.ResponseWriter, r *http.Request) error {
	list := tools.UpTo(3)
	if s := r.URL.Query().Get("tier"); s != "" {
		n, ok := parseInt(s)
		if !ok {
			list = nil
		} else {
			list = tools.UpTo(min(max(n, 1), 3))
		}
	}
	if list == nil {
		list = []tools.Tool{}
	}
	return web.OK(w, web.M{"tools": list, "count": len(list)})
}

// parseInt is JavaScript's parseInt(s, 10): optional blanks and sign, then
// the leading digits; false when there are none (NaN).
func parseInt(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:min(end, 9)]) // tiers only need the sign and magnitude
	if err != nil {
		return 0, false
	}
	if end > 9 {
		n = 1_000_000_000
	}
	if neg {
		n = -n
	}
	return n, true
}

type executeRequest struct {
	SiteID    string          `json:"siteId"`
	MachineID string          `json:"machineId"`
	Tool      string          `json:"tool"`
	Params    json.RawMessage `json:"params"`
	Wait      json.RawMessage `json:"wait"`
	Timeout   any             `json:"timeout"`

	params map[string]any
	tool   tools.Tool
}

// Validate is X05's body check, in order: required fields, the tool exists,
// its required parameters are present and neither null nor "".
func (q *executeRequest) Validate() error {
	for _, f := range []struct{ name, v string }{{"siteId", q.SiteID}, {"machineId", q.MachineID}, {"tool", q.Tool}} {
		if err := web.Required(f.name, f.v); err != nil {
			return err
		}
	}
	if !store.ValidID(q.MachineID) {
		return web.BadRequest("machineId is not a valid machine id")
	}
	q.params = map[string]any{}
	if len(q.Params) > 0 && string(q.Params) != "null" {
		p, err := decodeObject(q.Params, "params")
		if err != nil {
			return web.BadRequest(err.Error())
		}
		q.params = p
	}
	t, ok := tools.Lookup(q.Tool)
	if !ok {
		return web.BadRequest("Unknown tool: " + q.Tool)
	}
	for _, name := range t.Required() {
		if v, ok := q.params[name]; !ok || v == nil || v == "" {
			return web.BadRequest("Missing required parameter: " + name)
		}
	}
	q.tool = t
	return nil
}

// execute is X05: run one tool on one machine through the command queue.
// Order: credential and admin role → body → tool → required parameters →
// site exists → enqueue (UUID v4) → wait (default true) as E22.
//
// Native tools are queued as their command ({type, …params}); the others —
// the server-side ones included, which only Cortex chat runs on the server
// — as {type:"mcp_tool_call", tool_name, tool_params, timeout_seconds}.
func (h *handlers) execute(w http.ResponseWriter, r *http.Request) error {
	var req executeRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.Site(r, req.SiteID); err != nil {
		return err
	}
	wait := cmdqueue.WaitFor(req.Timeout)
	var cmd map[string]any
	if req.tool.Command != "" {
		cmd = entry(req.tool.Command, req.params)
	} else {
		cmd = entry("mcp_tool_call", map[string]any{
			"tool_name": req.tool.Name, "tool_params": req.params,
			// Informational for the agent: how long the caller waits.
			"timeout_seconds": timeoutSeconds(wait),
		})
	}
	ctx := r.Context()
	id := uuid.NewString()
	if err := h.enqueue(ctx, req.SiteID, req.MachineID, id, cmd); err != nil {
		return err
	}
	out := web.M{"success": true, "commandId": id, "tool": req.tool.Name, "tier": req.tool.Tier}
	if !waits(req.Wait) {
		return web.OK(w, out)
	}
	result, err := h.wait(ctx, req.SiteID, req.MachineID, id, wait)
	switch {
	case errors.Is(err, cmdqueue.ErrTimeout):
		out["status"] = "timeout"
	case err != nil:
		return err
	default:
		out["result"] = store.Raw(result)
	}
	return web.OK(w, out)
}

// waits is X05's wait flag: absent means true, anything else its
// truthiness (null and false do not wait).
func waits(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return true
	}
	var v any
	return json.Unmarshal(raw, &v) == nil && store.Truthy(v)
}

// timeoutSeconds is the wait in whole seconds (rounded up), or the default
// when the caller does not wait for it.
func timeoutSeconds(wait time.Duration) int64 {
	if wait <= 0 {
		wait = cmdqueue.DefaultWait
	}
	return int64(math.Ceil(wait.Seconds()))
}
