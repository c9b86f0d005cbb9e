package commands

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/cmdqueue"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// ErrClientGone ends a wait whose client disconnected (nobody reads it).
var ErrClientGone = web.Errorf(499, "Client closed the request")

type sendRequest struct {
	SiteID    string          `json:"siteId"`
	MachineID string          `json:"machineId"`
	Command   string          `json:"command"`
	Data      json.RawMessage `json:"data"`
	Wait      any             `json:"wait"`
	Timeout   any             `json:"timeout"`
	// data is Data decoded for storage (nil when absent or null).
	data map[string]any
}

// Validate: siteId, machineId and command are required strings (command is
// any string: the agent answers "Unknown command type" itself); data, when
// given, is an object Firestore can store.
func (q *sendRequest) Validate() error {
	for _, f := range []struct{ name, v string }{{"siteId", q.SiteID}, {"machineId", q.MachineID}, {"command", q.Command}} {
		if err := web.Required(f.name, f.v); err != nil {
			return err
		}
	}
	if !store.ValidID(q.MachineID) {
		return web.BadRequest("machineId is not a valid machine id")
	}
	if len(q.Data) == 0 || string(q.Data) == "null" {
		return nil
	}
	d, err := decodeObject(q.Data, "data")
	if err != nil {
		return web.BadRequest(err.Error())
	}
	q.data = d
	return nil
}

// entry builds a pending entry: {type, …data, timestamp, status} — data
// may override type but not timestamp or status.
func entry(typ string, data map[string]any) map[string]any {
	cmd := make(map[string]any, len(data)+3)
	cmd["type"] = typ
	for k, v := range data {
		cmd[k] = v
	}
	cmd["timestamp"] = firestore.ServerTimestamp
	cmd["status"] = "pending"
	return cmd
}

// send is E22. Order: credential and admin role → body → required fields →
// site exists → enqueue (id UUID v4; nothing checks the machine exists) →
// optionally wait.
//
// wait (any truthy value; default false) waits min(timeout ‖ 30, 50)
// seconds for the result: 200 {result: <the completed entry, completedAt as
// {"_seconds","_nanoseconds"}>} — a failed command is still a 200 — or
// 200 {status:"timeout"} with the pending entry left in place. The answer is
// the agent's final entry: its progress writes (downloading, installing, …)
// are not results and are left alone (the original could return one and
// delete it, losing the final result). timeout 0
// means the default; a negative or non-numeric timeout answers "timeout" at
// once.
func (h *handlers) send(w http.ResponseWriter, r *http.Request) error {
	var req sendRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.Site(r, req.SiteID); err != nil {
		return err
	}
	ctx := r.Context()
	id := uuid.NewString()
	if err := h.enqueue(ctx, req.SiteID, req.MachineID, id, entry(req.Command, req.data)); err != nil {
		return err
	}
	if !store.Truthy(req.Wait) {
		return web.OK(w, web.M{"success": true, "commandId": id})
	}
	result, err := h.wait(ctx, req.SiteID, req.MachineID, id, cmdqueue.WaitFor(req.Timeout))
	if errors.Is(err, cmdqueue.ErrTimeout) {
		return web.OK(w, web.M{"success": true, "commandId": id, "status": "timeout"})
	}
	if err != nil {
		return err
	}
	return web.OK(w, web.M{"success": true, "commandId": id, "result": store.Raw(result)})
}

// enqueue writes a command; data Firestore refuses is the caller's 400.
func (h *handlers) enqueue(ctx context.Context, siteID, machineID, id string, cmd map[string]any) error {
	err := cmdqueue.Enqueue(ctx, h.d.Firestore, siteID, machineID, id, cmd)
	if status.Code(err) == codes.InvalidArgument {
		return web.BadRequest("The command cannot be stored: " + status.Convert(err).Message()).Wrap(err)
	}
	if err != nil {
		return web.Internal(err)
	}
	return nil
}

// wait is cmdqueue.Wait with its errors as responses: ErrTimeout passes
// through, a client that went away gets ErrClientGone, a wait cut by the
// route's deadline web.ErrTimeout (504).
func (h *handlers) wait(ctx context.Context, siteID, machineID, id string, d time.Duration) (any, error) {
	res, err := cmdqueue.Wait(ctx, h.d.Firestore, siteID, machineID, id, d)
	switch {
	case err == nil, errors.Is(err, cmdqueue.ErrTimeout):
		return res, err
	case errors.Is(ctx.Err(), context.Canceled):
		return nil, ErrClientGone.Wrap(err)
	case ctx.Err() != nil:
		// The route's deadline, not the client: a retryable 504 (the load
		// run found a 499 here when a Firestore outage held the send).
		return nil, web.ErrTimeout.Wrap(err)
	default:
		return nil, web.Internal(err)
	}
}
