package deployments

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// remove is E33: delete a deployment in a terminal state (409 otherwise).
// Only the document goes; command entries on the machines stay. Order:
// siteId → guard → deployment → status.
//
// The delete is conditional on the document being unchanged since it was
// read, so a deployment that just went back to work (a trigger write in
// between) is not deleted on the strength of a stale status.
func (h *handlers) remove(w http.ResponseWriter, r *http.Request) error {
	ref, err := h.deploymentRef(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	for attempt := 0; attempt < 3; attempt++ {
		snap, err := ref.Get(ctx)
		if store.NotFound(err) {
			return ErrNotFound
		}
		if err != nil {
			return web.Internal(err)
		}
		st, _ := snap.Data()["status"].(string)
		if !slices.Contains(deletable, st) {
			shown := st
			if shown == "" {
				shown = StatusPending
			}
			return web.Conflict(fmt.Sprintf("Cannot delete a deployment with status %q: only deployments that are %s can be deleted", shown, strings.Join(deletable, ", ")))
		}
		if h.beforeCommit != nil {
			h.beforeCommit()
		}
		_, err = ref.Delete(ctx, firestore.LastUpdateTime(snap.UpdateTime))
		if err == nil || store.NotFound(err) {
			return web.OK(w, web.M{"success": true})
		}
		if status.Code(err) != codes.FailedPrecondition {
			return web.Internal(err)
		}
	}
	return web.Conflict("The deployment is changing, please retry")
}
