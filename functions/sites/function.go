// Package sites is the "sites" Cloud Function: the admin site list (api.md
// §2.13, E39).
package sites

import (
	"time"

	"cmp"
	"net/http"
	"slices"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "sites"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/sites"},
	Timeout: 30 * time.Second,
	Config:  config.Session,
}

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := handlers{rt.D}
	rt.Handle("GET /api/admin/sites", guard.Admin, ratelimit.API, h.list)
}

type handlers struct{ d *app.Deps }

type site struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt any    `json:"createdAt"`
	Owner     any    `json:"owner"`
}

// list is E39: G-ADMIN lets only admins in, and admins see every site.
func (h handlers) list(w http.ResponseWriter, r *http.Request) error {
	snaps, err := h.d.Firestore.Collection("sites").Select("name", "createdAt", "owner").Documents(r.Context()).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	out := make([]site, 0, len(snaps))
	for _, s := range snaps {
		d := s.Data()
		name, _ := d["name"].(string)
		if name == "" {
			name = s.Ref.ID
		}
		out = append(out, site{ID: s.Ref.ID, Name: name, CreatedAt: store.ISOOrNil(d["createdAt"]), Owner: store.String(d["owner"])})
	}
	slices.SortFunc(out, func(a, b site) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return web.OK(w, web.M{"success": true, "sites": out})
}
