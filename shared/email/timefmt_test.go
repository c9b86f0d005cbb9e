package email

import (
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestFormatTime(t *testing.T) {
	for _, c := range []struct {
		zone, at, want string
	}{
		// Windows key names, as agents write them; winter and summer.
		{"Pacific Standard Time", "2026-01-15T23:04:05Z", "1/15/2026, 3:04:05 PM PST"},
		{"Pacific Standard Time", "2026-07-15T23:04:05Z", "7/15/2026, 4:04:05 PM PDT"},
		{"Eastern Standard Time", "2026-01-15T17:00:00Z", "1/15/2026, 12:00:00 PM EST"},
		{"W. Europe Standard Time", "2026-01-15T12:00:00Z", "1/15/2026, 1:00:00 PM CET"},
		{"W. Europe Standard Time", "2026-07-15T12:00:00Z", "7/15/2026, 2:00:00 PM CEST"},
		{"GMT Standard Time", "2026-07-15T12:00:00Z", "7/15/2026, 1:00:00 PM BST"},
		// Southern hemisphere: daylight time in January.
		{"AUS Eastern Standard Time", "2026-01-15T12:00:00Z", "1/15/2026, 11:00:00 PM AEDT"},
		{"AUS Eastern Standard Time", "2026-07-15T12:00:00Z", "7/15/2026, 10:00:00 PM AEST"},
		// CLDR's backward-link names must load from the embedded tzdata.
		{"India Standard Time", "2026-01-15T12:00:00Z", "1/15/2026, 5:30:00 PM IST"},
		// Zones tzdata writes numerically get en-US "GMT±h[:mm]".
		{"Nepal Standard Time", "2026-01-15T12:00:00Z", "1/15/2026, 5:45:00 PM GMT+5:45"},
		{"Turkey Standard Time", "2026-01-15T12:00:00Z", "1/15/2026, 3:00:00 PM GMT+3"},
		{"E. South America Standard Time", "2026-01-15T12:00:00Z", "1/15/2026, 9:00:00 AM GMT-3"},
		{"Newfoundland Standard Time", "2026-01-15T12:00:00Z", "1/15/2026, 8:30:00 AM NST"},
		{"UTC-11", "2026-01-15T12:00:00Z", "1/15/2026, 1:00:00 AM GMT-11"},
		{"UTC", "2026-01-15T00:05:00Z", "1/15/2026, 12:05:00 AM UTC"},
		// Matched case-insensitively.
		{"pacific standard time", "2026-01-15T23:04:05Z", "1/15/2026, 3:04:05 PM PST"},
		// IANA names pass through.
		{"America/Los_Angeles", "2026-07-15T23:04:05Z", "7/15/2026, 4:04:05 PM PDT"},
		{"Asia/Tokyo", "2026-01-15T12:00:00Z", "1/15/2026, 9:00:00 PM JST"},
		{"Europe/London", "2026-01-15T12:30:00Z", "1/15/2026, 12:30:00 PM GMT"},
		// Unknown, empty, or the server's own zone ⇒ UTC labelled UTC.
		{"", "2026-01-15T12:00:00Z", "1/15/2026, 12:00:00 PM UTC"},
		{"Mars Standard Time", "2026-01-15T12:00:00Z", "1/15/2026, 12:00:00 PM UTC"},
		{"Local", "2026-01-15T12:00:00Z", "1/15/2026, 12:00:00 PM UTC"},
		{"../../etc/passwd", "2026-01-15T12:00:00Z", "1/15/2026, 12:00:00 PM UTC"},
	} {
		if got := FormatTime(utc(c.at), c.zone); got != c.want {
			t.Errorf("FormatTime(%s, %q) = %q, want %q", c.at, c.zone, got, c.want)
		}
	}
}

func TestFormatTimeAcrossDSTChange(t *testing.T) {
	// US clocks jump from 2:00 PST to 3:00 PDT on 8 March 2026 (10:00 UTC).
	before := FormatTime(utc("2026-03-08T09:59:59Z"), "Pacific Standard Time")
	after := FormatTime(utc("2026-03-08T10:00:00Z"), "Pacific Standard Time")
	if before != "3/8/2026, 1:59:59 AM PST" || after != "3/8/2026, 3:00:00 AM PDT" {
		t.Fatalf("around the change: %q, %q", before, after)
	}
	// Back on 1 November 2026: 1:30 happens twice, PDT then PST.
	first := FormatTime(utc("2026-11-01T08:30:00Z"), "Pacific Standard Time")
	second := FormatTime(utc("2026-11-01T09:30:00Z"), "Pacific Standard Time")
	if first != "11/1/2026, 1:30:00 AM PDT" || second != "11/1/2026, 1:30:00 AM PST" {
		t.Fatalf("repeated hour: %q, %q", first, second)
	}
}

func TestEveryWindowsZoneLoads(t *testing.T) {
	if len(windowsZones) < 139 {
		t.Fatalf("table has %d zones; CLDR's territory-001 list has 139", len(windowsZones))
	}
	for win, iana := range windowsZones {
		loc, ok := Location(win)
		if !ok || loc == time.UTC && iana != "Etc/UTC" {
			t.Errorf("%q (%s) did not resolve", win, iana)
			continue
		}
		if loc.String() != iana {
			t.Errorf("%q resolved to %s, want %s", win, loc, iana)
		}
	}
}

func TestLocationReportsUnknown(t *testing.T) {
	for _, z := range []string{"", "  ", "Nowhere Standard Time", "Local", "Europe/Atlantis"} {
		if loc, ok := Location(z); ok || loc != time.UTC {
			t.Errorf("Location(%q) = %v, %v; want UTC, false", z, loc, ok)
		}
	}
	// Cached answers stay the same.
	for range 2 {
		if loc, ok := Location("Tokyo Standard Time"); !ok || loc.String() != "Asia/Tokyo" {
			t.Fatalf("Tokyo Standard Time = %v, %v", loc, ok)
		}
	}
}

func TestNewYorkTimestamp(t *testing.T) {
	if got := NewYorkTimestamp(utc("2026-01-15T17:04:05Z")); got != "1/15/2026, 12:04:05 PM EST" {
		t.Errorf("winter: %q", got)
	}
	if got := NewYorkTimestamp(utc("2026-07-04T03:00:00Z")); got != "7/3/2026, 11:00:00 PM EDT" {
		t.Errorf("summer: %q", got)
	}
}
