package commands

import (
	"net/http"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/cmdqueue"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// ErrClearParams answers E23 without its parameters.
var ErrClearParams = web.BadRequest("Missing required parameters: siteId and machineId")

// clearAttempts bounds the read-then-delete retries of a busy queue.
const clearAttempts = 5

// clear is E23: delete the machine's whole pending document and say how
// many commands it held (completed is not touched). Order: parameters →
// guard (G-MEMBER).
//
// The original read the document, then deleted it: a command queued in
// between was deleted without being counted. The delete here only applies
// to the version that was counted (else it reads again).
func (h *handlers) clear(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	siteID, machineID := q.Get("siteId"), q.Get("machineId")
	if siteID == "" || machineID == "" {
		return ErrClearParams
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	if !store.ValidID(machineID) {
		return web.BadRequest("machineId is not a valid machine id")
	}
	ctx := r.Context()
	ref := cmdqueue.Pending(h.d.Firestore, siteID, machineID)
	for attempt := 0; ; attempt++ {
		snap, err := ref.Get(ctx)
		if store.NotFound(err) {
			return web.OK(w, web.M{"success": true, "cleared": 0})
		}
		if err != nil {
			return web.Internal(err)
		}
		_, err = ref.Delete(ctx, firestore.LastUpdateTime(snap.UpdateTime))
		if err == nil {
			return web.OK(w, web.M{"success": true, "cleared": len(snap.Data())})
		}
		if c := status.Code(err); (c != codes.FailedPrecondition && c != codes.NotFound) || attempt == clearAttempts-1 {
			return web.Internal(err)
		}
	}
}
