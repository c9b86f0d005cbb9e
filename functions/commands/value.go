package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// maxDepth bounds how deeply command data may nest: Firestore allows 20
// levels of maps and the command itself sits one level down in pending.
const maxDepth = 18

// decodeObject decodes a JSON object for storage in Firestore the way the
// Node Admin SDK stores a parsed body: a number that is a safe integer is
// an integer, any other number a double. Values Firestore cannot hold
// (nested arrays, empty or reserved field names, too deep) are refused with
// a message naming where.
func decodeObject(raw json.RawMessage, field string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Field %q must be an object", field)
	}
	out, err := storable(m, field, 0)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// maxSafe is Number.MAX_SAFE_INTEGER.
const maxSafe = 1<<53 - 1

func storable(v any, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("Field %q nests too deeply", path)
	}
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("Field %q is out of range", path)
		}
		if f == math.Trunc(f) && math.Abs(f) <= maxSafe && !(f == 0 && math.Signbit(f)) {
			return int64(f), nil
		}
		return f, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			p := path + "." + k
			if k == "" || len(k) > 1500 || (len(k) > 4 && strings.HasPrefix(k, "__") && strings.HasSuffix(k, "__")) {
				return nil, fmt.Errorf("Field %q has a name Firestore cannot store", p)
			}
			s, err := storable(e, p, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = s
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			p := fmt.Sprintf("%s[%d]", path, i)
			if _, nested := e.([]any); nested {
				return nil, fmt.Errorf("Field %q is an array inside an array, which Firestore cannot store", p)
			}
			s, err := storable(e, p, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	return v, nil
}
