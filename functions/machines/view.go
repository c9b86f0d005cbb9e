package machines

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"

	"github.com/owlette/server/shared/store"
)

// summary is one machine of E19, and the common part of E20.
type summary struct {
	ID            string `json:"id"`
	Name          any    `json:"name"`
	Online        bool   `json:"online"`
	LastHeartbeat any    `json:"lastHeartbeat"`
	AgentVersion  any    `json:"agentVersion"`
	OS            any    `json:"os"`
}

// summaryFields are the machine-document fields a summary reads (the list
// fetches only these: metrics are most of a machine document).
var summaryFields = []string{"name", "machine_name", "online", "lastHeartbeat", "agent_version", "os", "presence"}

// summarize reads a machine document the way E19 does: name ‖ machine_name
// ‖ id, online truthy, lastHeartbeat ISO or null, agent_version ‖
// presence.agent_version ‖ null, os ‖ presence.os ‖ null.
func summarize(id string, d map[string]any) summary {
	presence, _ := d["presence"].(map[string]any)
	return summary{
		ID:            id,
		Name:          or(d["name"], d["machine_name"], id),
		Online:        store.Truthy(d["online"]),
		LastHeartbeat: HeartbeatISO(d["lastHeartbeat"]),
		AgentVersion:  or(d["agent_version"], presence["agent_version"], nil),
		OS:            or(d["os"], presence["os"], nil),
	}
}

// or is JavaScript's `a || b || last`, rendered as the original's JSON:
// stored timestamps raw, NaN and ±Infinity (which agents' float metrics can
// hold) as null.
func or(vals ...any) any {
	for _, v := range vals[:len(vals)-1] {
		if store.Truthy(v) {
			return finite(store.Raw(v))
		}
	}
	return finite(store.Raw(vals[len(vals)-1]))
}

// finite replaces NaN and ±Inf with nil, as JSON.stringify does (and
// encoding/json would refuse them, failing the whole response). Maps and
// slices are changed in place, and only where a number is not finite.
func finite(v any) any {
	if nonFinite(v) {
		return nil
	}
	return v
}

// nonFinite reports whether v is a NaN or ±Inf number, after replacing
// those inside v (maps, slices) with nil.
func nonFinite(v any) bool {
	switch x := v.(type) {
	case float64:
		return math.IsNaN(x) || math.IsInf(x, 0)
	case map[string]any:
		for k, e := range x {
			if nonFinite(e) {
				x[k] = nil
			}
		}
	case []any:
		for i, e := range x {
			if nonFinite(e) {
				x[i] = nil
			}
		}
	}
	return false
}

// maxJSDate is the largest |ms| a JavaScript Date holds.
const maxJSDate = 8.64e15

// HeartbeatISO renders a stored lastHeartbeat as an ISO string: a Firestore
// timestamp (what agents write), epoch milliseconds, or a date string;
// null when absent, falsy or not a time (api.md §5.2: never an error).
func HeartbeatISO(v any) any {
	if !store.Truthy(v) {
		return nil
	}
	switch x := v.(type) {
	case time.Time:
		return store.ISO(x)
	case int64:
		if math.Abs(float64(x)) <= maxJSDate {
			return store.ISO(time.UnixMilli(x))
		}
	case float64:
		if !math.IsNaN(x) && math.Abs(x) <= maxJSDate {
			return store.ISO(time.UnixMilli(int64(x))) // JS truncates fractional ms
		}
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return store.ISO(t)
			}
		}
	}
	return nil
}

// collators compare names as JavaScript's localeCompare does (CLDR root
// collation); a Collator is not safe for concurrent use.
var collators = sync.Pool{New: func() any { return collate.New(language.Und) }}

// sortByName orders machines by display name (locale compare), then id.
func sortByName(ms []summary) {
	c := collators.Get().(*collate.Collator)
	defer collators.Put(c)
	slices.SortStableFunc(ms, func(a, b summary) int {
		if n := c.CompareString(displayName(a.Name), displayName(b.Name)); n != 0 {
			return n
		}
		return c.CompareString(a.ID, b.ID)
	})
}

func displayName(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// machinesOf is a site's machines collection.
func (h *handlers) machinesOf(siteID string) *firestore.CollectionRef {
	return h.d.Firestore.Collection("sites").Doc(siteID).Collection("machines")
}
