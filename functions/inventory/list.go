package inventory

import (
	"net/http"
	"strings"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Fields lists what E24 returns of each entry (besides id), in the order
// the agent's documents carry them; only these are read.
var Fields = []string{"name", "version", "publisher", "install_location", "uninstall_command", "installer_type"}

// DefaultInstallerType is E24's installer_type when the entry has none.
const DefaultInstallerType = "custom"

// list is E24. Order: params → guard → one query. Entries come in document
// id order, all of them (no pagination); `search` keeps those whose name
// contains it, case-insensitively. An unknown machine has no entries.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	siteID, machineID, search := q.Get("siteId"), q.Get("machineId"), q.Get("search")
	if siteID == "" || machineID == "" {
		return web.BadRequest("Missing required parameters: siteId and machineId")
	}
	if !store.ValidID(machineID) {
		return web.BadRequest("Invalid machineId")
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	snaps, err := h.d.Firestore.Collection("sites").Doc(siteID).Collection("machines").Doc(machineID).
		Collection("installed_software").Select(Fields...).Documents(r.Context()).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	needle := strings.ToLower(search)
	out := make([]web.M, 0, len(snaps))
	for _, s := range snaps {
		e := View(s.Ref.ID, s.Data())
		if needle != "" {
			name, _ := e["name"].(string)
			if !strings.Contains(strings.ToLower(name), needle) {
				continue
			}
		}
		out = append(out, e)
	}
	return web.OK(w, web.M{"success": true, "software": out})
}

// View is E24's projection of one installed_software document: missing
// (falsy) strings are "", installer_type defaults to "custom".
func View(id string, d map[string]any) web.M {
	m := web.M{"id": id}
	for _, f := range Fields {
		def := ""
		if f == "installer_type" {
			def = DefaultInstallerType
		}
		if store.Truthy(d[f]) {
			m[f] = store.Raw(d[f])
		} else {
			m[f] = def
		}
	}
	return m
}
