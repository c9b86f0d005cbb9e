package machines

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/cmdqueue"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// LatestInstaller is the installer release every self-update installs.
const LatestInstaller = "installer_metadata/latest"

// TypeUpdate is the agent's self-update command (datamodel.md §5.8).
const TypeUpdate = "update_owlette"

// Errors of E21.
var (
	ErrMachineIDs  = web.BadRequest("machineIds must be a non-empty array of machine ids")
	ErrNoInstaller = web.NotFound("No installer version available")
	ErrNoURL       = web.Errorf(http.StatusInternalServerError, "The latest installer has no download URL")
	ErrNoChecksum  = web.Errorf(http.StatusInternalServerError, "The latest installer has no checksum_sha256")
	ErrNoneOnline  = web.NotFound("No online machines found in this site")
)

// Per-machine errors of E21's errors list.
const (
	errInvalidID    = "Invalid machine id"
	errQueueFailure = "Failed to queue the update command"
)

// txChunk is how many machines one transaction queues.
const txChunk = 400

// CommandID is the self-update command id for a machine (api.md §1.12).
func CommandID(ms int64, machineID string) string {
	return "update_owlette_" + strconv.FormatInt(ms, 10) + "_" + machineID
}

type updateRequest struct {
	SiteID     string          `json:"siteId"`
	MachineIDs json.RawMessage `json:"machineIds"`
	// ids is machineIds decoded, nil when omitted.
	ids []string
}

// Validate: siteId required; machineIds, when present (null included),
// must be a non-empty array of strings. Repeated ids are queued once.
func (q *updateRequest) Validate() error {
	if err := web.Required("siteId", q.SiteID); err != nil {
		return err
	}
	if q.MachineIDs == nil {
		return nil
	}
	var ids []any
	if bytes.Equal(q.MachineIDs, []byte("null")) || json.Unmarshal(q.MachineIDs, &ids) != nil || len(ids) == 0 {
		return ErrMachineIDs
	}
	if len(ids) > MaxTargets {
		return web.Errorf(http.StatusBadRequest, "machineIds may name at most %d machines", MaxTargets)
	}
	seen := make(map[string]bool, len(ids))
	q.ids = make([]string, 0, len(ids))
	for _, v := range ids {
		s, ok := v.(string)
		if !ok {
			return ErrMachineIDs
		}
		if !seen[s] {
			seen[s] = true
			q.ids = append(q.ids, s)
		}
	}
	return nil
}

type queued struct {
	MachineID string `json:"machineId"`
	CommandID string `json:"commandId"`
}

type failure struct {
	MachineID string `json:"machineId"`
	Error     string `json:"error"`
}

// update is E21: queue update_owlette with the latest installer for the
// named machines, or for every online machine of the site. Order: body →
// guard → installer metadata → targets → writes.
//
// Ids keep the original's update_owlette_<ms>_<machineId> format but never
// collide (DECISIONS §2, 5.16): each machine's pending document is read in a
// transaction and a taken id moves to the next millisecond. A machine id
// that cannot name a document is reported in errors, not written.
func (h *handlers) update(w http.ResponseWriter, r *http.Request) error {
	var req updateRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.Site(r, req.SiteID); err != nil {
		return err
	}
	ctx := r.Context()
	fs := h.d.Firestore
	snap, err := fs.Doc(LatestInstaller).Get(ctx)
	if store.NotFound(err) {
		return ErrNoInstaller
	}
	if err != nil {
		return web.Internal(err)
	}
	meta := snap.Data()
	url := meta["download_url"]
	if !store.Truthy(url) {
		url = meta["downloadUrl"]
	}
	if !store.Truthy(url) {
		return ErrNoURL
	}
	checksum := meta["checksum_sha256"]
	if !store.Truthy(checksum) {
		return ErrNoChecksum
	}
	version := meta["version"]

	targets := req.ids
	if targets == nil {
		snaps, err := h.machinesOf(req.SiteID).Where("online", "==", true).Select().Documents(ctx).GetAll()
		if err != nil {
			return web.Internal(err)
		}
		for _, s := range snaps {
			targets = append(targets, s.Ref.ID)
		}
		if len(targets) == 0 {
			return ErrNoneOnline
		}
	}

	cmd := map[string]any{
		"type":            TypeUpdate,
		"installer_url":   url,
		"checksum_sha256": checksum,
		"timestamp":       firestore.ServerTimestamp,
		"status":          "pending",
	}
	if version != nil {
		cmd["target_version"] = version
	}
	var (
		sent   = []queued{}
		failed []failure
		valid  []string
	)
	for _, m := range targets {
		if store.ValidID(m) {
			valid = append(valid, m)
		} else {
			failed = append(failed, failure{MachineID: m, Error: errInvalidID})
		}
	}
	ms := h.d.Now().UnixMilli()
	for start := 0; start < len(valid); start += txChunk {
		chunk := valid[start:min(start+txChunk, len(valid))]
		ids, err := h.queueUpdates(ctx, req.SiteID, chunk, ms, cmd)
		if err != nil {
			logging.From(ctx).Error("update commands not queued", "site", req.SiteID, "machines", len(chunk), "error", err.Error())
			for _, m := range chunk {
				failed = append(failed, failure{MachineID: m, Error: errQueueFailure})
			}
			continue
		}
		for i, m := range chunk {
			sent = append(sent, queued{MachineID: m, CommandID: ids[i]})
		}
	}
	out := web.M{
		"success":  len(sent) > 0,
		"version":  store.Raw(version),
		"sent":     len(sent),
		"failed":   len(failed),
		"machines": sent,
	}
	if len(failed) > 0 {
		out["errors"] = failed
	}
	return web.OK(w, out)
}

// queueUpdates merges cmd into each machine's pending document in one
// transaction, under an id not already present there, and returns the ids.
func (h *handlers) queueUpdates(ctx context.Context, siteID string, machines []string, ms int64, cmd map[string]any) ([]string, error) {
	fs := h.d.Firestore
	refs := make([]*firestore.DocumentRef, len(machines))
	for i, m := range machines {
		refs[i] = cmdqueue.Pending(fs, siteID, m)
	}
	var ids []string
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snaps, err := tx.GetAll(refs)
		if err != nil {
			return err
		}
		ids = make([]string, len(machines))
		for i, m := range machines {
			var taken map[string]any
			if snaps[i].Exists() {
				taken = snaps[i].Data()
			}
			id := CommandID(ms, m)
			for n := int64(1); has(taken, id); n++ {
				id = CommandID(ms+n, m)
			}
			ids[i] = id
			if err := tx.Set(refs[i], map[string]any{id: cmd}, firestore.Merge(firestore.FieldPath{id})); err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}

func has(m map[string]any, k string) bool { _, ok := m[k]; return ok }
