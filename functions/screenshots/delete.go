package screenshots

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// ErrScreenshotNotFound answers an unknown screenshotId.
var ErrScreenshotNotFound = web.NotFound("Screenshot not found")

// remove is X06: DELETE /api/admin/screenshots?siteId=&machineId=[&screenshotId=].
// Order: credential + admin role (router) → parameters → site exists.
func (h *handlers) remove(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	siteID, machineID, shotID := q.Get("siteId"), q.Get("machineId"), q.Get("screenshotId")
	for _, p := range []struct{ name, v string }{{"siteId", siteID}, {"machineId", machineID}} {
		if p.v == "" {
			return web.Errorf(http.StatusBadRequest, "Missing required parameter: %s", p.name)
		}
	}
	if _, err := guard.Site(r, siteID); err != nil { // 404 for an invalid id too
		return err
	}
	if !store.ValidID(machineID) {
		return web.BadRequest(`Parameter "machineId" is not a valid machine id`)
	}
	bucket := h.d.Config.StorageBucket
	if bucket == "" {
		return web.Internal(errors.New("storage bucket is not configured (STORAGE_BUCKET)"))
	}
	ctx := r.Context()
	gcs, err := h.d.Storage(ctx)
	if err != nil {
		return web.Internal(fmt.Errorf("storage client: %w", err))
	}
	machine := h.d.Firestore.Collection("sites").Doc(siteID).Collection("machines").Doc(machineID)
	history := machine.Collection("screenshots")
	log := logging.From(ctx)

	if q.Has("screenshotId") {
		// One screenshot: its object, then its doc.
		if !store.ValidID(shotID) {
			return ErrScreenshotNotFound
		}
		ref := history.Doc(shotID)
		snap, err := ref.Get(ctx)
		if store.NotFound(err) {
			return ErrScreenshotNotFound
		}
		if err != nil {
			return web.Internal(err)
		}
		u, _ := snap.Data()["url"].(string)
		if name, ok := ownObject(bucket, siteID, machineID, u); ok {
			if err := deleteObjects(ctx, gcs, bucket, []string{name}); err != nil {
				return web.Internal(fmt.Errorf("delete %s: %w", name, err))
			}
		} else if u != "" {
			log.Warn("screenshot url outside the machine's folder: object kept", "doc", ref.Path, "url", u)
		}
		if _, err := ref.Delete(ctx); err != nil {
			return web.Internal(err)
		}
		return web.OK(w, web.M{"success": true, "deleted": 1})
	}

	// The whole history: every object, every doc, lastScreenshot, latest.jpg.
	snaps, err := history.Select("url").Documents(ctx).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	if len(snaps) == 0 {
		return web.OK(w, web.M{"success": true, "deleted": 0})
	}
	var names []string
	for _, s := range snaps {
		u, _ := s.Data()["url"].(string)
		if name, ok := ownObject(bucket, siteID, machineID, u); ok {
			names = append(names, name)
		} else if u != "" {
			log.Warn("screenshot url outside the machine's folder: object kept", "doc", s.Ref.Path, "url", u)
		}
	}
	if err := deleteObjects(ctx, gcs, bucket, names); err != nil {
		return web.Internal(fmt.Errorf("delete history objects: %w", err))
	}
	// The doc deletions and lastScreenshot:null in one commit. The original
	// used update(), which fails (500) when the machine doc is missing; an
	// agent may have replaced or removed it (datamodel.md §12 item 6), and
	// creating it would invent a machine, so then the docs go without it.
	if err := h.commitDeletes(ctx, snaps, machine, true); err != nil {
		if !store.NotFound(err) {
			return web.Internal(err)
		}
		log.Info("machine doc missing: lastScreenshot not cleared", "siteId", siteID, "machineId", machineID)
		if err := h.commitDeletes(ctx, snaps, machine, false); err != nil {
			return web.Internal(err)
		}
	}
	if err := deleteObjects(ctx, gcs, bucket, []string{latestObject(siteID, machineID)}); err != nil {
		return web.Internal(fmt.Errorf("delete latest.jpg: %w", err))
	}
	return web.OK(w, web.M{"success": true, "deleted": len(snaps)})
}

// commitDeletes deletes the history docs (at most 500 writes a commit)
// and, with clear, sets lastScreenshot to null in the first commit, which
// then fails as a whole (NotFound) when the machine doc does not exist.
func (h *handlers) commitDeletes(ctx context.Context, snaps []*firestore.DocumentSnapshot, machine *firestore.DocumentRef, clear bool) error {
	const perCommit = 500
	for start, first := 0, true; start < len(snaps); first = false {
		b := h.d.Firestore.Batch()
		room := perCommit
		if first && clear {
			b.Update(machine, []firestore.Update{{Path: "lastScreenshot", Value: nil}})
			room--
		}
		end := min(start+room, len(snaps))
		for _, s := range snaps[start:end] {
			b.Delete(s.Ref)
		}
		if _, err := b.Commit(ctx); err != nil {
			return err
		}
		start = end
	}
	return nil
}
