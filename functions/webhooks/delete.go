package webhooks

import (
	"net/http"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// delete is E46. Order: guard (admin) → parameters → site → delete.
// Idempotent: a webhook that does not exist, or an id that cannot name
// one, is "deleted" already.
func (h *handlers) delete(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	siteID, hookID := q.Get("siteId"), q.Get("webhookId")
	if siteID == "" || hookID == "" {
		return web.BadRequest("Missing required parameters: siteId and webhookId")
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	if store.ValidID(hookID) {
		if _, err := h.hooks(siteID).Doc(hookID).Delete(r.Context()); err != nil {
			return web.Internal(err)
		}
	}
	return web.OK(w, web.M{"success": true})
}
