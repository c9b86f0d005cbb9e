package installers

import (
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// ErrNoLatest answers E35 when no installer was ever marked latest.
var ErrNoLatest = web.NotFound("No installer version available")

// latest is E35: installer_metadata/latest. Each value is `x || null`;
// uploaded_at is uploaded_at || release_date, raw: ms for API uploads, a
// Timestamp (TSJSON) for dashboard uploads, or a stored string.
func (h *handlers) latest(w http.ResponseWriter, r *http.Request) error {
	snap, err := h.d.Firestore.Doc(LatestDoc).Get(r.Context())
	if store.NotFound(err) {
		return ErrNoLatest
	}
	if err != nil {
		return web.Internal(err)
	}
	d := snap.Data()
	uploaded := d["uploaded_at"]
	if !store.Truthy(uploaded) {
		uploaded = d["release_date"]
	}
	return web.OK(w, web.M{"success": true, "installer": web.M{
		"version":         orNull(d["version"]),
		"download_url":    orNull(d["download_url"]),
		"checksum_sha256": orNull(d["checksum_sha256"]),
		"release_notes":   orNull(d["release_notes"]),
		"file_size":       orNull(d["file_size"]),
		"uploaded_at":     orNull(uploaded),
	}})
}

// versions is E36: versions newest first by uploaded_at (versions without
// it, i.e. dashboard uploads, are not listed — as in the original).
func (h *handlers) versions(w http.ResponseWriter, r *http.Request) error {
	limit := ParseLimit(r.URL.Query().Get("limit"))
	snaps, err := h.d.Firestore.Collection(VersionsPath).OrderBy("uploaded_at", firestore.Desc).Limit(limit).Documents(r.Context()).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	out := make([]web.M, 0, len(snaps))
	for _, s := range snaps {
		d := s.Data()
		version := orNull(d["version"])
		if version == nil {
			version = s.Ref.ID
		}
		out = append(out, web.M{
			"version":         version,
			"download_url":    orNull(d["download_url"]),
			"checksum_sha256": orNull(d["checksum_sha256"]),
			"release_notes":   orNull(d["release_notes"]),
			"file_size":       orNull(d["file_size"]),
			"uploaded_at":     orNull(d["uploaded_at"]),
			"uploaded_by":     orNull(d["uploaded_by"]),
		})
	}
	return web.OK(w, web.M{"success": true, "versions": out})
}

// orNull is JavaScript's `v || null`, timestamps raw.
func orNull(v any) any {
	if store.Truthy(v) {
		return store.Raw(v)
	}
	return nil
}

// ParseLimit is the list limit rule (api.md E36, as E30): JavaScript
// parseInt, falsy or NaN ⇒ DefaultLimit, clamped to [1, MaxLimit].
func ParseLimit(s string) int {
	n, ok := web.ParseIntJS(s)
	if !ok || n == 0 {
		return DefaultLimit
	}
	return int(max(1, min(n, MaxLimit)))
}
