package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Preface starts every HTTP/2 connection (gRPC uses cleartext HTTP/2 to
// the emulator).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffer counts the requests of one client connection from a copy of the
// bytes the client sent: HTTP/2 streams (one gRPC call each, named by its
// :path, decoded with HPACK) or HTTP/1 requests. It never slows the copy:
// bytes are handed over on a buffered channel and, should the parser fall
// behind, counting stops for that connection (Counter.parseFailures).
type sniffer struct {
	ch     chan []byte
	done   chan struct{}
	failed bool
}

func newSniffer(c *Counter) *sniffer {
	s := &sniffer{ch: make(chan []byte, 4096), done: make(chan struct{})}
	go s.run(c)
	return s
}

// feed hands over a copy of b.
func (s *sniffer) feed(b []byte) {
	if s.failed {
		return
	}
	select {
	case s.ch <- bytes.Clone(b):
	default:
		s.failed = true
		close(s.ch)
	}
}

// close ends the stream of bytes.
func (s *sniffer) close() {
	if !s.failed {
		s.failed = true
		close(s.ch)
	}
}

// chanReader reads the handed-over chunks.
type chanReader struct {
	ch  <-chan []byte
	buf []byte
}

func (r *chanReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		b, ok := <-r.ch
		if !ok {
			return 0, io.EOF
		}
		r.buf = b
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (s *sniffer) run(c *Counter) {
	defer close(s.done)
	r := &chanReader{ch: s.ch}
	defer func() {
		for range s.ch { // drain, so feed never blocks
		}
	}()
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(h2Preface))
	if err != nil && len(head) == 0 {
		return
	}
	if string(head) == h2Preface {
		_, _ = br.Discard(len(h2Preface))
		if !countH2(br, c) {
			c.parseFailed()
		}
		return
	}
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				c.parseFailed()
			}
			return
		}
		c.Add(restOp(req.Method, req.URL.Path))
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
}

// countH2 counts the streams the client opens, by :path. It returns false
// when the frames could not be parsed.
func countH2(r io.Reader, c *Counter) bool {
	fr := http2.NewFramer(nil, r)
	dec := hpack.NewDecoder(4096, nil)
	dec.SetAllowedMaxDynamicTableSize(1 << 20)
	fr.ReadMetaHeaders = dec
	fr.MaxHeaderListSize = 1 << 20
	var last uint32 // client stream ids only grow: a larger one is a new call
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return err == io.EOF || err == io.ErrUnexpectedEOF
		}
		mh, ok := f.(*http2.MetaHeadersFrame)
		if !ok {
			continue
		}
		if mh.StreamID <= last {
			continue // trailers of a call already counted
		}
		last = mh.StreamID
		c.Add(grpcOp(mh.PseudoValue("path")))
	}
}
