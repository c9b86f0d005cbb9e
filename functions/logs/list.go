package logs

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// maxFilterBytes bounds a filter value (Firestore indexes 1500 bytes of a
// string; nothing the agent writes comes near it).
const maxFilterBytes = 1500

// ErrSince answers a `since` that is neither a date nor epoch milliseconds.
var ErrSince = web.BadRequest("Invalid since: expected an ISO-8601 date (e.g. 2026-01-31T12:00:00Z) or epoch milliseconds")

// Filter is one equality filter: the field must equal one of Values.
type Filter struct {
	Field  string
	Values []string
}

// Filters reads the equality filters of a request, in the field order of
// the composite indexes (action, level, machineId). Each is added only when
// its parameter is non-empty. The agent writes level "warning" where the
// published API documents "warn": either name matches both.
func Filters(q map[string][]string) []Filter {
	var out []Filter
	for _, f := range []string{"action", "level", "machineId"} {
		v := ""
		if vs := q[f]; len(vs) > 0 {
			v = vs[0]
		}
		if v == "" {
			continue
		}
		vals := []string{v}
		if f == "level" && (v == "warn" || v == "warning") {
			vals = []string{"warning", "warn"}
		}
		out = append(out, Filter{Field: f, Values: vals})
	}
	return out
}

// list is E42. Order: guard (admin) → siteId → site → limit, since.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	siteID := q.Get("siteId")
	if siteID == "" {
		return web.BadRequest("Missing required parameter: siteId")
	}
	if _, err := guard.Site(r, siteID); err != nil {
		return err
	}
	limit := ParseLimit(q.Get("limit"))
	since, err := ParseSince(q.Get("since"))
	if err != nil {
		return err
	}
	filters := Filters(q)
	for _, f := range filters {
		if len(f.Values[0]) > maxFilterBytes {
			return web.Errorf(http.StatusBadRequest, "Parameter %s is too long (limit %d bytes)", f.Field, maxFilterBytes)
		}
	}
	col := h.d.Firestore.Collection("sites").Doc(siteID).Collection("logs")
	snaps, err := h.query(r.Context(), col, filters, since, limit)
	if err != nil {
		return web.Internal(err)
	}
	out := make([]web.M, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, View(s.Ref.ID, s.Data()))
	}
	return web.OK(w, web.M{"success": true, "logs": out})
}

// View is E42's projection of a log document: falsy fields are null, the
// timestamp is raw ({"_seconds","_nanoseconds"}).
func View(id string, d map[string]any) web.M {
	m := web.M{"id": id}
	for _, f := range []string{"timestamp", "action", "level", "machineId", "processName", "details"} {
		if store.Truthy(d[f]) {
			m[f] = store.Raw(d[f])
		} else {
			m[f] = nil
		}
	}
	return m
}

// query runs the newest-first query with every filter in Firestore, or, if
// Firestore refuses it for want of an index, with fewer (see package doc).
func (h *handlers) query(ctx context.Context, col *firestore.CollectionRef, filters []Filter, since *time.Time, limit int) ([]*firestore.DocumentSnapshot, error) {
	var err error
	for _, served := range plans(filters) {
		var snaps []*firestore.DocumentSnapshot
		snaps, err = h.run(ctx, col, filters, served, since, limit)
		if status.Code(err) != codes.FailedPrecondition {
			return snaps, err
		}
		logging.From(ctx).Warn("logs query needs an index that is missing: filtering in memory", "fields", fields(served), "error", err.Error())
	}
	return nil, err
}

// plans lists which filters Firestore applies, best first: all; without
// level (the original's indexes cover action and machineId); none.
func plans(filters []Filter) [][]Filter {
	out := [][]Filter{filters}
	var noLevel []Filter
	for _, f := range filters {
		if f.Field != "level" {
			noLevel = append(noLevel, f)
		}
	}
	if len(noLevel) < len(filters) {
		out = append(out, noLevel)
	}
	if len(noLevel) > 0 {
		out = append(out, nil)
	}
	return out
}

func fields(fs []Filter) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Field
	}
	return out
}

// run queries with the served filters in Firestore and the others in
// memory, until limit matches, the end, or MaxScan documents.
func (h *handlers) run(ctx context.Context, col *firestore.CollectionRef, all, served []Filter, since *time.Time, limit int) ([]*firestore.DocumentSnapshot, error) {
	if h.indexMissing != nil && len(served) > 0 && h.indexMissing(fields(served)) {
		return nil, status.Error(codes.FailedPrecondition, "The query requires an index (simulated)")
	}
	q := col.Query
	for _, f := range served {
		if len(f.Values) == 1 {
			q = q.Where(f.Field, "==", f.Values[0])
		} else {
			q = q.Where(f.Field, "in", f.Values)
		}
	}
	if since != nil {
		q = q.Where("timestamp", ">", *since)
	}
	q = q.OrderBy("timestamp", firestore.Desc)
	var rest []Filter
	for _, f := range all {
		if !slices.ContainsFunc(served, func(s Filter) bool { return s.Field == f.Field }) {
			rest = append(rest, f)
		}
	}
	if len(rest) == 0 {
		return q.Limit(limit).Documents(ctx).GetAll()
	}
	var out []*firestore.DocumentSnapshot
	page := q.Limit(pageSize)
	for scanned := 0; scanned < MaxScan; {
		snaps, err := page.Documents(ctx).GetAll()
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			if matches(s.Data(), rest) {
				if out = append(out, s); len(out) == limit {
					return out, nil
				}
			}
		}
		scanned += len(snaps)
		if len(snaps) < pageSize {
			break
		}
		page = q.StartAfter(snaps[len(snaps)-1]).Limit(pageSize)
	}
	return out, nil
}

// matches applies equality filters to a document.
func matches(d map[string]any, fs []Filter) bool {
	for _, f := range fs {
		v, ok := d[f.Field].(string)
		if !ok || !slices.Contains(f.Values, v) {
			return false
		}
	}
	return true
}

// ParseLimit is E42's limit: JavaScript parseInt, a falsy or NaN result
// means DefaultLimit, at most MaxLimit. A negative limit, which made the
// original fail with a 500, is taken as 1.
func ParseLimit(s string) int {
	n, ok := web.ParseIntJS(s)
	if !ok || n == 0 {
		return DefaultLimit
	}
	return int(max(1, min(n, MaxLimit)))
}

// ParseSince reads `since` (DECISIONS §2, 5.5): epoch milliseconds, or an
// ISO-8601 date-time (with or without zone, UTC when none; fractions of a
// second allowed) or date. Empty means no bound.
func ParseSince(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		t := time.UnixMilli(ms).UTC()
		return &t, nil
	}
	for _, layout := range []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"2006-01-02",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, ErrSince
}
