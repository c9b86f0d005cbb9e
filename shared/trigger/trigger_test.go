package trigger

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/googleapis/google-cloudevents-go/cloud/firestoredata"
	"google.golang.org/genproto/googleapis/type/latlng"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// det marshals map fields in a fixed order, so two encodings compare equal.
var det = proto.MarshalOptions{Deterministic: true}

const docName = "projects/demo-x/databases/(default)/documents/sites/s1/machines/m1/commands/completed"

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 123000000, time.UTC)

func str(s string) *firestoredata.Value {
	return &firestoredata.Value{ValueType: &firestoredata.Value_StringValue{StringValue: s}}
}

func mapv(m map[string]*firestoredata.Value) *firestoredata.Value {
	return &firestoredata.Value{ValueType: &firestoredata.Value_MapValue{MapValue: &firestoredata.MapValue{Fields: m}}}
}

// sample is a DocumentEventData like the emulator's: a progress entry
// before, the terminal entry after.
func sample() *firestoredata.DocumentEventData {
	before := &firestoredata.Document{Name: docName, Fields: map[string]*firestoredata.Value{
		"c1": mapv(map[string]*firestoredata.Value{"status": str("downloading"), "deployment_id": str("deploy-1"),
			"progress": {ValueType: &firestoredata.Value_IntegerValue{IntegerValue: 40}}}),
	}, CreateTime: timestamppb.New(t0), UpdateTime: timestamppb.New(t0)}
	after := &firestoredata.Document{Name: docName, Fields: map[string]*firestoredata.Value{
		"c1": mapv(map[string]*firestoredata.Value{
			"status": str("completed"), "deployment_id": str("deploy-1"), "type": str("install_software"),
			"progress":    {ValueType: &firestoredata.Value_IntegerValue{IntegerValue: 100}},
			"completedAt": {ValueType: &firestoredata.Value_TimestampValue{TimestampValue: timestamppb.New(t0.Add(time.Second))}},
		}),
	}, CreateTime: timestamppb.New(t0), UpdateTime: timestamppb.New(t0.Add(time.Second))}
	return &firestoredata.DocumentEventData{Value: after, OldValue: before}
}

func TestValueConversion(t *testing.T) {
	v := mapv(map[string]*firestoredata.Value{
		"null":  {ValueType: &firestoredata.Value_NullValue{NullValue: structpb.NullValue_NULL_VALUE}},
		"unset": {},
		"b":     {ValueType: &firestoredata.Value_BooleanValue{BooleanValue: true}},
		"i":     {ValueType: &firestoredata.Value_IntegerValue{IntegerValue: -7}},
		"d":     {ValueType: &firestoredata.Value_DoubleValue{DoubleValue: 1.5}},
		"ts":    {ValueType: &firestoredata.Value_TimestampValue{TimestampValue: timestamppb.New(t0)}},
		"s":     str("x"),
		"by":    {ValueType: &firestoredata.Value_BytesValue{BytesValue: []byte{1, 2}}},
		"ref":   {ValueType: &firestoredata.Value_ReferenceValue{ReferenceValue: docName}},
		"geo":   {ValueType: &firestoredata.Value_GeoPointValue{GeoPointValue: &latlng.LatLng{Latitude: 1, Longitude: 2}}},
		"arr": {ValueType: &firestoredata.Value_ArrayValue{ArrayValue: &firestoredata.ArrayValue{Values: []*firestoredata.Value{
			str("a"), {ValueType: &firestoredata.Value_IntegerValue{IntegerValue: 1}},
		}}}},
		"m": mapv(map[string]*firestoredata.Value{"k": str("v")}),
	})
	got := Value(v).(map[string]any)
	want := map[string]any{
		"null": nil, "unset": nil, "b": true, "i": int64(-7), "d": 1.5, "ts": t0, "s": "x", "by": []byte{1, 2},
		"ref": docName, "arr": []any{"a", int64(1)}, "m": map[string]any{"k": "v"},
	}
	geo, _ := got["geo"].(*latlng.LatLng)
	if geo == nil || geo.Latitude != 1 || geo.Longitude != 2 {
		t.Errorf("geo = %#v", got["geo"])
	}
	delete(got, "geo")
	if !got["ts"].(time.Time).Equal(t0) {
		t.Errorf("ts = %v", got["ts"])
	}
	got["ts"] = t0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Value =\n%#v\nwant\n%#v", got, want)
	}
}

func TestMatch(t *testing.T) {
	const p = "sites/{siteId}/machines/{machineId}/commands/completed"
	for _, c := range []struct {
		path string
		want map[string]string
	}{
		{"sites/s1/machines/m-1/commands/completed", map[string]string{"siteId": "s1", "machineId": "m-1"}},
		{"/sites/s1/machines/m1/commands/completed/", map[string]string{"siteId": "s1", "machineId": "m1"}},
		{"sites/s1/machines/m1/commands/pending", nil},
		{"sites/s1/machines/m1/commands/completed/x/y", nil},
		{"sites/s1/machines", nil},
		{"sites//machines/m1/commands/completed", nil},
	} {
		got, ok := Match(p, c.path)
		if ok != (c.want != nil) || (ok && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("Match(%q) = %v, %v; want %v", c.path, got, ok, c.want)
		}
	}
	if RelativePath(docName) != "sites/s1/machines/m1/commands/completed" || RelativePath("a/b") != "a/b" {
		t.Error("RelativePath")
	}
}

// checkDecoded asserts the decoded sample.
func checkDecoded(t *testing.T, e *Event) {
	t.Helper()
	if e.Path != "sites/s1/machines/m1/commands/completed" {
		t.Errorf("path = %q", e.Path)
	}
	b, a := e.BeforeFields()["c1"].(map[string]any), e.AfterFields()["c1"].(map[string]any)
	if b["status"] != "downloading" || b["progress"] != int64(40) {
		t.Errorf("before = %v", b)
	}
	if a["status"] != "completed" || a["type"] != "install_software" || !a["completedAt"].(time.Time).Equal(t0.Add(time.Second)) {
		t.Errorf("after = %v", a)
	}
	if !e.After.UpdateTime.Equal(t0.Add(time.Second)) || e.After.Path != e.Path {
		t.Errorf("after meta = %+v", e.After)
	}
	p, ok := e.Params("sites/{siteId}/machines/{machineId}/commands/completed")
	if !ok || p["siteId"] != "s1" || p["machineId"] != "m1" {
		t.Errorf("params = %v %v", p, ok)
	}
}

func newEvent(data []byte, ct string, ext map[string]string) event.Event {
	ce := event.New()
	ce.SetID("ev-1")
	ce.SetType(Written)
	ce.SetSource("//firestore.googleapis.com/projects/demo-x/databases/(default)")
	ce.SetSubject("documents/sites/s1/machines/m1/commands/completed")
	for k, v := range ext {
		ce.SetExtension(k, v)
	}
	_ = ce.SetData(ct, data)
	return ce
}

func TestDecodeForms(t *testing.T) {
	raw, err := det.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	b64 := []byte(base64.StdEncoding.EncodeToString(raw))
	for _, c := range []struct {
		name string
		data []byte
		ct   string
		ext  map[string]string
	}{
		{"raw protobuf (production)", raw, "application/protobuf", map[string]string{"document": "sites/s1/machines/m1/commands/completed", "project": "demo-x", "database": "(default)"}},
		{"base64 text (emulator)", b64, "application/protobuf", nil},
		{"base64 with newline", append(b64, '\n'), "application/protobuf", nil},
		{"JSON", js, "application/json", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := Decode(newEvent(c.data, c.ct, c.ext))
			if err != nil {
				t.Fatal(err)
			}
			checkDecoded(t, e)
			if c.ext != nil && (e.Project != "demo-x" || e.Database != "(default)") {
				t.Errorf("project %q database %q", e.Project, e.Database)
			}
		})
	}
	// Raw protobuf always starts with a byte outside the base64 alphabet.
	if _, ok := Base64Body(raw); ok {
		t.Error("raw protobuf taken for base64")
	}
	// A delete: only the old value; a create: only the new one.
	del, _ := proto.Marshal(&firestoredata.DocumentEventData{OldValue: sample().OldValue})
	e, err := Decode(newEvent(del, "application/protobuf", nil))
	if err != nil || e.After != nil || e.AfterFields() != nil || e.Before == nil {
		t.Errorf("delete: %+v %v", e, err)
	}
	if _, err := Decode(newEvent([]byte("\x0a\xff\xff\xff"), "application/protobuf", nil)); err == nil {
		t.Error("garbage decoded")
	}
	noPath := newEvent(nil, "application/protobuf", nil)
	noPath.SetSubject("")
	if _, err := Decode(noPath); err == nil {
		t.Error("event without any document path decoded")
	}
}

// emulatorRequest builds a delivery exactly as the Firestore emulator sends
// it (local-stack.md §3): binary mode, Content-Type and ce-datacontenttype
// both set, body base64 text.
func emulatorRequest(t *testing.T, project, id string) *http.Request {
	t.Helper()
	raw, err := det.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	body := base64.StdEncoding.EncodeToString(raw)
	r := httptest.NewRequest(http.MethodPost, "/functions/projects/"+project+"/triggers/"+id, strings.NewReader(body))
	for k, v := range map[string]string{
		"ce-specversion":     "1.0",
		"ce-type":            Written,
		"ce-source":          "//firestore.googleapis.com/projects/projects/" + project + "/databases/(default)",
		"ce-id":              "bb308289-ccfc-470f-8a72-d183a6f0a726",
		"ce-subject":         "documents/sites/s1/machines/m1/commands/completed",
		"ce-time":            "2026-11-26T22:52:30Z",
		"ce-datacontenttype": "application/protobuf",
		"ce-dataschema":      "https://github.com/googleapis/google-cloudevents/blob/main/proto/google/events/cloud/firestore/v1/data.proto",
		"ce-location":        "us-central1",
		"ce-project":         project,
		"ce-database":        "(default)",
		"ce-namespace":       "(default)",
		"ce-document":        "sites/s1/machines/m1/commands/completed",
		"Content-Type":       "application/protobuf",
	} {
		r.Header.Set(k, v)
	}
	return r
}

// The emulator's request as is cannot be read by the CloudEvents SDK; the
// bridge fixes it and hands the function the raw protobuf production sends.
func TestBridgeEmulatorDelivery(t *testing.T) {
	if _, err := cehttp.NewEventFromHTTPRequest(emulatorRequest(t, "demo-x", "deploymentstatus")); err == nil {
		t.Fatal("the SDK accepted the unfixed emulator request: the quirk this bridge works around is gone")
	}
	var got *Event
	var data []byte
	var seen []Delivery
	b := &Bridge{Project: "demo-x", Functions: map[string]CloudEventFunc{
		"deploymentstatus": func(ctx context.Context, ce event.Event) error {
			data = ce.Data()
			e, err := Decode(ce)
			got = e
			return err
		},
		"failing": func(context.Context, event.Event) error { return errors.New("boom") },
	}, Observe: func(d Delivery) { seen = append(seen, d) }}

	w := httptest.NewRecorder()
	b.ServeHTTP(w, emulatorRequest(t, "demo-x", "deploymentstatus"))
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	raw, _ := det.Marshal(sample())
	if !bytes.Equal(data, raw) {
		t.Error("function did not get the raw protobuf bytes")
	}
	checkDecoded(t, got)
	if got.ID != "bb308289-ccfc-470f-8a72-d183a6f0a726" || got.Project != "demo-x" || got.Type != Written {
		t.Errorf("event = %+v", got)
	}
	if len(seen) != 1 || seen[0].Trigger != "deploymentstatus" || seen[0].Document != "sites/s1/machines/m1/commands/completed" || seen[0].Err != nil {
		t.Errorf("observed %+v", seen)
	}

	for _, c := range []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"function error", emulatorRequest(t, "demo-x", "failing"), http.StatusInternalServerError},
		{"unknown trigger", emulatorRequest(t, "demo-x", "nope"), http.StatusNotFound},
		{"other project", emulatorRequest(t, "demo-y", "deploymentstatus"), http.StatusNotFound},
		{"not a delivery path", httptest.NewRequest(http.MethodPost, "/functions/x", nil), http.StatusNotFound},
		{"GET", httptest.NewRequest(http.MethodGet, "/functions/projects/demo-x/triggers/deploymentstatus", nil), http.StatusMethodNotAllowed},
		{"not a CloudEvent", httptest.NewRequest(http.MethodPost, "/functions/projects/demo-x/triggers/deploymentstatus", strings.NewReader("x")), http.StatusBadRequest},
	} {
		w := httptest.NewRecorder()
		b.ServeHTTP(w, c.req)
		if w.Code != c.status || !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("%s: %d %s, want %d with an error", c.name, w.Code, w.Body, c.status)
		}
	}
}

// Production-shaped binary requests (raw bytes, one content type) pass the
// fix unchanged.
func TestFixLeavesProductionRequestsAlone(t *testing.T) {
	raw, _ := det.Marshal(sample())
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(raw))
	r.Header.Set("Content-Type", "application/protobuf")
	r.Header.Set("ce-specversion", "1.0")
	r.Header.Set("ce-type", Written)
	r.Header.Set("ce-source", "//firestore.googleapis.com/projects/p/databases/(default)")
	r.Header.Set("ce-id", "1")
	r.Header.Set("ce-document", "sites/s1/machines/m1/commands/completed")
	ev, err := cehttp.NewEventFromHTTPRequest(FixEmulatorRequest(r, raw))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev.Data(), raw) {
		t.Error("raw body changed")
	}
	e, err := Decode(*ev)
	if err != nil {
		t.Fatal(err)
	}
	checkDecoded(t, e)
}

func TestParseBridgePath(t *testing.T) {
	p, id, ok := ParseBridgePath("/functions/projects/demo-owlette/triggers/deploymentstatus")
	if !ok || p != "demo-owlette" || id != "deploymentstatus" {
		t.Errorf("%q %q %v", p, id, ok)
	}
	for _, bad := range []string{"/functions/projects//triggers/x", "/functions/projects/p/triggers/", "/functions/projects/p/x/y", "/api/x", "/functions/projects/p/triggers/x/y"} {
		if _, _, ok := ParseBridgePath(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
