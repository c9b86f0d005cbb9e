package machines

import (
	"net/http"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/web"
)

// ErrSiteID answers a request without its siteId.
var ErrSiteID = web.BadRequest("Missing required parameter: siteId")

// list is E19. Order: credential and admin role (before the handler) →
// siteId → site exists → the machines, sorted by name.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	siteID := r.URL.Query().Get("siteId")
	if siteID == "" {
		return ErrSiteID
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	snaps, err := h.machinesOf(siteID).Select(summaryFields...).Documents(r.Context()).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	out := make([]summary, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, summarize(s.Ref.ID, s.Data()))
	}
	sortByName(out)
	return web.OK(w, web.M{"success": true, "machines": out})
}
