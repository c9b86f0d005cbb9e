package deployments

import (
	"fmt"
	"net/http"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

type cancelRequest struct {
	SiteID        string `json:"siteId"`
	MachineID     string `json:"machineId"`
	InstallerName string `json:"installer_name"`
}

func (q cancelRequest) Validate() error {
	for _, f := range []struct{ name, v string }{{"siteId", q.SiteID}, {"machineId", q.MachineID}, {"installer_name", q.InstallerName}} {
		if f.v == "" {
			return web.Errorf(http.StatusBadRequest, "Missing required field: %s", f.name)
		}
	}
	return nil
}

// ErrNotTarget answers a machine that is not a target of the deployment.
var ErrNotTarget = web.BadRequest("Machine is not a target of this deployment")

// cancel is E34: cancel one machine's installation. Order: body → guard →
// deployment (404) → target (400) → target state (409) → writes.
//
// Writes, in one commit: the cancel_installation command (no status field)
// merged into the machine's pending document, and the deployment's targets
// with this machine cancelled (cancelledAt now), updatedAt, and — when every
// target is then terminal — the overall status (cancelled if all are,
// completed if all are, else partial) and completedAt. The original did a
// plain read-modify-write; ours commits only if the deployment is unchanged
// since it was read (else it reads again), so a concurrent trigger update of
// another target is never lost.
func (h *handlers) cancel(w http.ResponseWriter, r *http.Request) error {
	var req cancelRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.Site(r, req.SiteID); err != nil {
		return err
	}
	id := r.PathValue("deploymentId")
	if !store.ValidID(id) {
		return ErrNotFound
	}
	ctx := r.Context()
	ref := h.deployments(req.SiteID).Doc(id)
	now := h.d.Now()
	cmdID := CancelCommandID(req.MachineID, now.UnixMilli())
	for attempt := 0; attempt < 5; attempt++ {
		snap, err := ref.Get(ctx)
		if store.NotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return web.Internal(err)
		}
		targets, _ := snap.Data()["targets"].([]any)
		found := false
		next := make([]any, len(targets))
		for i, t := range targets {
			next[i] = t
			m, ok := t.(map[string]any)
			if !ok || m["machineId"] != req.MachineID {
				continue
			}
			if st, _ := m["status"].(string); terminalTarget[st] {
				return web.Conflict(fmt.Sprintf("Cannot cancel: the installation on %s is already %s", req.MachineID, st))
			}
			found = true
			c := make(map[string]any, len(m)+2)
			for k, v := range m {
				c[k] = v
			}
			c["status"] = StatusCancelled
			c["cancelledAt"] = now
			next[i] = c
		}
		if !found {
			return ErrNotTarget
		}
		// Targets come from stored data, which other writers (dashboard,
		// Cortex) also produce: refuse a machine id no document can have.
		if !store.ValidID(req.MachineID) {
			return web.BadRequest("Target machine id is not a valid document id")
		}
		updates := []firestore.Update{
			{Path: "targets", Value: next},
			{Path: "updatedAt", Value: firestore.ServerTimestamp},
		}
		if st, done := rollup(next); done {
			updates = append(updates,
				firestore.Update{Path: "status", Value: st},
				firestore.Update{Path: "completedAt", Value: firestore.ServerTimestamp})
		}
		cmd := map[string]any{
			"type":           TypeCancel,
			"installer_name": req.InstallerName,
			"deployment_id":  id,
			"timestamp":      firestore.ServerTimestamp,
		}
		if h.beforeCommit != nil {
			h.beforeCommit()
		}
		b := h.d.Firestore.Batch()
		b.Set(h.pendingRef(req.SiteID, req.MachineID), map[string]any{cmdID: cmd}, firestore.Merge([]string{cmdID}))
		b.Update(ref, updates, firestore.LastUpdateTime(snap.UpdateTime))
		_, err = b.Commit(ctx)
		if err == nil {
			return web.OK(w, web.M{"success": true, "commandId": cmdID})
		}
		switch status.Code(err) {
		case codes.FailedPrecondition, codes.NotFound: // changed or deleted since read: read again
			continue
		}
		return web.Internal(err)
	}
	return web.Conflict("The deployment is changing, please retry")
}

// rollup is E34's overall status once every target is terminal: cancelled
// if all are cancelled, completed if all are completed, else partial. done
// is false while any target is not terminal.
func rollup(targets []any) (string, bool) {
	allCancelled, allCompleted := true, true
	for _, t := range targets {
		m, _ := t.(map[string]any)
		st, _ := m["status"].(string)
		if !terminalTarget[st] {
			return "", false
		}
		allCancelled = allCancelled && st == StatusCancelled
		allCompleted = allCompleted && st == StatusCompleted
	}
	switch {
	case allCancelled:
		return StatusCancelled, true
	case allCompleted:
		return StatusCompleted, true
	}
	return StatusPartial, true
}
