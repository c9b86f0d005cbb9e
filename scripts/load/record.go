package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Where a request went.
const (
	viaAPI       = "api"       // the dev server
	viaFirestore = "firestore" // an agent's Firestore REST call (through the proxy)
)

// Recorder keeps every request's outcome, client side: latency by endpoint,
// statuses, and whether a failure was expected. A failure is expected only
// when it is retryable (503, 504, or a connection error) and overlaps a fault
// that can cause it (see expected); everything else is an error of the run.
type Recorder struct {
	start  time.Time
	faults *Faults

	mu      sync.Mutex
	eps     map[string]*epStats
	seconds map[int]*minuteStats // by second of the run
	samples []Failure
	nErrors int
}

type epStats struct {
	lat        []time.Duration // 2xx answers
	codes      map[string]int
	expected   int
	unexpected int
}

type minuteStats struct {
	Requests, API, Expected, Unexpected int
}

// Failure is one unexpected outcome, kept for the report.
type Failure struct {
	At       time.Duration `json:"atNs"` // since the start of the run
	Endpoint string        `json:"endpoint"`
	Status   int           `json:"status"`
	Err      string        `json:"error,omitempty"`
	Body     string        `json:"body,omitempty"`
}

func (f Failure) String() string {
	s := fmt.Sprintf("%7s  %-44s ", fmtDur(f.At), f.Endpoint)
	if f.Status != 0 {
		s += strconv.Itoa(f.Status) + " " + f.Body
	} else {
		s += f.Err
	}
	return s
}

// NewRecorder starts recording at start.
func NewRecorder(start time.Time, f *Faults) *Recorder {
	return &Recorder{start: start, faults: f, eps: map[string]*epStats{}, seconds: map[int]*minuteStats{}}
}

// Record adds one request: status is 0 when err is a transport error.
func (r *Recorder) Record(ep, via string, s, e time.Time, status int, err error, body string) {
	ok := err == nil && (status/100 == 2 || via == viaFirestore && knownFirestoreAnswer(ep, status))
	var expected bool
	if ok {
		if via == viaAPI {
			r.faults.Recovered(faultServer, s, e)
			r.faults.Recovered(faultFirestore, s, e)
			if authRoute(ep) {
				r.faults.Recovered(faultAuth, s, e)
			}
		}
	} else {
		expected = r.expected(ep, via, s, e, status, err)
	}
	code := strconv.Itoa(status)
	if status == 0 {
		code = "ERR:" + errKind(err)
	}
	sec := int(s.Sub(r.start) / time.Second)
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.eps[ep]
	if st == nil {
		st = &epStats{codes: map[string]int{}}
		r.eps[ep] = st
	}
	st.codes[code]++
	ms := r.seconds[sec]
	if ms == nil {
		ms = &minuteStats{}
		r.seconds[sec] = ms
	}
	ms.Requests++
	if via == viaAPI {
		ms.API++
	}
	switch {
	case ok:
		st.lat = append(st.lat, e.Sub(s))
	case expected:
		st.expected++
		ms.Expected++
	default:
		st.unexpected++
		ms.Unexpected++
		r.nErrors++
		if len(r.samples) < 60 {
			f := Failure{At: s.Sub(r.start), Endpoint: ep, Status: status, Body: snippet(body, 160)}
			if err != nil {
				f.Err = err.Error()
			}
			r.samples = append(r.samples, f)
		}
	}
}

// expected: a retryable failure during (or just after) a fault that causes
// it. The server answers 503/504 while Firestore is away, 503 on agent token
// routes while Auth is away; while it is killed its clients see connection
// errors. Agents' own Firestore calls fail with connection errors while
// Firestore is away. Never a 401/403, a 429 or another 5xx.
func (r *Recorder) expected(ep, via string, s, e time.Time, status int, err error) bool {
	transport := status == 0 && err != nil
	retry := status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
	switch via {
	case viaAPI:
		if (transport || retry) && r.faults.Attribute(faultServer, s, e) {
			return true
		}
		if retry && r.faults.Attribute(faultFirestore, s, e) {
			return true
		}
		if retry && authRoute(ep) && r.faults.Attribute(faultAuth, s, e) {
			return true
		}
	case viaFirestore:
		if transport && r.faults.Attribute(faultFirestore, s, e) {
			return true
		}
	}
	return false
}

// knownFirestoreAnswer: non-2xx answers of the emulator to an agent that are
// part of the protocol, not failures: a missing document (404 on GET), and
// the 403 the emulator gives every :batchWrite from a non-admin (the agent
// then writes one document at a time, as the real agent does).
func knownFirestoreAnswer(ep string, status int) bool {
	return status == http.StatusNotFound && strings.HasPrefix(ep, "fs GET ") ||
		status == http.StatusForbidden && ep == "fs POST :batchWrite"
}

// authRoute: the agent routes, which call the Auth service (token refresh
// and exchange; an agent token's revocation check on the others, e.g. an
// alert).
func authRoute(ep string) bool {
	return strings.Contains(ep, "/agent/")
}

// Errors is the number of unexpected outcomes.
func (r *Recorder) Errors() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nErrors
}

// Samples returns the first unexpected outcomes.
func (r *Recorder) Samples() []Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples)
}

// EndpointSummary is one endpoint's figures.
type EndpointSummary struct {
	Endpoint   string         `json:"endpoint"`
	Requests   int            `json:"requests"`
	P50        time.Duration  `json:"p50Ns"`
	P99        time.Duration  `json:"p99Ns"`
	Max        time.Duration  `json:"maxNs"`
	Codes      map[string]int `json:"statuses"`
	Expected   int            `json:"expectedFailures"`
	Unexpected int            `json:"errors"`
}

// Endpoints returns every endpoint's figures, sorted by name.
func (r *Recorder) Endpoints() []EndpointSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]EndpointSummary, 0, len(r.eps))
	for ep, st := range r.eps {
		s := EndpointSummary{Endpoint: ep, Codes: map[string]int{}, Expected: st.expected, Unexpected: st.unexpected}
		for k, v := range st.codes {
			s.Codes[k] = v
			s.Requests += v
		}
		if len(st.lat) > 0 {
			l := slices.Clone(st.lat)
			slices.Sort(l)
			s.P50, s.P99, s.Max = pct(l, 50), pct(l, 99), l[len(l)-1]
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Endpoint < out[j].Endpoint })
	return out
}

// Between sums the request counts of the seconds from a to b (offsets from
// the start of the run).
func (r *Recorder) Between(a, b time.Duration) minuteStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out minuteStats
	for s := int(a / time.Second); s < int(b/time.Second); s++ {
		if m := r.seconds[s]; m != nil {
			out.Requests += m.Requests
			out.API += m.API
			out.Expected += m.Expected
			out.Unexpected += m.Unexpected
		}
	}
	return out
}

// pct is the p-th percentile of sorted (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i, 1)-1]
}

// errKind names a transport error by what the client saw.
func errKind(err error) string {
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// recordingTransport records every request the agents make: to the API
// (endpoint "POST /agent/…") and to Firestore through the proxy
// ("fs GET sites/*/machines/*/commands/pending", "fs POST :commit").
type recordingTransport struct {
	base    http.RoundTripper
	rec     *Recorder
	fsHost  string // the Firestore proxy's host:port
	apiRoot string // path prefix of the API ("/api")
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := time.Now()
	resp, err := t.base.RoundTrip(req)
	e := time.Now()
	if req.Context().Err() != nil && err != nil {
		return resp, err // the agent gave up (stopping): not an outcome of the server
	}
	var ep, via string
	if req.URL.Host == t.fsHost {
		via, ep = viaFirestore, "fs "+restOp(req.Method, req.URL.Path)
	} else {
		via, ep = viaAPI, req.Method+" "+strings.TrimPrefix(req.URL.Path, t.apiRoot)
	}
	status, body := 0, ""
	if resp != nil {
		status = resp.StatusCode
		if status/100 != 2 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			_ = resp.Body.Close()
			resp.Body = io.NopCloser(strings.NewReader(string(b)))
			body = string(b)
		}
	}
	t.rec.Record(ep, via, s, e, status, err, body)
	return resp, err
}

// fmtDur prints a duration as m:ss.
func fmtDur(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	s := fmt.Sprintf("%d:%02d", int(d/time.Minute), int(d%time.Minute/time.Second))
	if neg {
		return "-" + s
	}
	return s
}
