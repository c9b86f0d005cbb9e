package cortex

import (
	"context"
	"net/http"
	"slices"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// access completes G-CORTEX for siteID after the body was validated
// (api.md order: session → body → access), as DECISIONS §2 5.6 fixes it:
// 404 when the site does not exist, 403 unless the caller is an admin, the
// site's owner or assigned to it. It returns the site's data. One read
// round trip (user and site together).
func (h *handlers) access(ctx context.Context, r *http.Request, siteID string) (map[string]any, error) {
	p := guard.Caller(r)
	if p == nil || p.UID == "" {
		return nil, guard.ErrNoCredential
	}
	if !store.ValidID(siteID) {
		return nil, guard.ErrSiteNotFound
	}
	fs := h.d.Firestore
	snaps, err := fs.GetAll(ctx, []*firestore.DocumentRef{fs.Collection("users").Doc(p.UID), fs.Collection("sites").Doc(siteID)})
	if err != nil {
		return nil, web.Internal(err)
	}
	site := data(snaps[1])
	if site == nil {
		return nil, guard.ErrSiteNotFound
	}
	if user := data(snaps[0]); user != nil {
		if user["role"] == "admin" {
			return site, nil
		}
		if sites, ok := user["sites"].([]any); ok && slices.Contains(sites, any(siteID)) {
			return site, nil
		}
	}
	if owner, _ := site["owner"].(string); owner != "" && owner == p.UID {
		return site, nil
	}
	return nil, guard.ErrNoSiteAccess
}

// data is a snapshot's fields, nil when it does not exist.
func data(s *firestore.DocumentSnapshot) map[string]any {
	if s == nil || !s.Exists() {
		return nil
	}
	return s.Data()
}

// siteName is the site's display name (its id when unnamed).
func siteName(site map[string]any, siteID string) string {
	if n, _ := site["name"].(string); n != "" {
		return n
	}
	return siteID
}

// callerUID is the session user of the request.
func callerUID(r *http.Request) string {
	if p := guard.Caller(r); p != nil {
		return p.UID
	}
	return ""
}
