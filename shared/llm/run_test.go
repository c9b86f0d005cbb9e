package llm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlette/server/shared/llm"
	"github.com/owlette/server/shared/llm/llmfake"
	"github.com/owlette/server/shared/llm/uistream"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func fixedClock() func() time.Time {
	n := 0
	return func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
}

func roles(msgs []llm.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Role))
	}
	return out
}

// The autonomous path: no stream, several steps, tool calls recorded with
// params and time, the full history returned.
func TestRunMultiStepAutonomous(t *testing.T) {
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(
				llmfake.Turn{Text: []string{"Looking."}, ToolCalls: []llmfake.ToolCall{{ID: "c1", Name: "get_system_info", Args: []string{"{}"}}}, InputTokens: 100, OutputTokens: 10},
				llmfake.Turn{ToolCalls: []llmfake.ToolCall{{ID: "c2", Name: "restart_process", Args: []string{`{"process_name":`, `"TD.exe"}`}}}, InputTokens: 200, OutputTokens: 20},
				llmfake.Turn{Text: []string{"Restarted. ", "OUTCOME: TD.exe restarted."}, InputTokens: 300, OutputTokens: 30},
			)
			var executed []string
			res, err := llm.Run(context.Background(), llm.RunConfig{
				Provider: provider(t, fake, name),
				System:   "autonomous prompt",
				Messages: []llm.Message{llm.UserText("TD.exe crashed")},
				Tools:    testTools,
				MaxSteps: llm.AutonomousMaxSteps,
				Now:      fixedClock(),
				Execute: func(ctx context.Context, c llm.ToolCall) (any, error) {
					executed = append(executed, c.Name+" "+string(c.Input))
					if c.Name == "get_system_info" {
						return json.RawMessage(`{"hostname":"WS-01","cpu":97}`), nil
					}
					return map[string]any{"success": true}, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != "Restarted. OUTCOME: TD.exe restarted." || res.Steps != 3 || res.FinishReason != llm.FinishStop {
				t.Errorf("text %q steps %d reason %q", res.Text, res.Steps, res.FinishReason)
			}
			if !slices.Equal(executed, []string{"get_system_info {}", `restart_process {"process_name":"TD.exe"}`}) {
				t.Errorf("executed %q", executed)
			}
			if len(res.ToolCalls) != 2 || res.ToolCalls[0].Name != "get_system_info" || res.ToolCalls[1].Name != "restart_process" ||
				string(res.ToolCalls[1].Params) != `{"process_name":"TD.exe"}` || !res.ToolCalls[0].Time.Equal(t0.Add(time.Second)) ||
				!res.ToolCalls[1].Time.Equal(t0.Add(2*time.Second)) || string(res.ToolCalls[1].Output) != `{"success":true}` {
				t.Errorf("tool calls %+v", res.ToolCalls)
			}
			if got := roles(res.Messages); !slices.Equal(got, []string{"user", "assistant", "tool", "assistant", "tool", "assistant"}) {
				t.Errorf("history roles %v", got)
			}
			if res.Usage != (llm.Usage{InputTokens: 600, OutputTokens: 60}) {
				t.Errorf("usage %+v", res.Usage)
			}
			reqs := fake.Requests()
			if len(reqs) != 3 {
				t.Fatalf("%d requests", len(reqs))
			}
			// The second call carries the first tool's result.
			var found bool
			for _, m := range reqs[1].Messages {
				for _, r := range m.ToolResults {
					found = found || (r.ID == "c1" && r.Content == `{"hostname":"WS-01","cpu":97}`)
				}
			}
			if !found {
				t.Errorf("second request lacks the c1 result: %+v", reqs[1].Messages)
			}
			if reqs[2].System != "autonomous prompt" {
				t.Errorf("system prompt %q", reqs[2].System)
			}
		})
	}
}

// capture_screenshot's url reaches the model as an image (E52).
func TestRunScreenshotResultIsShownAsImage(t *testing.T) {
	const url = "https://storage.googleapis.com/bkt/screenshots/s1/m1/latest.jpg"
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			fake.Enqueue(
				llmfake.Turn{ToolCalls: []llmfake.ToolCall{{ID: "s1", Name: "capture_screenshot", Args: []string{`{"monitor":0}`}}}},
				llmfake.Turn{Text: []string{"I see a black screen."}},
			)
			res, err := llm.Run(context.Background(), llm.RunConfig{
				Provider: provider(t, fake, name),
				Messages: []llm.Message{llm.UserText("what is on screen?")},
				Tools:    testTools,
				Execute: func(ctx context.Context, c llm.ToolCall) (any, error) {
					return json.RawMessage(`{"success":true,"url":"` + url + `","size_kb":120}`), nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			var images []string
			for _, m := range fake.Requests()[1].Messages {
				images = append(images, m.Images...)
				for _, r := range m.ToolResults {
					images = append(images, r.Images...)
				}
			}
			if !slices.Equal(images, []string{url}) {
				t.Errorf("images sent to the model: %v", images)
			}
			tool := res.Messages[2]
			if tool.Role != llm.RoleTool || len(tool.Content[0].Images) != 1 || tool.Content[0].Images[0].MediaType != "image/jpeg" {
				t.Errorf("tool message %+v", tool)
			}
		})
	}
}

func TestScreenshotImages(t *testing.T) {
	call := llm.ToolCall{Name: "capture_screenshot"}
	cases := []struct {
		out  string
		want []llm.Image
	}{
		{`{"url":"https://h/a.png"}`, []llm.Image{{URL: "https://h/a.png", MediaType: "image/png"}}},
		{`"{\"url\":\"https://h/a.jpg?x=1\"}"`, []llm.Image{{URL: "https://h/a.jpg?x=1", MediaType: "image/jpeg"}}},
		{`{"machines":[{"machine":"m1","url":"https://h/1.jpg"},{"machine":"m2","error":"offline"}]}`, []llm.Image{{URL: "https://h/1.jpg", MediaType: "image/jpeg"}}},
		{`"Screenshot captured (120KB) — URL: https://h/s.webp"`, []llm.Image{{URL: "https://h/s.webp", MediaType: "image/webp"}}},
		{`{"url":"data:image/png;base64,AAAA"}`, []llm.Image{{URL: "data:image/png;base64,AAAA", MediaType: "image/png"}}},
		{`{"url":"javascript:alert(1)"}`, nil},
		{`{"error":"failed"}`, nil},
	}
	for _, tc := range cases {
		if got := llm.ScreenshotImages(call, json.RawMessage(tc.out)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.out, got, tc.want)
		}
	}
	if got := llm.ScreenshotImages(llm.ToolCall{Name: "read_file"}, json.RawMessage(`{"url":"https://h/a.png"}`)); got != nil {
		t.Errorf("other tools give no images, got %+v", got)
	}
}

// Unknown tools and unparsable input are answered with tool errors (as the
// SDK does), never executed, and the model gets the errors to recover.
func TestRunUnusableToolCalls(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(
		llmfake.Turn{ToolCalls: []llmfake.ToolCall{
			{ID: "u1", Name: "format_disk", Args: []string{`{"drive":"C"}`}},
			{ID: "b1", Name: "restart_process", Args: []string{`{"process_name":`}},
		}},
		llmfake.Turn{Text: []string{"Sorry."}},
	)
	var calls atomic.Int32
	var buf bytes.Buffer
	w := uistream.New(&buf)
	res, err := llm.Run(context.Background(), llm.RunConfig{
		Provider: provider(t, fake, llm.Anthropic),
		Messages: []llm.Message{llm.UserText("x")},
		Tools:    testTools,
		Stream:   w,
		Execute:  func(context.Context, llm.ToolCall) (any, error) { calls.Add(1); return "ran", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 0 {
		t.Errorf("the executor ran %d times", calls.Load())
	}
	out := buf.String()
	for _, want := range []string{
		`{"type":"tool-input-error","toolCallId":"u1","toolName":"format_disk","input":{"drive":"C"},"dynamic":true,"errorText":"Model tried to call unavailable tool 'format_disk'. Available tools: get_system_info, restart_process, capture_screenshot."}`,
		`{"type":"tool-output-error","toolCallId":"u1","errorText":"Model tried to call unavailable tool 'format_disk'. Available tools: get_system_info, restart_process, capture_screenshot.","dynamic":true}`,
		`{"type":"tool-input-error","toolCallId":"b1","toolName":"restart_process","input":"{\"process_name\":","errorText":"Invalid input for tool restart_process: JSON parsing failed: Text: {\"process_name\":.`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stream lacks %s\n%s", want, out)
		}
	}
	if res.Text != "Sorry." || res.Steps != 2 || len(res.ToolCalls) != 2 || res.ToolCalls[0].Error == "" {
		t.Errorf("result %+v", res)
	}
	var errs int
	for _, m := range fake.Requests()[1].Messages {
		for _, r := range m.ToolResults {
			if r.IsError {
				errs++
			}
		}
	}
	if errs != 2 {
		t.Errorf("the model got %d error results, want 2", errs)
	}
}

func TestRunStopsAtMaxSteps(t *testing.T) {
	fake := startFake(t)
	for i := 0; i < 5; i++ {
		fake.Enqueue(llmfake.Turn{ToolCalls: []llmfake.ToolCall{{Name: "get_system_info"}}})
	}
	var n atomic.Int32
	res, err := llm.Run(context.Background(), llm.RunConfig{
		Provider: provider(t, fake, llm.OpenAI),
		Messages: []llm.Message{llm.UserText("loop")},
		Tools:    testTools,
		MaxSteps: 3,
		Execute:  func(context.Context, llm.ToolCall) (any, error) { n.Add(1); return "ok", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 3 || len(fake.Requests()) != 3 || n.Load() != 3 || res.FinishReason != llm.FinishToolCalls {
		t.Errorf("steps %d requests %d executions %d reason %q", res.Steps, len(fake.Requests()), n.Load(), res.FinishReason)
	}
}

// A response cut off by max_tokens may hold a truncated call: nothing runs.
func TestRunDoesNotExecuteAfterLength(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(llmfake.Turn{ToolCalls: []llmfake.ToolCall{{Name: "get_system_info"}}, StopReason: "max_tokens"})
	var n atomic.Int32
	res, err := llm.Run(context.Background(), llm.RunConfig{
		Provider: provider(t, fake, llm.Anthropic),
		Messages: []llm.Message{llm.UserText("x")},
		Tools:    testTools,
		Execute:  func(context.Context, llm.ToolCall) (any, error) { n.Add(1); return "ok", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 0 || res.Steps != 1 || res.FinishReason != llm.FinishLength {
		t.Errorf("executions %d steps %d reason %q", n.Load(), res.Steps, res.FinishReason)
	}
}

func TestRunExecutorPanicBecomesToolError(t *testing.T) {
	fake := startFake(t)
	fake.Enqueue(llmfake.Turn{ToolCalls: []llmfake.ToolCall{{ID: "p1", Name: "get_system_info"}}}, llmfake.Turn{Text: []string{"ok"}})
	var buf bytes.Buffer
	res, err := llm.Run(context.Background(), llm.RunConfig{
		Provider: provider(t, fake, llm.Anthropic),
		Messages: []llm.Message{llm.UserText("x")},
		Tools:    testTools,
		Stream:   uistream.New(&buf),
		Execute:  func(context.Context, llm.ToolCall) (any, error) { panic("boom") },
	})
	if err != nil || res.Text != "ok" {
		t.Fatalf("res %+v err %v", res, err)
	}
	if !strings.Contains(buf.String(), `{"type":"tool-output-error","toolCallId":"p1","errorText":"tool get_system_info panicked: boom"}`) {
		t.Errorf("stream %s", buf.String())
	}
}

// The default reply of the fake (what `make dev` uses) drives a full
// tool round trip through Run.
func TestRunWithFakeDefaultBehaviour(t *testing.T) {
	for _, name := range bothProviders {
		t.Run(name, func(t *testing.T) {
			fake := startFake(t)
			res, err := llm.Run(context.Background(), llm.RunConfig{
				Provider: provider(t, fake, name),
				Messages: []llm.Message{llm.UserText("please run get_system_info")},
				Tools:    testTools,
				Execute: func(context.Context, llm.ToolCall) (any, error) {
					return json.RawMessage(`{"hostname":"WS-07"}`), nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Steps != 2 || len(res.ToolCalls) != 1 || res.ToolCalls[0].Name != "get_system_info" || !strings.Contains(res.Text, "WS-07") {
				t.Errorf("steps %d calls %+v text %q", res.Steps, res.ToolCalls, res.Text)
			}
		})
	}
}
