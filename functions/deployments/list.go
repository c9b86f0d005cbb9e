package deployments

import (
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// ErrNotFound answers an unknown deployment.
var ErrNotFound = web.NotFound("Deployment not found")

// siteParam reads the required siteId query parameter.
func siteParam(r *http.Request) (string, error) {
	siteID := r.URL.Query().Get("siteId")
	if siteID == "" {
		return "", web.BadRequest("Missing required parameter: siteId")
	}
	return siteID, nil
}

// list is E30. Order: siteId → guard → query. Raw createdAt values (TSJSON
// or ms) pass through; documents without createdAt are not listed.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	siteID, err := siteParam(r)
	if err != nil {
		return err
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	limit := ParseLimit(r.URL.Query().Get("limit"))
	snaps, err := h.deployments(siteID).OrderBy("createdAt", firestore.Desc).Limit(limit).Documents(r.Context()).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	out := make([]web.M, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, project(s.Ref.ID, s.Data()))
	}
	return web.OK(w, web.M{"success": true, "deployments": out})
}

// get is E32: one deployment, same projection as the list.
func (h *handlers) get(w http.ResponseWriter, r *http.Request) error {
	ref, err := h.deploymentRef(r)
	if err != nil {
		return err
	}
	snap, err := ref.Get(r.Context())
	if store.NotFound(err) {
		return ErrNotFound
	}
	if err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true, "deployment": project(ref.ID, snap.Data())})
}

// project is the E30/E32 view of a deployment document. Defaults follow the
// original's `x || default`; installer_name/installer_url are copied as they
// are (missing ⇒ omitted); verify_path and completedAt are omitted when
// falsy; timestamps are raw (TSJSON, or ms for Cortex-created deployments).
func project(id string, d map[string]any) web.M {
	m := web.M{
		"id":           id,
		"name":         or(d["name"], "Unnamed Deployment"),
		"silent_flags": or(d["silent_flags"], ""),
		"targets":      or(d["targets"], []any{}),
		"createdAt":    or(d["createdAt"], 0),
		"status":       or(d["status"], StatusPending),
	}
	for _, k := range []string{"installer_name", "installer_url"} {
		if v, ok := d[k]; ok {
			m[k] = store.Raw(v)
		}
	}
	for _, k := range []string{"verify_path", "completedAt"} {
		if store.Truthy(d[k]) {
			m[k] = store.Raw(d[k])
		}
	}
	return m
}

// or is JavaScript's `v || def`, with stored timestamps in their raw form.
func or(v, def any) any {
	if store.Truthy(v) {
		return store.Raw(v)
	}
	return def
}

// ParseLimit is the list limit rule of E30/E36: JavaScript parseInt, a falsy
// or NaN result means DefaultLimit, then clamped to [1, MaxLimit].
func ParseLimit(s string) int {
	n, ok := web.ParseIntJS(s)
	if !ok || n == 0 {
		return DefaultLimit
	}
	return int(max(1, min(n, MaxLimit)))
}

// deploymentRef checks siteId, completes the site guard and names the
// deployment of the path (E32, E33): siteId → guard → deployment.
func (h *handlers) deploymentRef(r *http.Request) (*firestore.DocumentRef, error) {
	siteID, err := siteParam(r)
	if err != nil {
		return nil, err
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return nil, err
	}
	id := r.PathValue("deploymentId")
	if !store.ValidID(id) {
		return nil, ErrNotFound
	}
	return h.deployments(siteID).Doc(id), nil
}
