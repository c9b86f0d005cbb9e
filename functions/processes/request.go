package processes

import (
	"net/http"

	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// ErrMissingIDs answers a request without siteId or machineId.
var ErrMissingIDs = web.BadRequest("Missing required fields: siteId and machineId")

// checkIDs is the first check of every route: both ids present (truthy),
// and the machine id usable as a document id (the site id is the guard's).
func checkIDs(siteID, machineID string) error {
	if siteID == "" || machineID == "" {
		return ErrMissingIDs
	}
	if !store.ValidID(machineID) {
		return web.BadRequest("Invalid machineId")
	}
	return nil
}

// queryIDs reads siteId and machineId from the query string (E25, E28).
func queryIDs(r *http.Request) (string, string, error) {
	q := r.URL.Query()
	siteID, machineID := q.Get("siteId"), q.Get("machineId")
	return siteID, machineID, checkIDs(siteID, machineID)
}

// body is a decoded JSON object body.
type body map[string]any

// decodeBody reads a JSON object (400 for anything else, 413 past MaxBody).
func decodeBody(w http.ResponseWriter, r *http.Request) (body, error) {
	var b body
	if err := web.DecodeLimit(w, r, &b, MaxBody); err != nil {
		return nil, err
	}
	if b == nil { // the body was `null`
		return nil, web.BadRequest("Request body must be a JSON object, not null")
	}
	return b, nil
}

// str returns a string field; absent or null is "", another type a 400.
func (b body) str(k string) (string, error) {
	switch v := b[k].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	return "", web.Errorf(http.StatusBadRequest, "Field %q must be a string", k)
}

// ids reads and checks siteId and machineId.
func (b body) ids() (string, string, error) {
	siteID, err := b.str("siteId")
	if err != nil {
		return "", "", err
	}
	machineID, err := b.str("machineId")
	if err != nil {
		return "", "", err
	}
	return siteID, machineID, checkIDs(siteID, machineID)
}

// setting returns a process setting the dashboard sends as a string and
// agents store as a number (time_delay, …): a truthy value is kept (as the
// original's `x || default`), anything falsy gives def; other types are a
// 400.
func (b body) setting(k, def string) (any, error) {
	switch v := b[k].(type) {
	case nil:
		return def, nil
	case string:
		if v == "" {
			return def, nil
		}
		return v, nil
	case float64:
		if v == 0 {
			return def, nil
		}
		return firestoreValue(v, k, 0)
	}
	return nil, web.Errorf(http.StatusBadRequest, "Field %q must be a string or a number", k)
}

// validMode reports whether m is a launch mode.
func validMode(m string) bool { return m == ModeOff || m == ModeAlways || m == ModeScheduled }

// ErrMode answers an unknown launch mode.
var ErrMode = web.BadRequest("Invalid mode. Must be one of: off, always, scheduled")
