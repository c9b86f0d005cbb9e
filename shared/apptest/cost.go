package apptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Meter measures what a benchmark's requests cost the server: the process's
// CPU time (user + system, from getrusage; the emulators are other
// processes, so only our side counts: handlers, guards, gRPC client, JSON,
// logs, GC) and the Firestore RPCs it made. Start it right before the
// measured loop, after warm-up requests, and Report after it.
type Meter struct {
	e   *Env
	cpu time.Duration
}

// Meter resets the RPC counts and starts measuring.
func (e *Env) Meter() *Meter {
	e.RPCs.Reset()
	return &Meter{e: e, cpu: processCPU()}
}

// Report adds cpu-ms/op, readRPCs/op and writeRPCs/op to b's results.
func (m *Meter) Report(b *testing.B) {
	cpu := processCPU() - m.cpu
	n := float64(b.N)
	b.ReportMetric(float64(cpu.Microseconds())/1000/n, "cpu-ms/op")
	b.ReportMetric(float64(m.e.RPCs.Reads())/n, "readRPCs/op")
	b.ReportMetric(float64(m.e.RPCs.Writes())/n, "writeRPCs/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Serve sends one request the way a benchmark should: no contract check,
// no decoding of the answer, the body written to a sink (as to a socket),
// so the CPU measured is the server's. It returns the status and the first
// bytes of the body (for failure messages).
func (e *Env) Serve(method, path string, cred Cred, body any, header map[string]string) (int, string) {
	var rd *bytes.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			e.fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, path, rd)
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if cred != nil {
		cred(req)
	}
	w := &sink{h: http.Header{}}
	e.H.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, string(w.head)
}

// sink is a ResponseWriter that keeps the status and the first 300 bytes.
type sink struct {
	h      http.Header
	status int
	head   []byte
}

func (s *sink) Header() http.Header { return s.h }
func (s *sink) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *sink) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if n := 300 - len(s.head); n > 0 {
		s.head = append(s.head, b[:min(n, len(b))]...)
	}
	return len(b), nil
}

// Load is one request a benchmark repeats (Env.Bench).
type Load struct {
	Method string
	// Path returns the i-th request's path.
	Path func(i int) string
	Cred Cred
	Body any
	// Status is the expected status (200 when 0).
	Status int
	// NewClient sends every request from a new client address, as a flood
	// rotating X-Forwarded-For would; otherwise the address changes every
	// 250 requests, inside the api class's hourly budget per address.
	NewClient bool
}

// BenchClients are the numbers of callers Bench measures with: one at a
// time, and 16 at once (the load the issue compares at: the scheduler's
// wake-ups are shared, as on a busy instance).
var BenchClients = []int{1, 16}

// Bench sends l after a few warm-up requests (an API key's first
// lastUsedAt write, the first rate-budget lease, the instance's caches),
// b.N times per sub-benchmark clients=N (BenchClients), and reports what
// one request costs: cpu-ms/op, readRPCs/op, writeRPCs/op (see Meter) and
// the p50-ms / p99-ms latency.
func (e *Env) Bench(b *testing.B, l Load) {
	b.Helper()
	want := l.Status
	if want == 0 {
		want = http.StatusOK
	}
	// next numbers requests across the sub-benchmarks and their runs, so a
	// client address is never reused past its budget.
	var next atomic.Int64
	ip := func(i int) map[string]string {
		if l.NewClient {
			return map[string]string{"X-Forwarded-For": fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}
		}
		return map[string]string{"X-Forwarded-For": fmt.Sprintf("203.%d.%d.%d", i/250/250/250%250, i/250/250%250, i/250%250+1)}
	}
	for i := range 3 {
		if st, body := e.Serve(l.Method, l.Path(i), l.Cred, l.Body, ip(int(next.Add(1)-1))); st != want {
			b.Fatalf("warm-up %s: %d %s", l.Method, st, body)
		}
	}
	for _, clients := range BenchClients {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			// Reserve addresses for b.N requests, starting on a fresh one.
			span := (b.N/250 + 2) * 250
			base := (int(next.Add(int64(span))) - span + 249) / 250 * 250
			lat := make([]time.Duration, b.N)
			var done atomic.Int64
			var failure atomic.Pointer[string]
			m := e.Meter()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					for {
						i := int(done.Add(1) - 1)
						if i >= b.N || failure.Load() != nil {
							return
						}
						start := time.Now()
						st, body := e.Serve(l.Method, l.Path(i), l.Cred, l.Body, ip(base+i))
						lat[i] = time.Since(start)
						if st != want {
							msg := fmt.Sprintf("%s %s: %d %s", l.Method, l.Path(i), st, body)
							failure.Store(&msg)
						}
					}
				})
			}
			wg.Wait()
			if f := failure.Load(); f != nil {
				b.Fatal(*f)
			}
			b.StopTimer()
			m.Report(b)
			slices.Sort(lat)
			at := func(p float64) float64 {
				return float64(lat[max(0, int(math.Ceil(p*float64(len(lat))))-1)].Microseconds()) / 1000
			}
			b.ReportMetric(at(0.50), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
		})
	}
}

// Fixed is a Load path that does not change.
func Fixed(path string) func(int) string { return func(int) string { return path } }

// Keyed lists the credentials of a person's keyed requests, for benchmarks
// that measure each: an API key and a session cookie (MFA complete).
var Keyed = []struct {
	Name string
	Cred func(*User) Cred
}{
	{"apiKey", func(u *User) Cred { return WithAPIKey(u.APIKey()) }},
	{"session", func(u *User) Cred { return WithCookie(u.Cookie()) }},
}
