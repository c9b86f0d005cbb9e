package uistream

import (
	"errors"
	"math"
	"testing"
)

func TestAppendNumberMatchesJavaScript(t *testing.T) {
	// Expected values are what Node prints for String(x).
	cases := []struct {
		f    float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-1.5, "-1.5"},
		{0.1, "0.1"},
		{1e21, "1e+21"},
		{1e20, "100000000000000000000"},
		{123456789012345680000, "123456789012345680000"},
		{1.5e21, "1.5e+21"},
		{1e-6, "0.000001"},
		{1e-7, "1e-7"},
		{1.25e-7, "1.25e-7"},
		{0.000123, "0.000123"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{5e-324, "5e-324"},
		{9007199254740993, "9007199254740992"},
		{2.5, "2.5"},
		{100, "100"},
		{1.0000000000000002, "1.0000000000000002"},
		{math.Inf(1), "null"},
		{math.NaN(), "null"},
	}
	for _, tc := range cases {
		if got := string(AppendNumber(nil, tc.f)); got != tc.want {
			t.Errorf("AppendNumber(%v) = %s, want %s", tc.f, got, tc.want)
		}
	}
}

func TestAppendStringMatchesJSONStringify(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\s`, `"q\"b\\s"`},
		{"<script>&amp;</script>", `"<script>&amp;</script>"`},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f\""},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"héllo 🦉", `"héllo 🦉"`},
		{"bad\xffutf8", "\"bad\ufffdutf8\""},
	}
	for _, tc := range cases {
		if got := string(AppendString(nil, tc.in)); got != tc.want {
			t.Errorf("AppendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestAppendJSONReserialisesLikeJavaScript(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, `null`},
		{` {"b":1, "a":2} `, `{"b":1,"a":2}`},
		{`{"b":1,"10":2,"2":3,"a":4,"01":5,"4294967295":6,"4294967294":7}`, `{"2":3,"10":2,"4294967294":7,"b":1,"a":4,"01":5,"4294967295":6}`},
		{`{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{`[1.0, 1e2, -0, 0.0, 1E-7, 1e400, -1e400, 12345678901234567890]`, `[1,100,0,0,1e-7,null,null,12345678901234567000]`},
		{`"\u003c\/\u00e9\ud83e\udd89\u2028"`, "\"</é🦉\u2028\""},
		{`"\ud800x\udc00"`, `"\ud800x\udc00"`},
		{`"\u0000\u001F\""`, `"\u0000\u001f\""`},
		{`{"nested":{"z":[true,false,null,{}],"y":[]}}`, `{"nested":{"z":[true,false,null,{}],"y":[]}}`},
	}
	for _, tc := range cases {
		got, err := AppendJSON(nil, []byte(tc.in))
		if err != nil {
			t.Errorf("AppendJSON(%s): %v", tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("AppendJSON(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestAppendJSONRejectsInvalid(t *testing.T) {
	for _, in := range []string{`{`, `{"a":}`, `[1,]`, `01`, `"\x"`, `tru`, `{"a":1} x`, `"a` + "\n" + `"`, `1.`, `-`, `{"a" 1}`} {
		if out, err := AppendJSON([]byte("keep"), []byte(in)); !errors.Is(err, errSyntax) || string(out) != "keep" {
			t.Errorf("AppendJSON(%q) = %q, %v; want errSyntax and dst unchanged", in, out, err)
		}
	}
}
