package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/owlette/server/shared/llm/uistream"
)

// Step limits of the two cortex paths (E52, E53).
const (
	ChatMaxSteps       = 10
	AutonomousMaxSteps = 15
)

// Executor runs one tool call. output is sent to the model and the browser:
// json.RawMessage is used as is (pass the agent's result JSON this way to
// keep its key order), a string is text, anything else is marshalled. A
// non-nil err is a failed call: the model and the browser get err.Error().
// Executors run concurrently when a step has several calls and must return
// when ctx is done.
type Executor func(ctx context.Context, call ToolCall) (output any, err error)

// RunConfig is one cortex run.
type RunConfig struct {
	Provider Provider
	System   string
	Messages []Message // the conversation so far; not modified
	Tools    []ToolDef
	Execute  Executor

	// MaxSteps bounds the model calls (ChatMaxSteps when 0).
	MaxSteps int

	// Stream receives the UI message stream; nil for the autonomous path.
	// Run writes everything from start to [DONE].
	Stream *uistream.Writer
	// MessageID goes in the start part; "" leaves it out (the SDK default
	// when the route passes no originalMessages).
	MessageID string
	// ErrorText is the errorText of an error part (DefaultErrorText when
	// nil: the SDK hides provider errors from the browser by default).
	ErrorText func(error) string

	// ToolImages picks the images in a tool's output that the model should
	// see (ScreenshotImages when nil).
	ToolImages func(call ToolCall, output json.RawMessage) []Image

	Now func() time.Time // time.Now when nil
}

// ToolCallRecord is one tool call the model made (E53 event actions).
type ToolCallRecord struct {
	ID     string
	Name   string
	Params json.RawMessage
	Time   time.Time
	Output json.RawMessage // nil when the call failed
	Error  string
}

// Result is what a run produced.
type Result struct {
	Text         string // the last step's text
	ToolCalls    []ToolCallRecord
	Messages     []Message // the input conversation followed by the new messages
	Steps        int
	FinishReason FinishReason
	Usage        Usage
}

// DefaultErrorText is the AI SDK's default error text.
func DefaultErrorText(error) string { return "An error occurred." }

// ProviderErrorText shows the provider's message (e.g. "invalid x-api-key")
// and the default text for anything else.
func ProviderErrorText(err error) string {
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return DefaultErrorText(err)
}

// Run calls the model, runs the tools it asks for and calls it again with
// the results, until it answers without tool calls or MaxSteps calls were
// made (the AI SDK's streamText with stopWhen stepCountIs(MaxSteps)). A
// provider error ends the run: the stream gets an error part and Run
// returns the error with what was produced so far. A cancelled ctx ends it
// without further writes.
func Run(ctx context.Context, cfg RunConfig) (*Result, error) {
	r := &runner{cfg: cfg, res: &Result{Messages: slices.Clone(cfg.Messages)}, w: cfg.Stream}
	if r.cfg.MaxSteps <= 0 {
		r.cfg.MaxSteps = ChatMaxSteps
	}
	if r.cfg.ErrorText == nil {
		r.cfg.ErrorText = DefaultErrorText
	}
	if r.cfg.ToolImages == nil {
		r.cfg.ToolImages = ScreenshotImages
	}
	if r.cfg.Now == nil {
		r.cfg.Now = time.Now
	}
	r.known = make(map[string]bool, len(cfg.Tools))
	for _, t := range cfg.Tools {
		r.known[t.Name] = true
		r.names = append(r.names, t.Name)
	}
	if r.w != nil {
		if err := r.w.Start(cfg.MessageID); err != nil {
			return r.res, err
		}
	}
	for step := 1; ; step++ {
		more, err := r.step(ctx)
		r.res.Steps = step
		if err != nil {
			return r.res, err
		}
		if !more || step >= r.cfg.MaxSteps {
			break
		}
	}
	if r.w != nil {
		r.w.Finish(string(r.res.FinishReason))
		if err := r.w.Done(); err != nil {
			return r.res, err
		}
	}
	return r.res, nil
}

type runner struct {
	cfg   RunConfig
	res   *Result
	w     *uistream.Writer
	known map[string]bool
	names []string
}

// call is a tool call of the current step and, once known, its result.
type call struct {
	ToolCall
	invalid string // why it cannot run; "" if it can
	dynamic bool   // unknown tool (the SDK marks those dynamic)
	done    bool
	output  json.RawMessage
	errText string
	images  []Image
	record  int // index in Result.ToolCalls
}

// step makes one model call and runs its tool calls. more reports whether
// another step should follow.
func (r *runner) step(ctx context.Context) (more bool, err error) {
	w := r.w
	started := false
	var (
		content  []Part
		calls    []*call
		textID   string
		text     strings.Builder // current text part
		stepText strings.Builder
		reason   = FinishOther
		usage    Usage
		provErr  error
	)
	closeText := func() {
		if textID == "" {
			return
		}
		if w != nil {
			w.TextEnd(textID)
		}
		content = append(content, Text(text.String()))
		textID = ""
		text.Reset()
	}
	req := Request{System: r.cfg.System, Messages: r.res.Messages, Tools: r.cfg.Tools}
	for ev := range r.cfg.Provider.Stream(ctx, req) {
		if ev.Type == EventError {
			provErr = ev.Err
			break
		}
		if !started {
			started = true
			if w != nil {
				w.StartStep()
			}
		}
		switch ev.Type {
		case EventTextDelta:
			if ev.Text == "" {
				continue
			}
			if textID == "" {
				textID = "text"
				if w != nil {
					textID = w.NewID()
					w.TextStart(textID)
				}
			}
			if w != nil {
				w.TextDelta(textID, ev.Text)
			}
			text.WriteString(ev.Text)
			stepText.WriteString(ev.Text)
		case EventToolCallStart:
			closeText()
			if w != nil {
				w.ToolInputStart(ev.ToolCall.ID, ev.ToolCall.Name)
			}
		case EventToolInputDelta:
			if w != nil {
				w.ToolInputDelta(ev.ToolCall.ID, ev.Text)
			}
		case EventToolCallEnd:
			closeText()
			c := r.checkCall(ev.ToolCall)
			calls = append(calls, c)
			content = append(content, Part{Type: PartToolCall, ToolCallID: c.ID, ToolName: c.Name, Input: c.Input})
			if c.invalid != "" {
				// The SDK answers an unusable call at once with a tool error.
				c.done, c.errText = true, c.invalid
				r.record(c)
				if w != nil {
					w.ToolInputError(c.ID, c.Name, string(c.Input), c.dynamic, c.invalid)
					w.ToolOutputError(c.ID, c.invalid, c.dynamic)
				}
			} else if w != nil {
				w.ToolInputAvailable(c.ID, c.Name, c.Input)
			}
		case EventFinish:
			reason, usage = ev.FinishReason, ev.Usage
		}
		if w != nil && w.Err() != nil {
			return false, w.Err() // the browser is gone
		}
	}
	if provErr != nil {
		// Keep what was said in the history; no text-end is written (the
		// SDK writes none either).
		if textID != "" && text.Len() > 0 {
			content = append(content, Text(text.String()))
		}
		if len(content) > 0 {
			r.res.Messages = append(r.res.Messages, Message{Role: RoleAssistant, Content: content})
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		r.res.FinishReason = FinishError
		if w != nil {
			// Before any output the SDK writes only the error; after output it
			// also closes the step and the message.
			w.Error(r.cfg.ErrorText(provErr))
			if started {
				w.FinishStep()
				w.Finish(string(FinishError))
			}
			w.Done()
		}
		return false, provErr
	}
	closeText()
	if len(content) > 0 {
		r.res.Messages = append(r.res.Messages, Message{Role: RoleAssistant, Content: content})
	}
	r.res.Text = stepText.String()
	r.res.FinishReason = reason
	r.res.Usage = r.res.Usage.Add(usage)

	// Tools run once the model has finished, and only when it stopped
	// normally (a cut-off response may hold a truncated call).
	if reason == FinishStop || reason == FinishToolCalls {
		if err := r.execute(ctx, calls); err != nil {
			return false, err
		}
	}
	var results []Part
	for _, c := range calls {
		if !c.done {
			continue
		}
		p := Part{Type: PartToolResult, ToolCallID: c.ID, ToolName: c.Name, Output: c.output, Images: c.images}
		if c.errText != "" {
			p.Output, _ = json.Marshal(c.errText)
			p.IsError = true
		}
		results = append(results, p)
	}
	if len(results) > 0 {
		r.res.Messages = append(r.res.Messages, Message{Role: RoleTool, Content: results})
	}
	if w != nil {
		if err := w.FinishStep(); err != nil {
			return false, err
		}
	}
	return len(calls) > 0 && len(results) == len(calls), nil
}

// checkCall validates a finished tool call the way the SDK's parseToolCall
// does, with the SDK's error messages.
func (r *runner) checkCall(tc ToolCall) *call {
	c := &call{ToolCall: tc}
	if len(c.Input) == 0 {
		c.Input = json.RawMessage("{}")
	}
	if !r.known[c.Name] {
		c.dynamic = true
		if len(r.names) == 0 {
			c.invalid = fmt.Sprintf("Model tried to call unavailable tool '%s'. No tools are available.", c.Name)
		} else {
			c.invalid = fmt.Sprintf("Model tried to call unavailable tool '%s'. Available tools: %s.", c.Name, strings.Join(r.names, ", "))
		}
		return c
	}
	var v any
	if err := json.Unmarshal(c.Input, &v); err != nil {
		c.invalid = fmt.Sprintf("Invalid input for tool %s: JSON parsing failed: Text: %s.\nError message: %v", c.Name, c.Input, err)
	}
	return c
}

func (r *runner) record(c *call) {
	c.record = len(r.res.ToolCalls)
	r.res.ToolCalls = append(r.res.ToolCalls, ToolCallRecord{
		ID: c.ID, Name: c.Name, Params: c.Input, Time: r.cfg.Now(), Output: c.output, Error: c.errText,
	})
}

type callResult struct {
	c      *call
	output json.RawMessage
	err    error
}

// execute runs the step's valid calls concurrently and streams each result
// as it arrives.
func (r *runner) execute(ctx context.Context, calls []*call) error {
	results := make(chan callResult, len(calls))
	pending := 0
	for _, c := range calls {
		if c.invalid != "" {
			continue
		}
		pending++
		r.record(c)
		go func() {
			out, err := r.runTool(ctx, c.ToolCall)
			results <- callResult{c: c, output: out, err: err} // buffered: never blocks
		}()
	}
	for ; pending > 0; pending-- {
		var cr callResult
		select {
		case cr = <-results:
		case <-ctx.Done():
			return ctx.Err()
		}
		c := cr.c
		c.done = true
		if cr.err != nil {
			c.errText = cr.err.Error()
		} else {
			c.output = cr.output
			c.images = r.cfg.ToolImages(c.ToolCall, c.output)
		}
		rec := &r.res.ToolCalls[c.record]
		rec.Output, rec.Error = c.output, c.errText
		if r.w != nil {
			if c.errText != "" {
				r.w.ToolOutputError(c.ID, c.errText, false)
			} else {
				r.w.ToolOutputAvailable(c.ID, c.output)
			}
			if err := r.w.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// runTool calls the executor, turning a panic into an error so one bad
// tool cannot take the server down.
func (r *runner) runTool(ctx context.Context, tc ToolCall) (out json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tool %s panicked: %v", tc.Name, p)
		}
	}()
	if r.cfg.Execute == nil {
		return nil, fmt.Errorf("no executor for tool %s", tc.Name)
	}
	v, err := r.cfg.Execute(ctx, tc)
	if err != nil {
		return nil, err
	}
	return toJSON(v)
}

// toJSON turns an executor's output into JSON.
func toJSON(v any) (json.RawMessage, error) {
	switch v := v.(type) {
	case nil:
		return json.RawMessage("null"), nil
	case json.RawMessage:
		if json.Valid(v) {
			return v, nil
		}
		return json.Marshal(string(v))
	case string:
		return json.Marshal(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("tool output: %w", err)
	}
	return b, nil
}
