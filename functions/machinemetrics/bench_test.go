package machinemetrics

import (
	"context"
	"fmt"
	"testing"
	"time"

	cloudevent "github.com/cloudevents/sdk-go/v2/event"
	"github.com/googleapis/google-cloudevents-go/cloud/firestoredata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/trigger"
)

// BenchmarkHeartbeat is the CPU an instance spends on one heartbeat event
// that needs no Firestore call (the common case: decoding the protobuf
// CloudEvent Eventarc delivers, before and after a machine document with
// five processes, and deciding to skip), for docs/cost-model.md.
func BenchmarkHeartbeat(b *testing.B) {
	e := apptest.New(b)
	h := NewHandler()
	fn := trigger.Bind(e.D, h.Handle)
	t0 := time.Now().Truncate(time.Second)
	doc := func(at time.Time) map[string]any {
		m := metrics(20, 43.2)
		procs := map[string]any{}
		for i := range 5 {
			procs[fmt.Sprintf("3f1c9a2e-0000-4000-8000-00000000000%d", i)] = map[string]any{
				"name": fmt.Sprintf("Process %d", i), "exe_path": `C:\Program Files\App\app.exe`, "file_path": `C:\Shows\show.toe`,
				"cwd": `C:\Shows`, "autolaunch": true, "launch_mode": "always", "schedules": nil, "priority": "Normal",
				"visibility": "Show", "time_delay": int64(0), "time_to_init": int64(60), "relaunch_attempts": int64(3),
				"index": int64(i), "pid": int64(4000 + i), "status": "RUNNING", "responsive": true, "last_updated": float64(at.Unix()),
			}
		}
		m["processes"] = procs
		return upload("site-a", "m1", at, m)
	}
	// The instance sampled the previous upload; this one, 30 s later, is skipped.
	if err := h.Handle(context.Background(), e.D, event("site-a", "m1", nil, doc(t0))); err != nil {
		b.Fatal(err)
	}
	data, err := proto.Marshal(&firestoredata.DocumentEventData{
		OldValue: pbDoc(e.Project, doc(t0)), Value: pbDoc(e.Project, doc(t0.Add(30*time.Second))),
	})
	if err != nil {
		b.Fatal(err)
	}
	ce := cloudevent.New()
	ce.SetID("bench")
	ce.SetType(trigger.Written)
	ce.SetSource("//firestore.googleapis.com/projects/" + e.Project + "/databases/(default)")
	ce.SetExtension("document", "sites/site-a/machines/m1")
	_ = ce.SetData("application/protobuf", data)
	e.RPCs.Reset()
	b.ResetTimer()
	for b.Loop() {
		if err := fn(context.Background(), ce); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(data)), "event-bytes")
	if n := e.RPCs.Reads() + e.RPCs.Writes(); n != 0 {
		b.Fatalf("%d Firestore calls on the skip path", n)
	}
}

func pbDoc(project string, fields map[string]any) *firestoredata.Document {
	out := map[string]*firestoredata.Value{}
	for k, v := range fields {
		out[k] = pbValue(v)
	}
	return &firestoredata.Document{Name: "projects/" + project + "/databases/(default)/documents/sites/site-a/machines/m1", Fields: out}
}

func pbValue(v any) *firestoredata.Value {
	switch x := v.(type) {
	case nil:
		return &firestoredata.Value{ValueType: &firestoredata.Value_NullValue{NullValue: structpb.NullValue_NULL_VALUE}}
	case bool:
		return &firestoredata.Value{ValueType: &firestoredata.Value_BooleanValue{BooleanValue: x}}
	case int64:
		return &firestoredata.Value{ValueType: &firestoredata.Value_IntegerValue{IntegerValue: x}}
	case float64:
		return &firestoredata.Value{ValueType: &firestoredata.Value_DoubleValue{DoubleValue: x}}
	case string:
		return &firestoredata.Value{ValueType: &firestoredata.Value_StringValue{StringValue: x}}
	case time.Time:
		return &firestoredata.Value{ValueType: &firestoredata.Value_TimestampValue{TimestampValue: timestamppb.New(x)}}
	case map[string]any:
		m := map[string]*firestoredata.Value{}
		for k, e := range x {
			m[k] = pbValue(e)
		}
		return &firestoredata.Value{ValueType: &firestoredata.Value_MapValue{MapValue: &firestoredata.MapValue{Fields: m}}}
	}
	panic(fmt.Sprintf("pbValue: %T", v))
}
