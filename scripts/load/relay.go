package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/owlette/server/shared/trigger/relay"
)

// Eventarc is a local stand-in for production's trigger delivery (Eventarc
// with --retry, as scripts/deploy creates the triggers): it takes each change
// event of the run's project from the stack's relay, answers at once, and
// delivers the event to the dev server, retrying with backoff while the
// server answers 5xx or cannot be reached. The local chain otherwise
// delivers once and drops what fails, so an event that arrives while the
// server is killed, or whose function fails while Firestore is away, would
// be lost locally though production redelivers it.
//
// The dev server registers itself here (its OWLETTE_TRIGGER_RELAY points at
// this relay's control API, served by an embedded relay.Relay); this relay is
// registered on the stack's relay for the run's project.
type Eventarc struct {
	ctl    *relay.Relay
	srv    *http.Server
	addr   string
	client *http.Client
	slots  chan struct{}
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc

	received, delivered, retried, dropped, gaveUp atomic.Int64
	failedAttempts                                atomic.Int64
	inFlight, maxInFlight                         atomic.Int64
	mu                                            sync.Mutex
	delays                                        []time.Duration // receipt → delivered
}

// Eventarc delivery limits.
const (
	eventarcParallel = 32
	eventarcMaxAge   = 30 * time.Minute
	eventarcBackoff  = time.Second
	eventarcMaxWait  = 20 * time.Second
)

// StartEventarc serves on a free loopback port.
func StartEventarc() (*Eventarc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Eventarc{
		ctl: relay.New(nil), addr: ln.Addr().String(),
		client: &http.Client{Timeout: 90 * time.Second},
		slots:  make(chan struct{}, eventarcParallel),
		ctx:    ctx, cancel: cancel,
	}
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// Addr is the host:port of the control API and of deliveries.
func (e *Eventarc) Addr() string { return e.addr }

// URL is this relay's base URL.
func (e *Eventarc) URL() string { return "http://" + e.addr }

func (e *Eventarc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/functions/projects/") || r.Method != http.MethodPost {
		e.ctl.ServeHTTP(w, r) // control API: register, unregister, health
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	project, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/functions/projects/"), "/")
	hdr := r.Header.Clone()
	for _, k := range []string{"Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"} {
		hdr.Del(k)
	}
	e.received.Add(1)
	e.wg.Add(1)
	go e.deliver(project, r.URL.RequestURI(), hdr, body, time.Now())
	w.WriteHeader(http.StatusNoContent)
}

// deliver posts one event until it is accepted (2xx), refused (4xx other
// than 408/429: a bad event, retrying cannot help) or too old.
func (e *Eventarc) deliver(project, uri string, hdr http.Header, body []byte, got time.Time) {
	defer e.wg.Done()
	wait := eventarcBackoff
	for attempt := 1; ; attempt++ {
		status := e.attempt(project, uri, hdr, body)
		switch {
		case status/100 == 2:
			e.delivered.Add(1)
			if attempt > 1 {
				e.retried.Add(1)
			}
			e.mu.Lock()
			e.delays = append(e.delays, time.Since(got))
			e.mu.Unlock()
			return
		case status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			e.dropped.Add(1)
			return
		}
		e.failedAttempts.Add(1)
		if time.Since(got) > eventarcMaxAge {
			e.gaveUp.Add(1)
			return
		}
		if sleepCtx(e.ctx, wait) != nil {
			e.gaveUp.Add(1)
			return
		}
		wait = min(wait*2, eventarcMaxWait)
	}
}

// attempt posts once; 0 means the target could not be reached.
func (e *Eventarc) attempt(project, uri string, hdr http.Header, body []byte) int {
	select {
	case e.slots <- struct{}{}:
	case <-e.ctx.Done():
		return 0
	}
	defer func() { <-e.slots }()
	n := e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	for {
		m := e.maxInFlight.Load()
		if n <= m || e.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	target, ok := e.ctl.Target(project)
	if !ok {
		return 0 // the server has not registered (yet): retry
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, target+uri, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header = hdr.Clone()
	resp, err := e.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Pending is the number of events not yet delivered, refused or given up.
func (e *Eventarc) Pending() int64 {
	return e.received.Load() - e.delivered.Load() - e.dropped.Load() - e.gaveUp.Load()
}

// Close stops retrying and serving.
func (e *Eventarc) Close() {
	e.cancel()
	_ = e.srv.Close()
	e.wg.Wait()
}

// EventarcStats is what the relay did.
type EventarcStats struct {
	Received, Delivered, Retried, Dropped, GaveUp, FailedAttempts int64
	MaxInFlight                                                   int64
	P50, P99, Max                                                 time.Duration
}

// Stats summarizes the deliveries.
func (e *Eventarc) Stats() EventarcStats {
	s := EventarcStats{
		Received: e.received.Load(), Delivered: e.delivered.Load(), Retried: e.retried.Load(),
		Dropped: e.dropped.Load(), GaveUp: e.gaveUp.Load(), FailedAttempts: e.failedAttempts.Load(),
		MaxInFlight: e.maxInFlight.Load(),
	}
	e.mu.Lock()
	l := slices.Clone(e.delays)
	e.mu.Unlock()
	if len(l) > 0 {
		slices.Sort(l)
		s.P50, s.P99, s.Max = pct(l, 50), pct(l, 99), l[len(l)-1]
	}
	return s
}
