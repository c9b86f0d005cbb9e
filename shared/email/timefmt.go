package email

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	// Cloud Run images carry no zoneinfo; the embedded database (~450 KB
	// in the binary) keeps machine zones working there.
	_ "time/tzdata"
)

// timeLayout is the original's en-US toLocaleString shape:
// "M/D/YYYY, h:mm:ss AM/PM"; the zone label follows.
const timeLayout = "1/2/2006, 3:04:05 PM"

// NewYork is the zone of the E64 test-email timestamp.
const NewYork = "America/New_York"

var zoneCache sync.Map // zone name as given → *time.Location (nil: unknown)

// Location resolves a machine_timezone value: a Windows zone key name (what
// agents write, matched case-insensitively) is mapped through CLDR's table,
// an IANA name passes through, and anything else (empty, unknown, "Local")
// is UTC. ok reports whether the name was recognised.
func Location(zone string) (loc *time.Location, ok bool) {
	zone = strings.TrimSpace(zone)
	if zone == "" {
		return time.UTC, false
	}
	if v, hit := zoneCache.Load(zone); hit {
		if l, _ := v.(*time.Location); l != nil {
			return l, true
		}
		return time.UTC, false
	}
	l := lookupZone(zone)
	// Unknown names are cached too (as nil): the set a fleet writes is small.
	if zoneCacheSize.Add(1) <= maxZoneCache {
		zoneCache.Store(zone, l)
	}
	if l == nil {
		return time.UTC, false
	}
	return l, true
}

// maxZoneCache bounds the cache against a stream of garbage zone names.
const maxZoneCache = 1024

var zoneCacheSize atomic.Int64

func lookupZone(zone string) *time.Location {
	iana, ok := windowsZones[zone]
	if !ok {
		iana, ok = windowsZonesFold[strings.ToLower(zone)]
	}
	if !ok {
		iana = zone
	}
	// "Local" would be the server's own zone, which is what made the
	// original label a local time "UTC"; IANA names are short and never
	// contain "..", which LoadLocation refuses anyway.
	if iana == "Local" || len(iana) > 64 {
		return nil
	}
	l, err := time.LoadLocation(iana)
	if err != nil {
		return nil
	}
	return l
}

var windowsZonesFold = func() map[string]string {
	m := make(map[string]string, len(windowsZones))
	for k, v := range windowsZones {
		m[strings.ToLower(k)] = v
	}
	return m
}()

// FormatTime renders t as "M/D/YYYY, h:mm:ss AM/PM <zone>" in the machine's
// zone (see Location). Unknown or empty zones give UTC labelled "UTC"; it
// never fails, so time formatting cannot stop a send (api.md §5.18).
func FormatTime(t time.Time, zone string) string {
	loc, _ := Location(zone)
	lt := t.In(loc)
	return lt.Format(timeLayout) + " " + zoneLabel(lt)
}

// NewYorkTimestamp is the E64 response timestamp:
// "M/D/YYYY, h:mm:ss AM/PM EST|EDT".
func NewYorkTimestamp(t time.Time) string { return FormatTime(t, NewYork) }

// zoneLabel is the zone abbreviation of t. tzdata has no letters for many
// zones and gives "+03" or "-0330" instead; those become "GMT+3" and
// "GMT-3:30" as in en-US formatting.
func zoneLabel(t time.Time) string {
	name, off := t.Zone()
	if name != "" && name[0] != '+' && name[0] != '-' {
		return name
	}
	if off == 0 {
		return "GMT"
	}
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	h, m := off/3600, off%3600/60
	s := "GMT" + sign + strconv.Itoa(h)
	if m != 0 {
		s += ":" + twoDigits(m)
	}
	return s
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
