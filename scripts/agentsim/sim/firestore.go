package sim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ServerTimestamp is the sentinel for a server-set timestamp in a write
// (Firestore's REQUEST_TIME transform), as the agent's client uses it.
var ServerTimestamp = serverTS{}

type serverTS struct{}

// DeleteField is the sentinel for removing a field in an update.
var DeleteField = deleteField{}

type deleteField struct{}

// FirestoreError is a non-2xx answer of the Firestore REST API.
type FirestoreError struct {
	Status  int
	Message string // the API's error.message (rules denials say "false for …")
}

func (e *FirestoreError) Error() string {
	return fmt.Sprintf("firestore: %d %s", e.Status, e.Message)
}

// IsStatus reports whether err is a FirestoreError with one of the codes.
func IsStatus(err error, codes ...int) bool {
	var fe *FirestoreError
	if !errors.As(err, &fe) {
		return false
	}
	for _, c := range codes {
		if fe.Status == c {
			return true
		}
	}
	return false
}

// Firestore is a minimal Firestore REST v1 client that behaves like the
// agent's own (agent/src/firestore_rest_client.py, datamodel.md §4.3): GET,
// PATCH with or without an update mask, DELETE, and :commit with an update
// mask plus server-timestamp transforms. Every request carries the agent's
// Firebase ID token, so the security rules apply.
type Firestore struct {
	// Base is the scheme and host: https://firestore.googleapis.com or
	// http://$FIRESTORE_EMULATOR_HOST.
	Base    string
	Project string
	HTTP    *http.Client
	// Token returns the bearer token for a request.
	Token func(ctx context.Context) (string, error)
	// Observe, when set, is told the outcome of every request.
	Observe func(op string, d time.Duration, status int, err error)
}

// root is projects/P/databases/(default)/documents.
func (f *Firestore) root() string {
	return "projects/" + f.Project + "/databases/(default)/documents"
}

// Name is the full resource name of a document path.
func (f *Firestore) Name(path string) string { return f.root() + "/" + path }

func (f *Firestore) do(ctx context.Context, op, method, u string, body any, out any) error {
	start := time.Now()
	status, err := f.roundTrip(ctx, method, u, body, out)
	if f.Observe != nil {
		oerr := err
		if method == http.MethodGet && status == http.StatusNotFound {
			oerr = nil // a missing document is an answer, not a failure
		}
		f.Observe(op, time.Since(start), status, oerr)
	}
	return err
}

func (f *Firestore) roundTrip(ctx context.Context, method, u string, body any, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if f.Token != nil {
		tok, err := f.Token(ctx)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := f.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		msg := e.Error.Message
		if msg == "" {
			msg = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, &FirestoreError{Status: resp.StatusCode, Message: msg}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("firestore: decode %s: %w", u, err)
		}
	}
	return resp.StatusCode, nil
}

func (f *Firestore) docURL(path string, mask []string) string {
	u := strings.TrimRight(f.Base, "/") + "/v1/" + f.root() + "/" + escapePath(path)
	if len(mask) > 0 {
		q := url.Values{}
		for _, p := range mask {
			q.Add("updateMask.fieldPaths", p)
		}
		u += "?" + q.Encode()
	}
	return u
}

func escapePath(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// Document is a decoded document.
type Document struct {
	Name       string
	Fields     map[string]any
	UpdateTime time.Time
}

type restDoc struct {
	Name       string           `json:"name,omitempty"`
	Fields     map[string]Value `json:"fields"`
	UpdateTime string           `json:"updateTime,omitempty"`
}

// Get reads a document; (nil, nil) when it does not exist.
func (f *Firestore) Get(ctx context.Context, op, path string) (*Document, error) {
	var d restDoc
	if err := f.do(ctx, op, http.MethodGet, f.docURL(path, nil), nil, &d); err != nil {
		if IsStatus(err, http.StatusNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return decodeDoc(d), nil
}

func decodeDoc(d restDoc) *Document {
	out := &Document{Name: d.Name, Fields: map[string]any{}}
	for k, v := range d.Fields {
		out.Fields[k] = v.Decode()
	}
	out.UpdateTime, _ = time.Parse(time.RFC3339Nano, d.UpdateTime)
	return out
}

// List lists the documents of a collection (one page of up to 300).
func (f *Firestore) List(ctx context.Context, op, collection string) ([]*Document, error) {
	var out struct {
		Documents []restDoc `json:"documents"`
	}
	u := strings.TrimRight(f.Base, "/") + "/v1/" + f.root() + "/" + escapePath(collection) + "?pageSize=300"
	if err := f.do(ctx, op, http.MethodGet, u, nil, &out); err != nil {
		return nil, err
	}
	docs := make([]*Document, 0, len(out.Documents))
	for _, d := range out.Documents {
		docs = append(docs, decodeDoc(d))
	}
	return docs, nil
}

// Replace PATCHes a document without an update mask: the whole document is
// replaced by data (how the agent's set(merge=True) without a server
// timestamp behaves, datamodel.md §4.3).
func (f *Firestore) Replace(ctx context.Context, op, path string, data map[string]any) error {
	return f.do(ctx, op, http.MethodPatch, f.docURL(path, nil), restDoc{Fields: EncodeFields(data)}, nil)
}

// DeleteFields PATCHes with an update mask naming the fields and a body
// without them, which removes them (the agent's update({k: DELETE_FIELD})).
// Each entry of fieldPaths is an already quoted field path.
func (f *Firestore) DeleteFields(ctx context.Context, op, path string, fieldPaths []string) error {
	return f.do(ctx, op, http.MethodPatch, f.docURL(path, fieldPaths), restDoc{Fields: map[string]Value{}}, nil)
}

// Delete deletes a document.
func (f *Firestore) Delete(ctx context.Context, op, path string) error {
	return f.do(ctx, op, http.MethodDelete, f.docURL(path, nil), nil, nil)
}

// Write is one write of a :commit or :batchWrite.
type Write struct {
	Update     *restDoc         `json:"update,omitempty"`
	Delete     string           `json:"delete,omitempty"`
	UpdateMask *mask            `json:"updateMask,omitempty"`
	Transforms []fieldTransform `json:"updateTransforms,omitempty"`
}

type mask struct {
	FieldPaths []string `json:"fieldPaths"`
}

type fieldTransform struct {
	FieldPath        string `json:"fieldPath"`
	SetToServerValue string `json:"setToServerValue"`
}

// MergeWrite builds the write of an update/merge: updates maps dotted keys
// (each segment a plain name, quoted as needed) or FieldPath values to
// values; ServerTimestamp becomes a REQUEST_TIME transform and DeleteField a
// masked-but-absent field. Maps are written as whole values at their key
// (the agent's update() semantics); use Leaves to turn a nested map into
// leaf keys for set(merge=True).
func (f *Firestore) MergeWrite(path string, updates []Update) Write {
	w := Write{Update: &restDoc{Name: f.Name(path), Fields: map[string]Value{}}, UpdateMask: &mask{FieldPaths: []string{}}}
	for _, u := range updates {
		fp := u.Path.String()
		switch u.Value.(type) {
		case serverTS:
			w.Transforms = append(w.Transforms, fieldTransform{FieldPath: fp, SetToServerValue: "REQUEST_TIME"})
			continue
		case deleteField:
			w.UpdateMask.FieldPaths = append(w.UpdateMask.FieldPaths, fp)
			continue
		}
		w.UpdateMask.FieldPaths = append(w.UpdateMask.FieldPaths, fp)
		setNested(w.Update.Fields, u.Path, Encode(u.Value))
	}
	return w
}

// ReplaceWrite is a set() without merge: the document becomes data, with
// ServerTimestamp values applied as transforms.
func (f *Firestore) ReplaceWrite(path string, data map[string]any) Write {
	w := Write{Update: &restDoc{Name: f.Name(path), Fields: map[string]Value{}}}
	clean := map[string]any{}
	for k, v := range data {
		if _, ok := v.(serverTS); ok {
			w.Transforms = append(w.Transforms, fieldTransform{FieldPath: FieldPath{k}.String(), SetToServerValue: "REQUEST_TIME"})
			continue
		}
		clean[k] = v
	}
	w.Update.Fields = EncodeFields(clean)
	return w
}

// Commit sends writes atomically (POST …/documents:commit).
func (f *Firestore) Commit(ctx context.Context, op string, writes ...Write) error {
	u := strings.TrimRight(f.Base, "/") + "/v1/" + f.root() + ":commit"
	return f.do(ctx, op, http.MethodPost, u, map[string]any{"writes": writes}, nil)
}

// BatchWrite sends independent writes (POST …/documents:batchWrite) and
// returns the first per-write failure.
func (f *Firestore) BatchWrite(ctx context.Context, op string, writes ...Write) error {
	u := strings.TrimRight(f.Base, "/") + "/v1/" + f.root() + ":batchWrite"
	var out struct {
		Status []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	}
	if err := f.do(ctx, op, http.MethodPost, u, map[string]any{"writes": writes}, &out); err != nil {
		return err
	}
	for _, s := range out.Status {
		if s.Code != 0 {
			return &FirestoreError{Status: grpcToHTTP(s.Code), Message: s.Message}
		}
	}
	return nil
}

func grpcToHTTP(code int) int {
	switch code {
	case 7:
		return http.StatusForbidden
	case 16:
		return http.StatusUnauthorized
	case 5:
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

// Update is one field of an update.
type Update struct {
	Path  FieldPath
	Value any
}

// FieldPath is a field path as segments; String quotes each segment that is
// not a plain identifier with backticks (Firestore's field-path syntax), so
// a command id like "a-b" or a literal dotted name like "metrics.timestamp"
// is one segment.
type FieldPath []string

var simpleSegment = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)

func (p FieldPath) String() string {
	parts := make([]string, len(p))
	for i, s := range p {
		if simpleSegment.MatchString(s) {
			parts[i] = s
			continue
		}
		s = strings.ReplaceAll(s, `\`, `\\`)
		s = strings.ReplaceAll(s, "`", "\\`")
		parts[i] = "`" + s + "`"
	}
	return strings.Join(parts, ".")
}

// Leaves flattens data into one Update per leaf under prefix, the way the
// agent's set(data, merge=True) builds its update mask (a true merge).
func Leaves(prefix FieldPath, data map[string]any) []Update {
	var out []Update
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := append(append(FieldPath{}, prefix...), k)
		if m, ok := data[k].(map[string]any); ok && len(m) > 0 {
			out = append(out, Leaves(p, m)...)
			continue
		}
		out = append(out, Update{Path: p, Value: data[k]})
	}
	return out
}

func setNested(fields map[string]Value, p FieldPath, v Value) {
	for i := 0; i < len(p)-1; i++ {
		cur, ok := fields[p[i]]
		if !ok || cur.MapValue == nil {
			cur = Value{MapValue: &mapValue{Fields: map[string]Value{}}}
			fields[p[i]] = cur
		}
		if cur.MapValue.Fields == nil {
			cur.MapValue.Fields = map[string]Value{}
		}
		fields = cur.MapValue.Fields
	}
	fields[p[len(p)-1]] = v
}

// Value is a Firestore REST value.
type Value struct {
	NullValue      *string     `json:"nullValue,omitempty"`
	BooleanValue   *bool       `json:"booleanValue,omitempty"`
	IntegerValue   *string     `json:"integerValue,omitempty"`
	DoubleValue    *float64    `json:"doubleValue,omitempty"`
	TimestampValue *string     `json:"timestampValue,omitempty"`
	StringValue    *string     `json:"stringValue,omitempty"`
	BytesValue     *string     `json:"bytesValue,omitempty"`
	ReferenceValue *string     `json:"referenceValue,omitempty"`
	GeoPointValue  *geoPoint   `json:"geoPointValue,omitempty"`
	ArrayValue     *arrayValue `json:"arrayValue,omitempty"`
	MapValue       *mapValue   `json:"mapValue,omitempty"`
}

type geoPoint struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

type arrayValue struct {
	Values []Value `json:"values,omitempty"`
}

type mapValue struct {
	Fields map[string]Value `json:"fields,omitempty"`
}

// EncodeFields encodes a map's values.
func EncodeFields(m map[string]any) map[string]Value {
	out := make(map[string]Value, len(m))
	for k, v := range m {
		out[k] = Encode(v)
	}
	return out
}

// Encode turns a Go value into a Firestore value.
func Encode(v any) Value {
	switch x := v.(type) {
	case nil:
		s := "NULL_VALUE"
		return Value{NullValue: &s}
	case bool:
		return Value{BooleanValue: &x}
	case int:
		s := strconv.Itoa(x)
		return Value{IntegerValue: &s}
	case int64:
		s := strconv.FormatInt(x, 10)
		return Value{IntegerValue: &s}
	case float64:
		return Value{DoubleValue: &x}
	case float32:
		f := float64(x)
		return Value{DoubleValue: &f}
	case string:
		return Value{StringValue: &x}
	case []byte:
		s := base64.StdEncoding.EncodeToString(x)
		return Value{BytesValue: &s}
	case time.Time:
		s := x.UTC().Format(time.RFC3339Nano)
		return Value{TimestampValue: &s}
	case map[string]any:
		return Value{MapValue: &mapValue{Fields: EncodeFields(x)}}
	case []any:
		vals := make([]Value, len(x))
		for i, e := range x {
			vals[i] = Encode(e)
		}
		return Value{ArrayValue: &arrayValue{Values: vals}}
	case []string:
		vals := make([]Value, len(x))
		for i, e := range x {
			vals[i] = Encode(e)
		}
		return Value{ArrayValue: &arrayValue{Values: vals}}
	case []map[string]any:
		vals := make([]Value, len(x))
		for i, e := range x {
			vals[i] = Encode(e)
		}
		return Value{ArrayValue: &arrayValue{Values: vals}}
	default:
		s := fmt.Sprint(x)
		return Value{StringValue: &s}
	}
}

// Decode turns a Firestore value into Go: integers become int64,
// timestamps time.Time, maps map[string]any, arrays []any.
func (v Value) Decode() any {
	switch {
	case v.NullValue != nil:
		return nil
	case v.BooleanValue != nil:
		return *v.BooleanValue
	case v.IntegerValue != nil:
		n, _ := strconv.ParseInt(*v.IntegerValue, 10, 64)
		return n
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.TimestampValue != nil:
		t, err := time.Parse(time.RFC3339Nano, *v.TimestampValue)
		if err != nil {
			return *v.TimestampValue
		}
		return t
	case v.StringValue != nil:
		return *v.StringValue
	case v.BytesValue != nil:
		b, _ := base64.StdEncoding.DecodeString(*v.BytesValue)
		return b
	case v.ReferenceValue != nil:
		return *v.ReferenceValue
	case v.GeoPointValue != nil:
		return map[string]any{"latitude": v.GeoPointValue.Latitude, "longitude": v.GeoPointValue.Longitude}
	case v.ArrayValue != nil:
		out := make([]any, len(v.ArrayValue.Values))
		for i, e := range v.ArrayValue.Values {
			out[i] = e.Decode()
		}
		return out
	case v.MapValue != nil:
		out := make(map[string]any, len(v.MapValue.Fields))
		for k, e := range v.MapValue.Fields {
			out[k] = e.Decode()
		}
		return out
	}
	return nil
}
