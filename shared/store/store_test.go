package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTimestampForms(t *testing.T) {
	ts := time.Date(2026, 11, 26, 10, 0, 1, 500_000_000, time.UTC)
	b, _ := json.Marshal(Raw(map[string]any{"at": ts, "n": 1, "list": []any{ts}}))
	want := `{"at":{"_seconds":1795687201,"_nanoseconds":500000000},"list":[{"_seconds":1795687201,"_nanoseconds":500000000}],"n":1}`
	if string(b) != want {
		t.Errorf("Raw: %s", b)
	}
	if got := ISO(ts.In(time.FixedZone("X", 3600))); got != "2026-11-26T10:00:01.500Z" {
		t.Errorf("ISO: %s", got)
	}
	if ISOOrNil(int64(5)) != nil || ISOOrNil(ts) != "2026-11-26T10:00:01.500Z" {
		t.Error("ISOOrNil")
	}
	for v, want := range map[any]int64{ts: ts.UnixMilli(), int64(42): 42, float64(43): 43, "2026-11-26T10:00:01.5Z": ts.UnixMilli()} {
		if got, ok := Millis(v); !ok || got != want {
			t.Errorf("Millis(%v) = %d %v", v, got, ok)
		}
	}
	if _, ok := Millis("yesterday"); ok {
		t.Error("Millis of a non-time")
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"site-1": true, "": false, ".": false, "..": false, "a/b": false, "__x__": false, "__x": true,
		strings.Repeat("a", 1500): true, strings.Repeat("a", 1501): false,
	} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%.20q) != %v", id, want)
		}
	}
}

func TestTruthy(t *testing.T) {
	for _, v := range []any{nil, false, "", int64(0), float64(0)} {
		if Truthy(v) {
			t.Errorf("Truthy(%#v)", v)
		}
	}
	for _, v := range []any{true, "x", int64(1), 0.5, map[string]any{}, []any{}} {
		if !Truthy(v) {
			t.Errorf("!Truthy(%#v)", v)
		}
	}
}

func TestTooLarge(t *testing.T) {
	for msg, want := range map[string]bool{
		`The value of property "a" is longer than 1048487 bytes.`: true, // emulator
		"maximum entity size is 1048576 bytes":                    true, // emulator, whole document
		"value for a is too large to be used in a query":          true,
		"Document 'x' cannot be written because its size (1,234,567 bytes) exceeds the maximum allowed size of 1,048,576 bytes.": true,
		"The property.name is longer than 1500 bytes.": true,
		"Invalid field path":                           false,
	} {
		if got := TooLarge(status.Error(codes.InvalidArgument, msg)); got != want {
			t.Errorf("%q: %v, want %v", msg, got, want)
		}
	}
	if TooLarge(status.Error(codes.Internal, "maximum entity size is 1048576 bytes")) {
		t.Error("only InvalidArgument is the client's")
	}
}
