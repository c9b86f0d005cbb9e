package tokens

import (
	"context"
	"fmt"
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// DeleteChunk bounds one delete batch (Firestore's limit is 500 writes).
const DeleteChunk = 500

type revokeRequest struct {
	SiteID    string `json:"siteId"`
	All       any    `json:"all"`
	TokenID   string `json:"tokenId"`
	MachineID string `json:"machineId"`
}

func (q revokeRequest) Validate() error {
	if err := web.Required("siteId", q.SiteID); err != nil {
		return err
	}
	if q.All != true && q.TokenID == "" && q.MachineID == "" {
		return web.BadRequest("Specify which tokens to revoke: all: true, tokenId or machineId")
	}
	return nil
}

// revoke is E41. Order: guard → body. Selectors in priority all:true →
// tokenId → machineId. Deleting the document is the whole revocation:
// ID tokens already issued stay valid until they expire (≤ 1 h).
func (h handlers) revoke(w http.ResponseWriter, r *http.Request) error {
	var req revokeRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	coll := h.d.Firestore.Collection(Collection)
	switch {
	case req.All == true:
		n, err := h.deleteAll(ctx, coll.Where("siteId", "==", req.SiteID))
		if err != nil {
			return web.Internal(err)
		}
		return web.OK(w, web.M{"success": true, "revokedCount": n, "message": fmt.Sprintf("Revoked %d token(s) for site %s", n, req.SiteID)})
	case req.TokenID != "":
		notFound := web.M{"success": false, "revokedCount": 0, "message": "Token not found"}
		if !store.ValidID(req.TokenID) {
			return web.OK(w, notFound)
		}
		ref := coll.Doc(req.TokenID)
		snap, err := ref.Get(ctx)
		if store.NotFound(err) {
			return web.OK(w, notFound)
		}
		if err != nil {
			return web.Internal(err)
		}
		if site, _ := snap.Data()["siteId"].(string); site != req.SiteID {
			return web.Forbidden("Token does not belong to this site")
		}
		// A token's siteId never changes, so the check above still holds.
		if _, err := ref.Delete(ctx); err != nil {
			return web.Internal(err)
		}
		return web.OK(w, web.M{"success": true, "revokedCount": 1, "message": "Token revoked"})
	default:
		n, err := h.deleteAll(ctx, coll.Where("siteId", "==", req.SiteID).Where("machineId", "==", req.MachineID))
		if err != nil {
			return web.Internal(err)
		}
		return web.OK(w, web.M{"success": true, "revokedCount": n, "message": fmt.Sprintf("Revoked %d token(s) for machine %s", n, req.MachineID)})
	}
}

// deleteAll deletes every document q matches, DeleteChunk at a time: each
// round reads at most DeleteChunk ids (no field data) and deletes them in
// one batch, so any number of tokens is revoked in bounded memory.
func (h handlers) deleteAll(ctx context.Context, q firestore.Query) (int, error) {
	total := 0
	for {
		snaps, err := q.Select().Limit(DeleteChunk).Documents(ctx).GetAll()
		if err != nil {
			return total, err
		}
		if len(snaps) == 0 {
			return total, nil
		}
		b := h.d.Firestore.Batch()
		for _, s := range snaps {
			b.Delete(s.Ref)
		}
		if _, err := b.Commit(ctx); err != nil {
			return total, err
		}
		total += len(snaps)
		if len(snaps) < DeleteChunk {
			return total, nil
		}
	}
}
