package autonomous

import (
	"encoding/json"
	"strings"
)

// maxDepth keeps stored values inside Firestore's 20 levels of nesting,
// with room for the document fields they sit in.
const maxDepth = 16

// Storable returns v (decoded JSON: nil, bool, float64, json.Number,
// string, []any, map[string]any) in a form Firestore accepts: an array
// inside an array and anything nested too deeply become their JSON text,
// an empty map key becomes "_" and a reserved one (__x__) "k__x__"; json.Number becomes an int64
// when it is a safe integer (as the Node SDK stores numbers), else a
// float64. Tool inputs and outputs come from a model and an agent, so
// nothing about their shape can be assumed.
func Storable(v any) any { return storable(v, 0, false) }

func storable(v any, depth int, inArray bool) any {
	if depth > maxDepth {
		return jsonText(v)
	}
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil && n <= 1<<53-1 && n >= -(1<<53-1) {
			return n
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			switch {
			case k == "":
				k = "_"
			case len(k) > 4 && strings.HasPrefix(k, "__") && strings.HasSuffix(k, "__"):
				k = "k" + k
			}
			out[k] = storable(e, depth+1, false)
		}
		return out
	case []any:
		if inArray {
			return jsonText(x)
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = storable(e, depth+1, true)
		}
		return out
	}
	return v
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// StorableJSON decodes JSON text into a Storable value (nil when it is not
// JSON).
func StorableJSON(raw []byte) any {
	var v any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil
	}
	return Storable(v)
}
