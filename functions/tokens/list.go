package tokens

import (
	"net/http"
	"sort"
	"time"

	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// list is E40: the refresh tokens of one site, newest first (tokens without
// a createdAt timestamp last). Order: guard → siteId. No rate limit.
func (h handlers) list(w http.ResponseWriter, r *http.Request) error {
	siteID := r.URL.Query().Get("siteId")
	if siteID == "" {
		return web.BadRequest("Missing required parameter: siteId")
	}
	snaps, err := h.d.Firestore.Collection(Collection).Where("siteId", "==", siteID).Documents(r.Context()).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	type row struct {
		created time.Time
		has     bool
		v       web.M
	}
	rows := make([]row, 0, len(snaps))
	for _, s := range snaps {
		d := s.Data()
		v := web.M{
			"id":        s.Ref.ID,
			"createdAt": store.ISOOrNil(d["createdAt"]),
			"lastUsed":  store.ISOOrNil(d["lastUsed"]),
			"expiresAt": store.ISOOrNil(d["expiresAt"]),
		}
		// The original copies these as they are; an absent field is
		// undefined there and so missing from its JSON.
		for _, k := range []string{"machineId", "version", "createdBy", "agentUid"} {
			if x, ok := d[k]; ok {
				v[k] = store.Raw(x)
			}
		}
		c, has := d["createdAt"].(time.Time)
		rows = append(rows, row{c, has, v})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.has != b.has {
			return a.has
		}
		return a.created.After(b.created)
	})
	tokens := make([]web.M, len(rows))
	for i, r := range rows {
		tokens[i] = r.v
	}
	return web.OK(w, web.M{"tokens": tokens, "count": len(tokens)})
}
