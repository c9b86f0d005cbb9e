//go:build unix

package cortex_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/llm/llmfake"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkChatStream measures E52's server path end to end over HTTP: a
// session cookie, the site check, the machine read, the LLM configuration
// (one scrypt key derivation), a streamed answer of n text deltas from the
// loopback Anthropic fake through the official SDK, and the UI message
// stream back to the client. Reported: time to the first byte of the
// response (the start frame), time to the first text delta, and process
// CPU per streamed token (handler, fake provider and client together: all
// run in this process; the Firestore emulator does not).
func BenchmarkChatStream(b *testing.B) {
	for _, n := range []int{10, 500} {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) { benchChat(b, n) })
	}
}

func benchChat(b *testing.B, tokens int) {
	s := newBenchStack(b)
	s.Set(b, "sites/site-a/machines/M1", map[string]any{"online": true})
	cookie := s.Ten.Member.Cookie()
	deltas := make([]string, tokens)
	for i := range deltas {
		deltas[i] = "tok "
	}
	body, _ := json.Marshal(chatBody("M1", "Say many words."))
	client := &http.Client{}
	var ttfb, ttft, cpu time.Duration
	var frames int
	b.ResetTimer()
	for b.Loop() {
		s.Fake.Enqueue(llmfake.Turn{Text: deltas})
		c0, start := cpuTime(), time.Now()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/cortex", bytes.NewReader(body))
		apptest.WithCookie(cookie)(req)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%v %v", resp, err)
		}
		r := bufio.NewReader(resp.Body)
		if _, err := r.Peek(1); err != nil {
			b.Fatal(err)
		}
		ttfb += time.Since(start)
		first := true
		for {
			line, err := r.ReadString('\n')
			if first && strings.Contains(line, `"text-delta"`) {
				ttft += time.Since(start)
				first = false
			}
			if strings.HasPrefix(line, "data: ") {
				frames++
			}
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		cpu += cpuTime() - c0
	}
	n := float64(b.N)
	b.ReportMetric(float64(ttfb.Microseconds())/n/1000, "ttfb-ms")
	b.ReportMetric(float64(ttft.Microseconds())/n/1000, "first-token-ms")
	b.ReportMetric(float64(cpu.Nanoseconds())/n/float64(tokens)/1000, "cpu-µs/token")
	b.ReportMetric(float64(cpu.Microseconds())/n/1000, "cpu-ms/req")
	if frames/b.N < tokens {
		b.Fatalf("%d frames per request for %d tokens", frames/b.N, tokens)
	}
}
