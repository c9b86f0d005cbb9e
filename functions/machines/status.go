package machines

import (
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Errors of E20.
var (
	ErrStatusParams   = web.BadRequest("Missing required parameters: siteId and machineId")
	ErrMachineMissing = web.NotFound("Machine not found")
)

type statusView struct {
	summary
	Metrics   any `json:"metrics"`
	Processes any `json:"processes"`
	Health    any `json:"health"`
}

// status is E20. Order: credential and admin role → parameters → site
// exists → machine exists. Nested values are passed through raw (stored
// timestamps as {"_seconds","_nanoseconds"}).
//
// The agent reports its processes under metrics.processes, and no current
// writer puts a top-level processes (or status.processes) on the machine
// document, so the answer almost always comes from the config document:
// both are read in one round trip.
func (h *handlers) status(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	siteID, machineID := q.Get("siteId"), q.Get("machineId")
	if siteID == "" || machineID == "" {
		return ErrStatusParams
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	if !store.ValidID(machineID) {
		return ErrMachineMissing
	}
	fs := h.d.Firestore
	snaps, err := fs.GetAll(r.Context(), []*firestore.DocumentRef{
		h.machinesOf(siteID).Doc(machineID),
		fs.Collection("config").Doc(siteID).Collection("machines").Doc(machineID),
	})
	if err != nil {
		return web.Internal(err)
	}
	if !snaps[0].Exists() {
		return ErrMachineMissing
	}
	d := snaps[0].Data()
	st, _ := d["status"].(map[string]any)
	var conf map[string]any
	if snaps[1].Exists() {
		conf = snaps[1].Data()
	}
	return web.OK(w, web.M{"success": true, "machine": statusView{
		summary:   summarize(machineID, d),
		Metrics:   or(d["metrics"], st["metrics"], nil),
		Processes: or(d["processes"], st["processes"], conf["processes"], []any{}),
		Health:    or(d["health"], st["health"], nil),
	}})
}
