package uistream

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// Headers are the response headers of the UI message stream, as the SDK's
// UI_MESSAGE_STREAM_HEADERS define them.
var Headers = [...][2]string{
	{"Content-Type", "text/event-stream"},
	{"Cache-Control", "no-cache"},
	{"Connection", "keep-alive"},
	{"X-Vercel-Ai-Ui-Message-Stream", "v1"},
	{"X-Accel-Buffering", "no"}, // nginx must not buffer the stream
}

// SetHeaders sets the UI message stream headers on h. Like the SDK it keeps
// a header the caller already set.
func SetHeaders(h http.Header) {
	for _, kv := range Headers {
		if h.Get(kv[0]) == "" {
			h.Set(kv[0], kv[1])
		}
	}
}

// Writer writes UI message stream frames. Every frame is flushed at once so
// the browser sees tokens as they arrive. The first write error sticks: later
// calls do nothing and return it, so a disconnected client costs nothing.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w     io.Writer
	flush func() error
	buf   []byte
	err   error

	// NewID returns ids for text parts (and anything else the stream needs
	// to name). The default draws 16 random alphanumerics like the SDK's
	// generateId; tests inject a counter.
	NewID func() string
}

// NewResponse sets the stream headers on w, sends the 200 status line and
// returns a Writer that flushes through w (via http.ResponseController, so
// wrapped ResponseWriters work).
func NewResponse(w http.ResponseWriter) *Writer {
	SetHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	return &Writer{w: w, flush: rc.Flush, NewID: RandomID}
}

// New returns a Writer on a plain io.Writer (no headers). If w has a Flush
// method (http.Flusher or Flush() error) it is called after each frame.
func New(w io.Writer) *Writer {
	sw := &Writer{w: w, NewID: RandomID}
	switch f := w.(type) {
	case interface{ Flush() error }:
		sw.flush = f.Flush
	case http.Flusher:
		sw.flush = func() error { f.Flush(); return nil }
	}
	return sw
}

// Err returns the first write error, if any.
func (w *Writer) Err() error { return w.err }

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// RandomID returns 16 random alphanumerics, the shape of the SDK's default
// generateId.
func RandomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b[:])
}

// begin starts a frame: `data: {"type":"<typ>"`.
func (w *Writer) begin(typ string) {
	w.buf = append(w.buf[:0], `data: {"type":"`...)
	w.buf = append(w.buf, typ...)
	w.buf = append(w.buf, '"')
}

// field appends `,"name":<JSON string>`.
func (w *Writer) field(name, value string) {
	w.buf = append(w.buf, ',', '"')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '"', ':')
	w.buf = AppendString(w.buf, value)
}

// jsonField appends `,"name":<value>` with value re-serialised the
// JavaScript way; nil is null.
func (w *Writer) jsonField(name string, value json.RawMessage) error {
	w.buf = append(w.buf, ',', '"')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '"', ':')
	var err error
	w.buf, err = AppendJSON(w.buf, value)
	return err
}

// end closes the frame, writes and flushes it.
func (w *Writer) end() error {
	w.buf = append(w.buf, "}\n\n"...)
	return w.write(w.buf)
}

func (w *Writer) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	if _, err := w.w.Write(b); err != nil {
		w.err = err
		return err
	}
	if w.flush != nil {
		if err := w.flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			w.err = err
			return err
		}
	}
	return nil
}

func (w *Writer) simple(typ string) error {
	if w.err != nil {
		return w.err
	}
	w.begin(typ)
	return w.end()
}

// Start writes the message start part; messageID "" leaves it out, as the
// SDK does unless it was given originalMessages and generateMessageId.
func (w *Writer) Start(messageID string) error {
	if w.err != nil {
		return w.err
	}
	w.begin("start")
	if messageID != "" {
		w.field("messageId", messageID)
	}
	return w.end()
}

// StartStep writes {"type":"start-step"}: one LLM call begins.
func (w *Writer) StartStep() error { return w.simple("start-step") }

// FinishStep writes {"type":"finish-step"}.
func (w *Writer) FinishStep() error { return w.simple("finish-step") }

// TextStart opens text part id.
func (w *Writer) TextStart(id string) error {
	if w.err != nil {
		return w.err
	}
	w.begin("text-start")
	w.field("id", id)
	return w.end()
}

// TextDelta appends delta to text part id.
func (w *Writer) TextDelta(id, delta string) error {
	if w.err != nil {
		return w.err
	}
	w.begin("text-delta")
	w.field("id", id)
	w.field("delta", delta)
	return w.end()
}

// TextEnd closes text part id.
func (w *Writer) TextEnd(id string) error {
	if w.err != nil {
		return w.err
	}
	w.begin("text-end")
	w.field("id", id)
	return w.end()
}

// ToolInputStart announces a tool call whose input is about to stream.
func (w *Writer) ToolInputStart(toolCallID, toolName string) error {
	if w.err != nil {
		return w.err
	}
	w.begin("tool-input-start")
	w.field("toolCallId", toolCallID)
	w.field("toolName", toolName)
	return w.end()
}

// ToolInputDelta streams a piece of the tool call's input JSON text.
func (w *Writer) ToolInputDelta(toolCallID, delta string) error {
	if w.err != nil {
		return w.err
	}
	w.begin("tool-input-delta")
	w.field("toolCallId", toolCallID)
	w.field("inputTextDelta", delta)
	return w.end()
}

// ToolInputAvailable gives the complete, parsed input of a tool call. input
// must be valid JSON.
func (w *Writer) ToolInputAvailable(toolCallID, toolName string, input json.RawMessage) error {
	if w.err != nil {
		return w.err
	}
	w.begin("tool-input-available")
	w.field("toolCallId", toolCallID)
	w.field("toolName", toolName)
	if err := w.jsonField("input", input); err != nil {
		return err
	}
	return w.end()
}

// ToolInputError reports a tool call that cannot run: its input text is
// not valid JSON, or the tool does not exist (dynamic true, as the SDK marks
// calls of unknown tools). input is the text the model produced; it is sent
// parsed when it parses, else as a string, like the SDK.
func (w *Writer) ToolInputError(toolCallID, toolName, input string, dynamic bool, errorText string) error {
	if w.err != nil {
		return w.err
	}
	w.begin("tool-input-error")
	w.field("toolCallId", toolCallID)
	w.field("toolName", toolName)
	w.buf = append(w.buf, `,"input":`...)
	if out, err := AppendJSON(w.buf, []byte(input)); err == nil && input != "" {
		w.buf = out
	} else {
		w.buf = AppendString(w.buf, input)
	}
	if dynamic {
		w.buf = append(w.buf, `,"dynamic":true`...)
	}
	w.field("errorText", errorText)
	return w.end()
}

// ToolOutputAvailable gives a tool's result; nil output is sent as null
// (the SDK turns undefined into null so the field is always present).
func (w *Writer) ToolOutputAvailable(toolCallID string, output json.RawMessage) error {
	if w.err != nil {
		return w.err
	}
	w.begin("tool-output-available")
	w.field("toolCallId", toolCallID)
	if err := w.jsonField("output", output); err != nil {
		return err
	}
	return w.end()
}

// ToolOutputError reports a tool that failed; dynamic as for ToolInputError.
func (w *Writer) ToolOutputError(toolCallID, errorText string, dynamic bool) error {
	if w.err != nil {
		return w.err
	}
	w.begin("tool-output-error")
	w.field("toolCallId", toolCallID)
	w.field("errorText", errorText)
	if dynamic {
		w.buf = append(w.buf, `,"dynamic":true`...)
	}
	return w.end()
}

// Finish writes the message finish part; finishReason "" leaves it out.
func (w *Writer) Finish(finishReason string) error {
	if w.err != nil {
		return w.err
	}
	w.begin("finish")
	if finishReason != "" {
		w.field("finishReason", finishReason)
	}
	return w.end()
}

// Error writes an error part; the browser shows errorText.
func (w *Writer) Error(errorText string) error {
	if w.err != nil {
		return w.err
	}
	w.begin("error")
	w.field("errorText", errorText)
	return w.end()
}

// Done writes the terminating `data: [DONE]` frame.
func (w *Writer) Done() error { return w.write([]byte("data: [DONE]\n\n")) }
