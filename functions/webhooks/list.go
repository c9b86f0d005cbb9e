package webhooks

import (
	"net/http"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
	"github.com/owlette/server/shared/webhook"
)

// list is E44. Order: guard (admin) → siteId → site → list.
//
// Every stored field is spread into the answer, secret included (api.md
// §5.4: parity; admins can read it through the client SDK anyway), with
// lastTriggered and createdAt as ISO strings or null, any other timestamp
// in the raw {_seconds,_nanoseconds} form, and signingSecret: the same
// secret in the Standard Webhooks "whsec_" form receivers' libraries take.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	siteID := r.URL.Query().Get("siteId")
	if siteID == "" {
		return web.BadRequest("Missing required parameter: siteId")
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	snaps, err := h.hooks(siteID).Documents(r.Context()).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	out := make([]map[string]any, 0, len(snaps))
	for _, s := range snaps {
		d := s.Data()
		m := make(map[string]any, len(d)+4)
		for k, v := range d {
			m[k] = store.Raw(v)
		}
		// The document id wins over a stored "id" field: it is what E46
		// and E47 take.
		m["id"] = s.Ref.ID
		m["lastTriggered"] = store.ISOOrNil(d["lastTriggered"])
		m["createdAt"] = store.ISOOrNil(d["createdAt"])
		if secret, _ := d["secret"].(string); secret != "" {
			m["signingSecret"] = webhook.StandardSecret(secret)
		}
		out = append(out, m)
	}
	return web.OK(w, web.M{"success": true, "webhooks": out})
}
