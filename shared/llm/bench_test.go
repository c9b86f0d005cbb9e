package llm_test

// Benchmarks of the streaming path provider → Run → uistream.Writer.
//
//	go test ./shared/llm -run '^$' -bench Stream -benchtime 200x
//
// Replay feeds the SDK the fake's recorded response bytes through an
// in-memory transport, so the figures are our client side only (SDK SSE
// decoding, provider, loop, writer). Loopback talks to the fake over TCP and
// reports the time to the first streamed text frame.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/llm/uistream"
)

const benchTokens = 500

func benchTurn() llmfake.Turn {
	text := make([]string, benchTokens)
	for i := range text {
		text[i] = "token "
	}
	return llmfake.Turn{Text: text}
}

// replayTransport answers every request with the same recorded response.
type replayTransport struct {
	header http.Header
	body   []byte
}

func (rt *replayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, Header: rt.header.Clone(), Body: io.NopCloser(bytes.NewReader(rt.body)),
		Request: req, ContentLength: -1, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

// record captures the fake's streamed response for one request.
type recordTransport struct {
	resp *http.Response
	body []byte
}

func (rt *recordTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rt.body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	rt.resp = res
	res.Body = io.NopCloser(bytes.NewReader(rt.body))
	return res, nil
}

func BenchmarkStreamReplay(b *testing.B) {
	for _, name := range bothProviders {
		b.Run(name, func(b *testing.B) {
			fake := startFake(b)
			fake.Enqueue(benchTurn())
			rec := &recordTransport{}
			cfg := config(fake, name)
			cfg.HTTPClient = &http.Client{Transport: rec}
			p, _ := llm.New(cfg)
			if _, err := llm.Run(context.Background(), llm.RunConfig{Provider: p, Messages: []llm.Message{llm.UserText("hi")}}); err != nil {
				b.Fatal(err)
			}
			cfg.HTTPClient = &http.Client{Transport: &replayTransport{header: rec.resp.Header, body: rec.body}}
			p, _ = llm.New(cfg)
			msgs := []llm.Message{llm.UserText("hi")}

			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for b.Loop() {
				w := uistream.New(io.Discard)
				res, err := llm.Run(context.Background(), llm.RunConfig{Provider: p, Messages: msgs, Stream: w})
				if err != nil || len(res.Text) != benchTokens*len("token ") {
					b.Fatalf("err %v, text %d bytes", err, len(res.Text))
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			tokens := float64(b.N * benchTokens)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/tokens, "ns/token")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/tokens, "allocs/token")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/tokens, "B/token")
		})
	}
}

// firstFrame notes when the first text-delta frame is written.
type firstFrame struct {
	start time.Time
	ttfb  atomic.Int64
}

func (f *firstFrame) Write(p []byte) (int, error) {
	if f.ttfb.Load() == 0 && bytes.Contains(p, []byte(`"text-delta"`)) {
		f.ttfb.Store(int64(time.Since(f.start)))
	}
	return len(p), nil
}

func BenchmarkStreamLoopback(b *testing.B) {
	for _, name := range bothProviders {
		b.Run(name, func(b *testing.B) {
			fake := startFake(b)
			p := provider(b, fake, name)
			var ttfb time.Duration
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				fake.Reset()
				fake.Enqueue(benchTurn())
				ff := &firstFrame{start: time.Now()}
				b.StartTimer()
				if _, err := llm.Run(context.Background(), llm.RunConfig{Provider: p, Messages: []llm.Message{llm.UserText("hi")}, Stream: uistream.New(ff)}); err != nil {
					b.Fatal(err)
				}
				ttfb += time.Duration(ff.ttfb.Load())
			}
			b.ReportMetric(float64(ttfb.Microseconds())/float64(b.N), "µs-first-text")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchTokens), "ns/token")
		})
	}
}

// The writer alone: one text-delta frame.
func BenchmarkWriterTextDelta(b *testing.B) {
	w := uistream.New(io.Discard)
	delta := strings.Repeat("x", 8)
	b.ReportAllocs()
	for b.Loop() {
		w.TextDelta("txt-0", delta)
	}
}
