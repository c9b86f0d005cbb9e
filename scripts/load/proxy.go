package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy in front of a shared emulator, so that a fault can be
// injected for this run's server and agents without touching the emulator
// (other people's tests use it at the same time, and killing the Firestore
// emulator would wipe everyone's data):
//
//   - Down resets every open connection (RST, as a crashed process's peer
//     sees) and stops listening, so new connections are refused;
//   - Up listens again on the same address.
//
// It counts the requests that pass (see sniffer) in its Counter.
type Proxy struct {
	Name     string
	upstream string
	addr     string
	count    *Counter

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	down  bool
}

// StartProxy listens on a free loopback port below the ephemeral range, so
// that no outgoing connection can take the port while the proxy is down.
func StartProxy(name, upstream string, c *Counter) (*Proxy, error) {
	p := &Proxy{Name: name, upstream: upstream, count: c, conns: map[net.Conn]struct{}{}}
	ln, err := listenLow()
	if err != nil {
		return nil, err
	}
	p.addr = ln.Addr().String()
	p.ln = ln
	go p.serve(ln)
	return p, nil
}

// listenLow listens on a random port in [20000, 30000), under the kernel's
// ephemeral range (32768–60999), so that the address can be given up and
// taken again later.
func listenLow() (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(10000)))
		if err == nil {
			return ln, nil
		}
	}
	return nil, err
}

// Addr is the host:port clients use.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go p.handle(c)
	}
}

func (p *Proxy) handle(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		reset(c)
		return
	}
	if !p.track(c, up) {
		reset(c)
		reset(up)
		return
	}
	defer p.untrack(c, up)
	s := newSniffer(p.count)
	defer s.close()
	done := make(chan struct{}, 2)
	go func() { // client → upstream, counted
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				s.feed(buf[:n])
				if _, werr := up.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() { // upstream → client
		_, _ = io.Copy(c, up)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
	_ = c.Close()
	_ = up.Close()
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// Down resets every connection and stops listening.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return
	}
	p.down = true
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		reset(c)
	}
	clear(p.conns)
}

// Up listens again on the same address (retrying for a while should the
// port be busy).
func (p *Proxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.down {
		return nil
	}
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.ln, p.down = ln, false
			go p.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s proxy: listen again on %s: %w", p.Name, p.addr, err)
}

// Close stops the proxy for good.
func (p *Proxy) Close() { p.Down() }
