package web

import "testing"

func TestParseIntJS(t *testing.T) {
	for in, want := range map[string]int64{"20": 20, "  7abc": 7, "-3": -3, "+4": 4, "0x1F": 31, "1e3": 1} {
		if got, ok := ParseIntJS(in); !ok || got != want {
			t.Errorf("ParseIntJS(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
	if got, ok := ParseIntJS("99999999999999999999"); !ok || got < 1<<40 {
		t.Errorf("huge value does not saturate: %d %v", got, ok)
	}
	for _, in := range []string{"", "abc", "-", "0x", " "} {
		if _, ok := ParseIntJS(in); ok {
			t.Errorf("ParseIntJS(%q) is a number", in)
		}
	}
}
