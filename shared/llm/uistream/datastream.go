package uistream

import (
	"errors"
	"io"
	"net/http"
)

// DataStream writes the legacy AI SDK data-stream lines of the local-Cortex
// relay path (E52): `0:<JSON string>\n` per text delta,
// `d:{"finishReason":"stop"}\n` at the end, `3:<JSON string>\n` for an error.
// Each line is flushed at once. The first write error sticks.
type DataStream struct {
	w     io.Writer
	flush func() error
	buf   []byte
	err   error
}

// SetDataStreamHeaders sets the relay path's response headers.
func SetDataStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Vercel-AI-Data-Stream", "v1")
}

// NewDataStreamResponse sets the headers, sends 200 and returns a DataStream
// flushing through w.
func NewDataStreamResponse(w http.ResponseWriter) *DataStream {
	SetDataStreamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	return &DataStream{w: w, flush: http.NewResponseController(w).Flush}
}

// NewDataStream returns a DataStream on a plain writer (no headers).
func NewDataStream(w io.Writer) *DataStream {
	ds := &DataStream{w: w}
	switch f := w.(type) {
	case interface{ Flush() error }:
		ds.flush = f.Flush
	case http.Flusher:
		ds.flush = func() error { f.Flush(); return nil }
	}
	return ds
}

// Err returns the first write error, if any.
func (d *DataStream) Err() error { return d.err }

func (d *DataStream) line(prefix byte, s string) error {
	if d.err != nil {
		return d.err
	}
	d.buf = append(d.buf[:0], prefix, ':')
	d.buf = AppendString(d.buf, s)
	d.buf = append(d.buf, '\n')
	return d.write(d.buf)
}

func (d *DataStream) write(b []byte) error {
	if d.err != nil {
		return d.err
	}
	if _, err := d.w.Write(b); err != nil {
		d.err = err
		return err
	}
	if d.flush != nil {
		if err := d.flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			d.err = err
			return err
		}
	}
	return nil
}

// Text writes a text delta line; an empty delta writes nothing.
func (d *DataStream) Text(delta string) error {
	if delta == "" {
		return d.err
	}
	return d.line('0', delta)
}

// Finish writes the stop line.
func (d *DataStream) Finish() error { return d.write([]byte("d:{\"finishReason\":\"stop\"}\n")) }

// Error writes an error line with message.
func (d *DataStream) Error(message string) error { return d.line('3', message) }
