package webhook

import (
	"math"
	"testing"
	"time"
)

func nan() float64 { return math.NaN() }

func TestJSString(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{"x", "x"}, {true, "true"}, {int64(-42), "-42"}, {90, "90"},
		{95.5, "95.5"}, {90.0, "90"}, {0.30000000000000004, "0.30000000000000004"}, {1 / 3.0, "0.3333333333333333"},
		{1e21, "1e+21"}, {1e20, "100000000000000000000"}, {1.5e-7, "1.5e-7"},
		{0.000001, "0.000001"}, {-2.5e-10, "-2.5e-10"}, {math.Copysign(0, -1), "0"},
		{math.Inf(1), "Infinity"}, {nan(), "NaN"},
		{map[string]any{"a": 1}, "[object Object]"},
		{[]any{"a", int64(1), nil}, "a,1,"},
		{time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC), "2026-01-02T03:04:05.006Z"},
	} {
		if got := jsString(c.in); got != c.want {
			t.Errorf("jsString(%#v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTruthy(t *testing.T) {
	for _, v := range []any{nil, "", false, 0.0, int64(0), nan()} {
		if truthy(v) {
			t.Errorf("truthy(%#v)", v)
		}
	}
	for _, v := range []any{"0", true, 0.5, int64(-1), map[string]any{}, []any{}} {
		if !truthy(v) {
			t.Errorf("!truthy(%#v)", v)
		}
	}
}

func TestISOMillis(t *testing.T) {
	ts := time.Date(2026, 12, 31, 23, 59, 59, 999_999_999, time.FixedZone("X", -5*3600))
	if got := isoMillis(ts); got != "2027-01-01T04:59:59.999Z" {
		t.Errorf("got %q", got) // truncated like Date, not rounded
	}
}
