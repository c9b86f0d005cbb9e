package sim

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/testenv"
)

// TestFleetScale runs a fleet of agents against one in-process server and
// the emulators, with time compressed, and reports pairing, refresh and
// heartbeat figures per fleet size. By default it is a small smoke run
// (10 agents) that must see no failure; AGENTSIM_SCALE=50,100,200,500
// turns it into the ramp measurement (AGENTSIM_STEP per size, default 20s;
// AGENTSIM_SPEED compresses the agent's cadence, default 10; AGENTSIM_TOKEN_SPEED
// the token lifetime, default 120: a refresh every 27.5 s per agent).
//
//	make test PKGS=./scripts/agentsim/sim TESTFLAGS='-run TestFleetScale -v' AGENTSIM_SCALE=50,100,200,500
func TestFleetScale(t *testing.T) {
	sizes, step, speed, tokenSpeed := []int{10}, 4*time.Second, 10.0, 1200.0
	ramp := os.Getenv("AGENTSIM_SCALE") != ""
	if ramp {
		sizes = nil
		for _, f := range strings.Split(os.Getenv("AGENTSIM_SCALE"), ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				t.Fatalf("AGENTSIM_SCALE: bad size %q", f)
			}
			sizes = append(sizes, n)
		}
		step, speed, tokenSpeed = 20*time.Second, 10, 120
		if d, err := time.ParseDuration(os.Getenv("AGENTSIM_STEP")); err == nil {
			step = d
		}
		if v, err := strconv.ParseFloat(os.Getenv("AGENTSIM_SPEED"), 64); err == nil && v > 0 {
			speed = v
		}
		if v, err := strconv.ParseFloat(os.Getenv("AGENTSIM_TOKEN_SPEED"), 64); err == nil && v > 0 {
			tokenSpeed = v
		}
	}
	s := newStack(t)
	ctx, cancel := context.WithCancel(bg())
	defer cancel()
	client := NewStats()
	var failures, heartbeats, refreshes atomic.Int64
	var failMu sync.Mutex
	var firstFailures []string
	base := s.config("", speed)
	base.TokenScale = tokenSpeed
	base.Stats = client
	base.HTTP = NewHTTPClient(256)
	base.OnEvent = func(e Event) {
		switch e.Kind {
		case EventHeartbeat:
			heartbeats.Add(1)
		case EventRefreshed:
			refreshes.Add(1)
		case EventHeartbeatFailed, EventRefreshFailed, EventCredsWiped:
			failures.Add(1)
			failMu.Lock()
			if len(firstFailures) < 5 {
				firstFailures = append(firstFailures, fmt.Sprintf("%s %s: %v", e.Machine, e.Kind, e.Err))
			}
			failMu.Unlock()
		}
	}
	c := s.Member.Cookie()
	fleet := &Fleet{Base: base, Pair: CookiePairing(c.Name+"="+c.Value, s.Site), PairConcurrency: 16, DistinctIPs: true}
	defer fleet.Stop()
	prefix := testenv.UniqueID("L") + "-"
	hb := base.scaled(30 * time.Second)
	report := &strings.Builder{}
	fmt.Fprintf(report, "agent cadence ×%g (heartbeat every %s, command poll %s→%s, config poll %s→%s), token lifetime ×%g (refresh every %s)\n",
		speed, hb, base.scaled(2*time.Second), base.scaled(5*time.Second), base.scaled(2*time.Second), base.scaled(10*time.Second),
		tokenSpeed, time.Duration(float64(3300*time.Second)/tokenSpeed))

	for _, n := range sizes {
		have := fleet.Len()
		names := make([]string, 0, n-have)
		for i := have; i < n; i++ {
			names = append(names, prefix+strconv.Itoa(i+1))
		}
		s.Server.Reset()
		client.Reset()
		t0 := time.Now()
		if err := fleet.Add(ctx, names); err != nil {
			t.Fatalf("pairing at %d agents: %v", n, err)
		}
		fmt.Fprintf(report, "\n### %d agents: paired %d in %s (16 at a time)\nserver side:\n", n, len(names), time.Since(t0).Round(time.Millisecond))
		s.Server.Fprint(report)

		s.Server.Reset()
		client.Reset()
		heartbeats.Store(0)
		refreshes.Store(0)
		f0 := failures.Load()
		cpu0 := cpuTime()
		t1 := time.Now()
		time.Sleep(step)
		elapsed := time.Since(t1)
		cpu := cpuTime() - cpu0
		expected := float64(n) * elapsed.Seconds() / hb.Seconds()
		var reqs int
		for _, m := range client.Summaries() {
			reqs += m.OK + m.Errors
		}
		fmt.Fprintf(report, "steady %s: heartbeats %d of ~%.0f expected (%.0f%%), refreshes %d, failures %d; "+
			"%.0f client req/s (≈ %.0f real-time agents at 0.33 req/s each); this process used %.0f%% of one core\n",
			elapsed.Round(time.Millisecond), heartbeats.Load(), expected, 100*float64(heartbeats.Load())/expected, refreshes.Load(),
			failures.Load()-f0, float64(reqs)/elapsed.Seconds(), float64(reqs)/elapsed.Seconds()/0.333, 100*cpu.Seconds()/elapsed.Seconds())
		fmt.Fprintf(report, "client side (agent → server / Firestore emulator):\n")
		client.Fprint(report)
		fmt.Fprintf(report, "server side:\n")
		s.Server.Fprint(report)
		if !ramp {
			if failures.Load() != 0 {
				t.Errorf("%d failures: %v", failures.Load(), firstFailures)
			}
			if float64(heartbeats.Load()) < expected/2 {
				t.Errorf("heartbeats %d, expected ~%.0f", heartbeats.Load(), expected)
			}
			if refreshes.Load() == 0 {
				t.Error("no refresh happened")
			}
		}
	}
	errs := fleet.Stop()
	if len(errs) != 0 {
		t.Errorf("agents stopped with errors: %v", errs[:min(5, len(errs))])
	}
	if len(firstFailures) > 0 {
		fmt.Fprintf(report, "\nfirst failures: %s\n", strings.Join(firstFailures, "; "))
	}
	t.Log("\n" + report.String())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchTokens stores n refresh tokens for machines of the stack's site
// (as a pairing would) and returns them.
func benchTokens(b *testing.B, s *stack, n int) []string {
	b.Helper()
	var toks []string
	batch := s.FS.BulkWriter(bg())
	for i := range n {
		tok, ref, err := agenttoken.NewRefreshToken(s.FS)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := batch.Set(ref, agenttoken.RefreshData(agenttoken.NewIdentity(s.Site, fmt.Sprintf("BENCH-%d", i), "2.6.0"), s.Member.UID)); err != nil {
			b.Fatal(err)
		}
		toks = append(toks, tok)
	}
	batch.End()
	return toks
}

// reportLatency adds p50/p99 (ms) of the server-side figures of op.
func reportLatency(b *testing.B, s *stack, op string) {
	m := s.Server.Get(op)
	b.ReportMetric(float64(m.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(m.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(m.ErrorRate()*100, "err-%")
}

// concurrently calls f(i) for i in [0, b.N) from conc goroutines, as
// sub-benchmarks conc=1 (latency) and conc=16 (throughput under load).
func concurrently(b *testing.B, setup func(b *testing.B) (*stack, func(i int) error, string)) {
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			s, f, op := setup(b)
			var next atomic.Int64
			var wg sync.WaitGroup
			s.Server.Reset()
			b.ResetTimer()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						if err := f(i); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			reportLatency(b, s, op)
		})
	}
}

// clientAPI is an agent's API client from its own address (distinct
// X-Forwarded-For: real agents do not share a rate-limit bucket).
func clientAPI(s *stack, group, i int) *API {
	return &API{Base: s.API, HTTP: benchHTTP, ClientIP: fmt.Sprintf("10.%d.%d.%d", group, (i>>8)&255, i&255)}
}

var benchHTTP = NewHTTPClient(64)

// BenchmarkRefresh is E15 as agents call it (their headers, each call
// from its own client IP) over 64 stored tokens. Server-side latency.
func BenchmarkRefresh(b *testing.B) {
	concurrently(b, func(b *testing.B) (*stack, func(int) error, string) {
		s := newStack(b)
		toks := benchTokens(b, s, 64)
		return s, func(i int) error {
			k := i % len(toks)
			_, err := clientAPI(s, 1, i).Refresh(bg(), toks[k], fmt.Sprintf("BENCH-%d", k), "2.6.0")
			return err
		}, "agent/auth/refresh"
	})
}

// BenchmarkExchange is E14 with a fresh registration code per call.
func BenchmarkExchange(b *testing.B) {
	concurrently(b, func(b *testing.B) (*stack, func(int) error, string) {
		s := newStack(b)
		codes := make([]string, b.N)
		bw := s.FS.BulkWriter(bg())
		for i := range codes {
			code, _ := agenttoken.NewRegistrationCode()
			codes[i] = code
			if _, err := bw.Set(s.FS.Collection(agenttoken.RegistrationCodes).Doc(code), map[string]any{
				"siteId": s.Site, "createdBy": s.Member.UID, "createdAt": firestore.ServerTimestamp,
				"expiresAt": time.Now().Add(24 * time.Hour), "used": false,
			}); err != nil {
				b.Fatal(err)
			}
		}
		bw.End()
		prefix := testenv.UniqueID("X")
		return s, func(i int) error {
			_, err := clientAPI(s, 2, i).Exchange(bg(), codes[i], fmt.Sprintf("%s-%d", prefix, i), "2.6.0")
			return err
		}, "agent/auth/exchange"
	})
}

// BenchmarkDeviceCodePairing is the whole interactive pairing: X01, X02 by
// a member's session, X03 (first poll right after the approval). The
// reported latency is X02's (it mints the tokens).
func BenchmarkDeviceCodePairing(b *testing.B) {
	concurrently(b, func(b *testing.B) (*stack, func(int) error, string) {
		s := newStack(b)
		c := s.Member.Cookie()
		cookie := c.Name + "=" + c.Value
		prefix := testenv.UniqueID("P")
		return s, func(i int) error {
			api := clientAPI(s, 3, i)
			dc, err := api.StartDeviceCode(bg(), fmt.Sprintf("%s-%d", prefix, i), "2.6.0")
			if err != nil {
				return err
			}
			if err := api.Authorize(bg(), cookie, dc.PairPhrase, s.Site); err != nil {
				return err
			}
			status, _, err := api.Poll(bg(), dc.DeviceCode)
			if err == nil && status != 200 {
				err = fmt.Errorf("poll status %d", status)
			}
			return err
		}, "agent/auth/device-code/authorize"
	})
}
