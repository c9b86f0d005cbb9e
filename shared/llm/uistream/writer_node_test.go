package uistream

// Golden tests against the real AI SDK (tools/ai-uistream.mjs): the same
// chunks written by our Writer and by the SDK's createUIMessageStream +
// createUIMessageStreamResponse must give the same bytes and headers.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/owlette/server/shared/llm/internal/aisdktest"
)

// tricky strings: JSON.stringify and Go's encoder disagree on all of these.
var tricky = []string{
	"plain",
	"<b>&amp;</b> </script>",
	"line\u2028sep\u2029para",
	"quote \" backslash \\ slash /",
	"\x00\x01\x1f\x7f control",
	"\b\f\n\r\t",
	"héllo 🦉 ünïcödé 中文",
	"",
}

// tricky JSON values for input/output fields: key order, duplicate keys,
// number forms, escapes.
var trickyJSON = []string{
	`{"process_name":"TouchDesigner.exe","timeout_seconds":30}`,
	`{"b":1,"a":2,"10":3,"2":4,"-1":5,"01":6}`,
	`{"a":1,"a":2}`,
	`[1.0,1e21,1e-7,0.000001,-0,123456789012345678901,1.5e300,5e-324]`,
	`{"s":"\u003cscript\u003e\u2028\/","u":"\ud83e\udd89","lone":"\ud800"}`,
	`{"nested":{"deep":[{"x":null,"y":true,"z":false}],"empty":{},"arr":[]}}`,
	`"just a string"`,
	`42`,
	`null`,
}

// chunk is a UI message chunk with its keys in order (a Go map would be
// marshalled sorted, and the SDK stringifies objects in insertion order).
type chunk []any

func (c chunk) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i := 0; i+1 < len(c); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(c[i])
		v, err := json.Marshal(c[i+1])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// writeAll writes the same frames with our Writer and returns the bytes and
// the SDK chunks describing them.
func sampleFrames(t *testing.T, w *Writer) []chunk {
	t.Helper()
	var chunks []chunk
	add := func(err error, c chunk) {
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c)
	}
	add(w.Start("msg-1"), chunk{"type", "start", "messageId", "msg-1"})
	add(w.StartStep(), chunk{"type", "start-step"})
	for i, s := range tricky {
		id := "t" + string(rune('a'+i))
		add(w.TextStart(id), chunk{"type", "text-start", "id", id})
		add(w.TextDelta(id, s), chunk{"type", "text-delta", "id", id, "delta", s})
		add(w.TextEnd(id), chunk{"type", "text-end", "id", id})
	}
	for i, js := range trickyJSON {
		id := "call_" + string(rune('a'+i))
		name := "run_tool_" + string(rune('a'+i))
		add(w.ToolInputStart(id, name), chunk{"type", "tool-input-start", "toolCallId", id, "toolName", name})
		add(w.ToolInputDelta(id, js[:len(js)/2]), chunk{"type", "tool-input-delta", "toolCallId", id, "inputTextDelta", js[:len(js)/2]})
		add(w.ToolInputAvailable(id, name, json.RawMessage(js)), chunk{"type", "tool-input-available", "toolCallId", id, "toolName", name, "input", json.RawMessage(js)})
		add(w.ToolOutputAvailable(id, json.RawMessage(js)), chunk{"type", "tool-output-available", "toolCallId", id, "output", json.RawMessage(js)})
	}
	add(w.ToolOutputAvailable("call_nil", nil), chunk{"type", "tool-output-available", "toolCallId", "call_nil", "output", nil})
	add(w.ToolOutputError("call_err", "Command failed: <exit 1>\n", false), chunk{"type", "tool-output-error", "toolCallId", "call_err", "errorText", "Command failed: <exit 1>\n"})
	add(w.ToolOutputError("call_dyn", "unknown", true), chunk{"type", "tool-output-error", "toolCallId", "call_dyn", "errorText", "unknown", "dynamic", true})
	add(w.ToolInputError("call_bad", "read_file", `{"path":`, false, "Invalid input"),
		chunk{"type", "tool-input-error", "toolCallId", "call_bad", "toolName", "read_file", "input", `{"path":`, "errorText", "Invalid input"})
	add(w.ToolInputError("call_unknown", "no_such_tool", `{"b":1,"1":2}`, true, "Model tried to call unavailable tool 'no_such_tool'."),
		chunk{"type", "tool-input-error", "toolCallId", "call_unknown", "toolName", "no_such_tool", "input", json.RawMessage(`{"b":1,"1":2}`), "dynamic", true, "errorText", "Model tried to call unavailable tool 'no_such_tool'."})
	add(w.FinishStep(), chunk{"type", "finish-step"})
	add(w.Error("rate limited <429> \u2028"), chunk{"type", "error", "errorText", "rate limited <429> \u2028"})
	add(w.Finish("tool-calls"), chunk{"type", "finish", "finishReason", "tool-calls"})
	return chunks
}

func TestWriterMatchesSDKBytes(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewResponse(rec)
	chunks := sampleFrames(t, w)
	if err := w.Done(); err != nil {
		t.Fatal(err)
	}
	res := aisdktest.Responses(t,
		map[string]any{"op": "ui-stream", "chunks": chunks, "messageId": "unused"},
		map[string]any{"op": "ui-stream", "chunks": []chunk{{"type", "start", "messageId", "m"}, {"type", "finish"}}},
	)
	sdk := res[0]
	if got := rec.Body.String(); got != sdk.Body {
		t.Errorf("bytes differ from the SDK's:\n%s", aisdktest.FrameDiff(got, sdk.Body))
	}
	if len(sdk.Headers) != len(Headers) {
		t.Errorf("SDK headers %v, ours %v", sdk.Headers, Headers)
	}
	for name, want := range sdk.Headers {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("header %s = %q, SDK sends %q", name, got, want)
		}
	}
	if rec.Code != http.StatusOK || sdk.Status != http.StatusOK {
		t.Errorf("status ours %d, SDK %d", rec.Code, sdk.Status)
	}

	// finish without a reason omits the field, like the SDK.
	var b bytes.Buffer
	w2 := New(&b)
	w2.Start("m")
	w2.Finish("")
	w2.Done()
	if b.String() != res[1].Body {
		t.Errorf("finish without reason:\n%s", aisdktest.FrameDiff(b.String(), res[1].Body))
	}
}

// The SDK's own parser accepts every frame we write (its chunk schema is
// strict: an unknown or misspelt field fails).
func TestSDKParsesWriterOutput(t *testing.T) {
	var b bytes.Buffer
	w := New(&b)
	w.Start("msg-1")
	w.StartStep()
	w.TextStart("t1")
	w.TextDelta("t1", "Checking ")
	w.TextDelta("t1", "<the> \u2028 machine")
	w.TextEnd("t1")
	w.ToolInputStart("call_1", "get_process_list")
	w.ToolInputDelta("call_1", `{"b":1,`)
	w.ToolInputDelta("call_1", `"10":2}`)
	w.ToolInputAvailable("call_1", "get_process_list", json.RawMessage(`{"b":1,"10":2}`))
	w.ToolOutputAvailable("call_1", json.RawMessage(`{"processes":[{"name":"TouchDesigner.exe","cpu":12.5}]}`))
	w.ToolInputStart("call_2", "read_file")
	w.ToolInputAvailable("call_2", "read_file", json.RawMessage(`{"path":"C:\\x"}`))
	w.ToolOutputError("call_2", "Access denied", false)
	w.FinishStep()
	w.Finish("stop")
	w.Done()
	got := aisdktest.Reads(t, map[string]any{"op": "read", "body": b.String(), "headers": map[string]string{"content-type": "text/event-stream"}})[0]
	if len(got.Errors) > 0 {
		t.Fatalf("the SDK reported errors: %v", got.Errors)
	}
	want := `{"id":"msg-1","role":"assistant","parts":[{"type":"step-start"},{"type":"text","text":"Checking <the> ` + "\u2028" + ` machine","state":"done"},{"type":"tool-get_process_list","toolCallId":"call_1","state":"output-available","input":{"10":2,"b":1},"output":{"processes":[{"name":"TouchDesigner.exe","cpu":12.5}]}},{"type":"tool-read_file","toolCallId":"call_2","state":"output-error","input":{"path":"C:\\x"},"errorText":"Access denied"}]}`
	aisdktest.JSONEqual(t, got.Message, want)
}

func TestDataStreamLines(t *testing.T) {
	rec := httptest.NewRecorder()
	d := NewDataStreamResponse(rec)
	d.Text("Hello ")
	d.Text("")
	d.Text("\"wörld\" <\u2028>\n")
	d.Finish()
	d.Error("cortex response timed out")
	want := "0:\"Hello \"\n0:\"\\\"wörld\\\" <\u2028>\\n\"\nd:{\"finishReason\":\"stop\"}\n3:\"cortex response timed out\"\n"
	if rec.Body.String() != want {
		t.Errorf("got %q\nwant %q", rec.Body.String(), want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if v := rec.Header().Get("X-Vercel-AI-Data-Stream"); v != "v1" {
		t.Errorf("X-Vercel-AI-Data-Stream %q", v)
	}
	if !rec.Flushed {
		t.Error("lines were not flushed")
	}
}

// flushCounter counts writes and flushes, to check one flush per frame.
type flushCounter struct {
	bytes.Buffer
	writes, flushes int
}

func (f *flushCounter) Write(p []byte) (int, error) { f.writes++; return f.Buffer.Write(p) }
func (f *flushCounter) Flush()                      { f.flushes++ }

func TestWriterFlushesEachFrame(t *testing.T) {
	var fc flushCounter
	w := New(&fc)
	w.Start("")
	w.StartStep()
	w.TextStart("a")
	w.TextDelta("a", "x")
	w.Done()
	if fc.writes != 5 || fc.flushes != 5 {
		t.Errorf("writes %d flushes %d, want 5 and 5", fc.writes, fc.flushes)
	}
	if !strings.HasPrefix(fc.String(), "data: {\"type\":\"start\"}\n\n") {
		t.Errorf("start without messageId: %q", fc.String())
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, http.ErrHandlerTimeout
}

func TestWriterErrorSticks(t *testing.T) {
	fw := &failWriter{}
	w := New(fw)
	if err := w.StartStep(); err == nil {
		t.Fatal("want the write error")
	}
	if err := w.TextDelta("a", "b"); err == nil || fw.n != 1 {
		t.Fatalf("second write: err %v, writes %d; want the first error and no new write", err, fw.n)
	}
}
