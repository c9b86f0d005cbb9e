package screenshots

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

type uploadRequest struct {
	SiteID     string `json:"siteId"`
	MachineID  string `json:"machineId"`
	Screenshot string `json:"screenshot" max:"20971520"` // bounded by MaxBody
	// agentVersion is sent by agents and ignored.
}

func (q uploadRequest) Validate() error {
	for _, f := range []struct{ name, v string }{{"siteId", q.SiteID}, {"machineId", q.MachineID}, {"screenshot", q.Screenshot}} {
		if err := web.Required(f.name, f.v); err != nil {
			return err
		}
	}
	// Ids become Firestore document ids and object path segments.
	if !store.ValidID(q.SiteID) {
		return web.BadRequest(`Field "siteId" is not a valid site id`)
	}
	if !store.ValidID(q.MachineID) {
		return web.BadRequest(`Field "machineId" is not a valid machine id`)
	}
	return nil
}

// ErrNotJPEG answers data that is base64 but not a JPEG.
var ErrNotJPEG = web.BadRequest("screenshot must be a base64-encoded JPEG")

// upload is E18. Order: agent token (router) → body → required fields →
// site_id claim → size → bucket → uploads.
func (h *handlers) upload(w http.ResponseWriter, r *http.Request) error {
	var req uploadRequest
	if err := web.DecodeLimit(w, r, &req, MaxBody); err != nil {
		return err
	}
	if _, err := guard.Site(r, req.SiteID); err != nil {
		return err
	}
	img, ok := decodeBase64(req.Screenshot)
	req.Screenshot = "" // let the encoded copy go
	if !ok {
		return web.BadRequest("screenshot is not valid base64")
	}
	kb := sizeKB(len(img))
	if kb > MaxSizeKB {
		return web.Errorf(http.StatusRequestEntityTooLarge, "Screenshot too large: %d KB (maximum %d KB)", kb, MaxSizeKB)
	}
	// Deliberate difference: the original did no JPEG validation (api.md
	// E18, "no JPEG validation") and stored whatever bytes it got; our issue
	// asks that non-JPEG input get the documented error, so data that does
	// not start with the SOI marker (FF D8 FF) is refused with a 400. It
	// would otherwise be served as image/jpeg from a public URL.
	if !isJPEG(img) {
		return ErrNotJPEG
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

	ms := h.d.Now().UnixMilli()
	machine := h.d.Firestore.Collection("sites").Doc(req.SiteID).Collection("machines").Doc(req.MachineID)
	history := machine.Collection("screenshots")

	// Which history docs to prune is looked up while the images upload.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pruneCh := make(chan pruneResult, 1)
	go func() { pruneCh <- h.findPrunable(pctx, history) }()

	meta := map[string]string{"machineId": req.MachineID, "siteId": req.SiteID, "capturedAt": strconv.FormatInt(ms, 10)}
	latest := latestObject(req.SiteID, req.MachineID)
	if err := h.put(ctx, gcs, bucket, latest, CacheLatest, img, meta); err != nil {
		return web.Internal(fmt.Errorf("upload %s: %w", latest, err))
	}
	hist := historyObject(req.SiteID, req.MachineID, ms)
	if err := h.put(ctx, gcs, bucket, hist, CacheHistory, img, meta); err != nil {
		return web.Internal(fmt.Errorf("upload %s: %w", hist, err))
	}

	log := logging.From(ctx)
	prune := <-pruneCh
	if prune.err != nil {
		log.Warn("screenshot history not pruned", "siteId", req.SiteID, "machineId", req.MachineID, "error", prune.err.Error())
	}
	// One commit: lastScreenshot (merged, so a machine doc an agent has
	// just replaced wholesale, or none at all, is fine), the history doc,
	// and the deletion of the docs beyond MaxHistory.
	latestURL := publicURL(bucket, latest) + "?t=" + strconv.FormatInt(ms, 10)
	b := h.d.Firestore.Batch()
	b.Set(machine, map[string]any{"lastScreenshot": map[string]any{
		"url": latestURL, "timestamp": firestore.ServerTimestamp, "sizeKB": kb,
	}}, firestore.Merge(firestore.FieldPath{"lastScreenshot"}))
	b.Create(history.NewDoc(), map[string]any{
		"url": publicURL(bucket, hist), "timestamp": firestore.ServerTimestamp, "sizeKB": kb,
	})
	for _, d := range prune.docs {
		b.Delete(d.ref)
	}
	if _, err := b.Commit(ctx); err != nil {
		return web.Internal(fmt.Errorf("screenshot docs: %w", err))
	}
	// Then the pruned objects. A failure here leaves an orphaned object,
	// never a history entry without its image; the upload itself succeeded.
	if names := h.prunedObjects(ctx, bucket, req.SiteID, req.MachineID, prune.docs); len(names) > 0 {
		if err := deleteObjects(ctx, gcs, bucket, names); err != nil {
			log.Warn("pruned screenshot objects not deleted", "siteId", req.SiteID, "machineId", req.MachineID, "error", err.Error())
		}
	}
	return web.OK(w, web.M{"success": true, "sizeKB": kb, "url": latestURL})
}

type prunable struct {
	ref *firestore.DocumentRef
	url string
}

type pruneResult struct {
	docs []prunable
	err  error
}

// findPrunable returns the oldest history docs that must go once one more
// is added, so that MaxHistory remain. A count (one read per 1000 entries)
// and, only when the history is full, a query limited to the excess: two
// small reads instead of reading the whole history on every upload (live
// view uploads every few seconds).
func (h *handlers) findPrunable(ctx context.Context, history *firestore.CollectionRef) pruneResult {
	oldest := history.OrderBy("timestamp", firestore.Asc)
	agg, err := oldest.NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		return pruneResult{err: err}
	}
	n := aggInt(agg["n"])
	excess := n - (MaxHistory - 1)
	if excess <= 0 {
		return pruneResult{}
	}
	snaps, err := oldest.Select("url").Limit(int(excess)).Documents(ctx).GetAll()
	if err != nil {
		return pruneResult{err: err}
	}
	out := make([]prunable, 0, len(snaps))
	for _, s := range snaps {
		u, _ := s.Data()["url"].(string)
		out = append(out, prunable{ref: s.Ref, url: u})
	}
	return pruneResult{docs: out}
}

// prunedObjects maps pruned docs to their objects, keeping only objects of
// this machine's screenshot folder (a stored URL never names anything else,
// but a deletion should not rely on that).
func (h *handlers) prunedObjects(ctx context.Context, bucket, siteID, machineID string, docs []prunable) []string {
	var names []string
	for _, d := range docs {
		if name, ok := ownObject(bucket, siteID, machineID, d.url); ok {
			names = append(names, name)
		} else if d.url != "" {
			logging.From(ctx).Warn("screenshot url outside the machine's folder: object kept", "doc", d.ref.Path, "url", d.url)
		}
	}
	return names
}

// ownObject is objectFromURL restricted to the machine's folder.
func ownObject(bucket, siteID, machineID, u string) (string, bool) {
	name, ok := objectFromURL(bucket, u)
	prefix := machinePrefix(siteID, machineID)
	if !ok || len(name) <= len(prefix) || !strings.HasPrefix(name, prefix) {
		return "", false
	}
	return name, true
}

// aggInt reads a count aggregation value.
func aggInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case interface{ GetIntegerValue() int64 }:
		return x.GetIntegerValue()
	}
	return 0
}
