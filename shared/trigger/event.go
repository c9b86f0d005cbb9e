// Package trigger turns the Firestore change events that Eventarc delivers to
// Go CloudEvent functions into plain Go values, and adapts trigger handlers to
// functions-framework-go (DECISIONS §4).
//
// Eventarc sends a Firestore event as a CloudEvent whose data is the
// google.events.cloud.firestore.v1.DocumentEventData protobuf: raw bytes in
// production, base64 text from the local Firestore emulator
// (../shared/notes/local-stack.md §3). Decode accepts both, and JSON too (a
// trigger created with --event-data-content-type=application/json).
//
// A handler is a Handler over the instance's app.Deps; Function adapts it to
// functions.CloudEvent for production and Bind to a given Deps for the local
// server and tests. Bridge (bridge.go) is the local-only HTTP endpoint the
// emulator delivers to.
package trigger

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/googleapis/google-cloudevents-go/cloud/firestoredata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Firestore event types (Eventarc, google.cloud.firestore.document.v1.*).
const (
	Written = "google.cloud.firestore.document.v1.written"
	Created = "google.cloud.firestore.document.v1.created"
	Updated = "google.cloud.firestore.document.v1.updated"
	Deleted = "google.cloud.firestore.document.v1.deleted"
)

// Document is one side of a change.
type Document struct {
	// Path is relative to the database root: "sites/s1/machines/m1".
	Path string
	// Fields holds the document's data as the Go Firestore client returns
	// it from DocumentSnapshot.Data: nil, bool, int64, float64, string,
	// []byte, time.Time, *latlng.LatLng, []any, map[string]any. References
	// are their full resource name (a string).
	Fields     map[string]any
	CreateTime time.Time
	UpdateTime time.Time
}

// Event is a decoded Firestore change event.
type Event struct {
	ID       string
	Type     string
	Time     time.Time
	Project  string
	Database string
	// Path is the changed document, relative to the database root.
	Path string
	// Before is the document before the change (nil when it was created),
	// After the document after it (nil when it was deleted).
	Before, After *Document
}

// BeforeFields returns Before's fields, or nil.
func (e *Event) BeforeFields() map[string]any {
	if e.Before == nil {
		return nil
	}
	return e.Before.Fields
}

// AfterFields returns After's fields, or nil.
func (e *Event) AfterFields() map[string]any {
	if e.After == nil {
		return nil
	}
	return e.After.Fields
}

// Params matches the event's document path against a trigger's path pattern
// ("sites/{siteId}/machines/{machineId}") and returns the wildcard values.
func (e *Event) Params(pattern string) (map[string]string, bool) {
	return Match(pattern, e.Path)
}

// Decode converts a CloudEvent carrying DocumentEventData.
func Decode(ce event.Event) (*Event, error) {
	data, err := DecodeData(ce.Data(), ce.DataMediaType())
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", ce.ID(), err)
	}
	e := &Event{ID: ce.ID(), Type: ce.Type(), Time: ce.Time(), Before: document(data.GetOldValue()), After: document(data.GetValue())}
	ext := ce.Extensions()
	e.Project = extString(ext, "project")
	e.Database = extString(ext, "database")
	e.Path = extString(ext, "document")
	if e.Path == "" {
		e.Path = strings.TrimPrefix(ce.Subject(), "documents/")
	}
	if e.Path == "" {
		for _, d := range []*Document{e.After, e.Before} {
			if d != nil && d.Path != "" {
				e.Path = d.Path
				break
			}
		}
	}
	if e.Path == "" {
		return nil, fmt.Errorf("event %s: no document path (no document extension, subject or data)", ce.ID())
	}
	return e, nil
}

func extString(ext map[string]any, name string) string {
	switch v := ext[name].(type) {
	case string:
		return v
	case fmt.Stringer:
		return v.String()
	}
	return ""
}

// DecodeData unmarshals DocumentEventData from an event body: JSON when the
// media type says so, otherwise protobuf, as raw bytes (production) or as
// base64 text (the Firestore emulator). Raw DocumentEventData always starts
// with a field tag byte (0x0a, 0x12 or 0x1a) that is not a base64 character,
// so the two cannot be confused.
func DecodeData(body []byte, mediaType string) (*firestoredata.DocumentEventData, error) {
	var data firestoredata.DocumentEventData
	if strings.Contains(mediaType, "json") {
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &data); err != nil {
			return nil, fmt.Errorf("DocumentEventData (JSON): %w", err)
		}
		return &data, nil
	}
	if raw, ok := Base64Body(body); ok {
		body = raw
	}
	if err := proto.Unmarshal(body, &data); err != nil {
		return nil, fmt.Errorf("DocumentEventData (protobuf): %w", err)
	}
	return &data, nil
}

// Base64Body returns the decoded bytes when body is base64 text (standard
// alphabet, optional padding and trailing newline), as the Firestore
// emulator sends protobuf bodies.
func Base64Body(body []byte) ([]byte, bool) {
	s := strings.TrimRight(string(body), "\r\n")
	if s == "" {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return nil, false
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			return raw, true
		}
	}
	return nil, false
}

func document(d *firestoredata.Document) *Document {
	if d == nil {
		return nil
	}
	out := &Document{Path: RelativePath(d.GetName()), Fields: Fields(d.GetFields())}
	if t := d.GetCreateTime(); t != nil {
		out.CreateTime = t.AsTime()
	}
	if t := d.GetUpdateTime(); t != nil {
		out.UpdateTime = t.AsTime()
	}
	return out
}

// RelativePath strips "projects/P/databases/D/documents/" from a document
// resource name.
func RelativePath(name string) string {
	if _, rest, ok := strings.Cut(name, "/documents/"); ok && strings.HasPrefix(name, "projects/") {
		return rest
	}
	return name
}

// Fields converts a protobuf field map.
func Fields(m map[string]*firestoredata.Value) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = Value(v)
	}
	return out
}

// Value converts one protobuf Value to the Go value the Firestore client
// would return for it.
func Value(v *firestoredata.Value) any {
	switch x := v.GetValueType().(type) {
	case *firestoredata.Value_BooleanValue:
		return x.BooleanValue
	case *firestoredata.Value_IntegerValue:
		return x.IntegerValue
	case *firestoredata.Value_DoubleValue:
		return x.DoubleValue
	case *firestoredata.Value_TimestampValue:
		return x.TimestampValue.AsTime()
	case *firestoredata.Value_StringValue:
		return x.StringValue
	case *firestoredata.Value_BytesValue:
		return x.BytesValue
	case *firestoredata.Value_ReferenceValue:
		return x.ReferenceValue
	case *firestoredata.Value_GeoPointValue:
		return x.GeoPointValue
	case *firestoredata.Value_ArrayValue:
		vals := x.ArrayValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			out[i] = Value(e)
		}
		return out
	case *firestoredata.Value_MapValue:
		return Fields(x.MapValue.GetFields())
	default: // null, or unset
		return nil
	}
}

// Match matches a document path against a path pattern whose segments are
// literals or {name} wildcards (one segment each), as Eventarc's
// --trigger-event-filters-path-pattern does for Firestore documents.
func Match(pattern, path string) (map[string]string, bool) {
	ps, xs := strings.Split(strings.Trim(pattern, "/"), "/"), strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if xs[i] == "" {
				return nil, false
			}
			params[p[1:len(p)-1]] = xs[i]
			continue
		}
		if p != xs[i] {
			return nil, false
		}
	}
	return params, true
}
