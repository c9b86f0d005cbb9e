// Package store holds the small Firestore helpers every function shares: error
// classification and the three JSON forms timestamps take in responses
// (api.md §1.1): ISO strings, epoch milliseconds, and the Node Admin SDK's
// raw {"_seconds","_nanoseconds"} shape.
package store

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// NotFound reports whether err is Firestore's NotFound.
func NotFound(err error) bool { return status.Code(err) == codes.NotFound }

// TooLarge reports whether Firestore refused a write or query because a
// document, field or value exceeds its size limits (1 MiB per document,
// 1,500 bytes per field name or query value). The emulator and production
// word it differently; both say InvalidArgument.
func TooLarge(err error) bool {
	if status.Code(err) != codes.InvalidArgument {
		return false
	}
	msg := strings.ToLower(status.Convert(err).Message())
	for _, s := range []string{"longer than", "too large", "exceeds the maximum", "maximum allowed size", "maximum entity size", "too big"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// AlreadyExists reports whether a Create hit an existing document.
func AlreadyExists(err error) bool { return status.Code(err) == codes.AlreadyExists }

// Timestamp renders a stored time as {"_seconds": s, "_nanoseconds": n},
// the shape raw Firestore Timestamps take in the original's JSON.
type Timestamp struct{ time.Time }

func (t Timestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Seconds     int64 `json:"_seconds"`
		Nanoseconds int   `json:"_nanoseconds"`
	}{t.Unix(), t.Nanosecond()})
}

// ISO formats t like JavaScript's Date.toISOString (UTC, milliseconds).
func ISO(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ISOOrNil returns ISO(v) when v is a stored timestamp, else nil.
func ISOOrNil(v any) any {
	if t, ok := v.(time.Time); ok {
		return ISO(t)
	}
	return nil
}

// Raw renders a stored value the way the original passes raw values through:
// timestamps as {"_seconds","_nanoseconds"}, everything else unchanged.
func Raw(v any) any {
	switch x := v.(type) {
	case time.Time:
		return Timestamp{x}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Raw(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Raw(e)
		}
		return out
	default:
		return v
	}
}

// Millis converts a polymorphic stored time (Timestamp, ms or s number, ISO
// string) to epoch milliseconds; ok is false when v holds no time.
func Millis(v any) (int64, bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UnixMilli(), true
	case int64:
		return x, true
	case float64:
		return int64(x), true
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

// String returns v if it is a non-empty string, else nil (JSON null).
func String(v any) any {
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return nil
}

// MaxIDBytes is Firestore's document id limit.
const MaxIDBytes = 1500

// ValidID reports whether id can name a Firestore document: user input that
// cannot is answered as not found (or bad request) instead of reaching
// Firestore and failing with a 500. Invalid UTF-8 cannot name a document.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDBytes || !utf8.ValidString(id) || id == "." || id == ".." || strings.Contains(id, "/") {
		return false
	}
	return !(strings.HasPrefix(id, "__") && strings.HasSuffix(id, "__"))
}

// Truthy is JavaScript's truthiness for a decoded JSON or stored Firestore
// value: the original's `!x` checks, which the contract reproduces.
func Truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case int64:
		return x != 0
	case float64:
		return x != 0 && x == x // NaN is falsy
	}
	return true
}
