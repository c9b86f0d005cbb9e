package sim

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Event kinds reported through Config.OnEvent.
const (
	EventPaired          = "paired"           // tokens obtained (Detail: how)
	EventStarted         = "started"          // startup sequence done
	EventHeartbeat       = "heartbeat"        // metrics upload written
	EventHeartbeatFailed = "heartbeat_failed" // metrics upload failed (Err)
	EventRefreshed       = "refreshed"        // access token refreshed
	EventRefreshFailed   = "refresh_failed"   // transient refresh failure (Err), backing off
	EventCredsWiped      = "credentials_wiped"
	EventCommand         = "command"        // a command reached its terminal entry (Detail: id, Status)
	EventConfigApplied   = "config_applied" // a config-doc change was applied
	EventStopped         = "stopped"        // Run returned (Err: why, nil on a clean stop)
)

// Event is something an agent did.
type Event struct {
	Machine string
	Kind    string
	Detail  string // command id, pairing mode, …
	Status  string // command terminal status
	Err     error
	At      time.Time
}

// Stats records request latencies and outcomes by operation, for many
// agents at once. The zero value is not usable; use NewStats.
type Stats struct {
	mu  sync.Mutex
	ops map[string]*opStats
}

type opStats struct {
	lat      []time.Duration // successful requests
	errs     int
	byStatus map[int]int
}

// NewStats returns an empty recorder.
func NewStats() *Stats { return &Stats{ops: map[string]*opStats{}} }

// Observe records one request (the hook the API and Firestore clients call).
func (s *Stats) Observe(op string, d time.Duration, status int, err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.ops[op]
	if o == nil {
		o = &opStats{byStatus: map[int]int{}}
		s.ops[op] = o
	}
	o.byStatus[status]++
	// 202 from poll is a normal answer; only transport errors and
	// unexpected statuses count as errors.
	if err != nil {
		o.errs++
		return
	}
	o.lat = append(o.lat, d)
}

// Reset forgets everything recorded.
func (s *Stats) Reset() {
	s.mu.Lock()
	s.ops = map[string]*opStats{}
	s.mu.Unlock()
}

// Summary is one operation's figures.
type Summary struct {
	Op            string
	OK, Errors    int
	P50, P90, P99 time.Duration
	Max           time.Duration
	ByStatus      map[int]int
}

// ErrorRate is Errors / (OK + Errors).
func (s Summary) ErrorRate() float64 {
	if s.OK+s.Errors == 0 {
		return 0
	}
	return float64(s.Errors) / float64(s.OK+s.Errors)
}

// Summaries returns per-operation figures sorted by name.
func (s *Stats) Summaries() []Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Summary, 0, len(s.ops))
	for op, o := range s.ops {
		sum := Summary{Op: op, OK: len(o.lat), Errors: o.errs, ByStatus: map[int]int{}}
		for k, v := range o.byStatus {
			sum.ByStatus[k] = v
		}
		if len(o.lat) > 0 {
			l := slices.Clone(o.lat)
			slices.Sort(l)
			sum.P50, sum.P90, sum.P99, sum.Max = pct(l, 50), pct(l, 90), pct(l, 99), l[len(l)-1]
		}
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Op < out[j].Op })
	return out
}

// Get returns one operation's figures (zero Summary if none).
func (s *Stats) Get(op string) Summary {
	for _, sum := range s.Summaries() {
		if sum.Op == op {
			return sum
		}
	}
	return Summary{Op: op}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return sorted[i-1]
}

// Fprint writes a table of the summaries.
func (s *Stats) Fprint(w io.Writer) {
	fmt.Fprintf(w, "%-34s %7s %6s %9s %9s %9s %9s  %s\n", "op", "ok", "err", "p50", "p90", "p99", "max", "statuses")
	for _, m := range s.Summaries() {
		var st []string
		keys := make([]int, 0, len(m.ByStatus))
		for k := range m.ByStatus {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		for _, k := range keys {
			st = append(st, fmt.Sprintf("%d:%d", k, m.ByStatus[k]))
		}
		fmt.Fprintf(w, "%-34s %7d %6d %9s %9s %9s %9s  %s\n", m.Op, m.OK, m.Errors,
			round(m.P50), round(m.P90), round(m.P99), round(m.Max), strings.Join(st, " "))
	}
}

func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
