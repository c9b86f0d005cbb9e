package llm_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/llm/uistream"
)

// signalWriter reports when a frame containing marker was written.
type signalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	seen   chan struct{}
	once   sync.Once
}

func (s *signalWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if strings.Contains(string(p), s.marker) {
		s.once.Do(func() { close(s.seen) })
	}
	return len(p), nil
}

func (s *signalWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Cancelling mid-stream (the browser went away) ends Run promptly, closes
// the upstream request and writes nothing more.
func TestRunCancelMidStream(t *testing.T) {
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(llmfake.Turn{Text: []string{"Hello", " there"}, Hold: true})
			sw := &signalWriter{marker: `"delta":" there"`, seen: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := llm.Run(ctx, llm.RunConfig{
					Provider: provider(t, fake, name),
					Messages: []llm.Message{llm.UserText("hi")},
					Stream:   uistream.New(sw),
				})
				done <- err
			}()
			select {
			case <-sw.seen:
			case <-time.After(5 * time.Second):
				t.Fatalf("no text arrived: %s", sw.String())
			}
			before := sw.String()
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run returned %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			if after := sw.String(); after != before {
				t.Errorf("wrote after cancel: %q", strings.TrimPrefix(after, before))
			}
			deadline := time.Now().Add(5 * time.Second)
			for fake.Canceled() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if fake.Canceled() != 1 {
				t.Errorf("the fake saw %d cancelled streams, want the upstream request closed", fake.Canceled())
			}
		})
	}
}

// Cancelling while a tool runs ends Run without waiting for the tool.
func TestRunCancelDuringTool(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(llmfake.Turn{ToolCalls: []llmfake.ToolCall{{Name: "get_system_info"}}})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	done := make(chan error, 1)
	go func() {
		_, err := llm.Run(ctx, llm.RunConfig{
			Provider: provider(t, fake, llm.Anthropic),
			Messages: []llm.Message{llm.UserText("hi")},
			Tools:    testTools,
			Execute: func(context.Context, llm.ToolCall) (any, error) {
				close(started)
				<-release // a tool that ignores ctx
				return "late", nil
			},
		})
		done <- err
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run waited for a tool after cancel")
	}
}
