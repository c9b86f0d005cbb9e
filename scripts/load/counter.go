package main

import (
	"maps"
	"sort"
	"strings"
	"sync"
	"time"
)

// Counter counts operations by name and by minute of the run (what a proxy
// saw pass: Firestore RPCs, Auth emulator calls).
type Counter struct {
	start time.Time

	mu    sync.Mutex
	total map[string]int
	// per second since start, gRPC calls (the server) and HTTP/1 requests
	// (the agents' REST calls, emulator control calls)
	rpcSec, httpSec map[int]int
	// parseFailures counts connections whose requests could no longer be
	// told apart (counted from then on as connections only).
	parseFailures int
}

// NewCounter starts counting at start.
func NewCounter(start time.Time) *Counter {
	return &Counter{start: start, total: map[string]int{}, rpcSec: map[int]int{}, httpSec: map[int]int{}}
}

// Add counts one operation.
func (c *Counter) Add(op string) {
	if c == nil {
		return
	}
	sec := int(time.Since(c.start) / time.Second)
	c.mu.Lock()
	c.total[op]++
	if strings.HasPrefix(op, "rpc ") {
		c.rpcSec[sec]++
	} else {
		c.httpSec[sec]++
	}
	c.mu.Unlock()
}

func (c *Counter) parseFailed() {
	c.mu.Lock()
	c.parseFailures++
	c.mu.Unlock()
}

// Snapshot returns the totals by operation.
func (c *Counter) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.total)
}

// Sum is the number of operations counted.
func (c *Counter) Sum() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.total {
		n += v
	}
	return n
}

// Between counts the gRPC calls and HTTP/1 requests from a to b (offsets
// from start, whole seconds).
func (c *Counter) Between(a, b time.Duration) (rpc, http int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := int(a / time.Second); s < int(b/time.Second); s++ {
		rpc += c.rpcSec[s]
		http += c.httpSec[s]
	}
	return rpc, http
}

// opCount is one operation's total.
type opCount struct {
	Op    string `json:"op"`
	Count int    `json:"count"`
}

// sortedOps returns the totals, largest first.
func sortedOps(m map[string]int) []opCount {
	out := make([]opCount, 0, len(m))
	for k, v := range m {
		out = append(out, opCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Op < out[j].Op
	})
	return out
}

// grpcOp names a gRPC call by its method: "/google.firestore.v1.Firestore/Commit"
// is "rpc Commit".
func grpcOp(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 && i < len(path)-1 {
		return "rpc " + path[i+1:]
	}
	return "rpc " + path
}

// restOp names an HTTP/1 request to an emulator: Firestore REST calls by
// verb and document pattern ("GET sites/*/machines/*/commands/pending",
// "POST :commit"), Identity Toolkit calls by method ("accounts:update"),
// emulator control calls by their last segment.
func restOp(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	switch {
	case strings.Contains(path, "/documents:"):
		return method + " :" + path[strings.LastIndex(path, ":")+1:]
	case strings.Contains(path, "/documents/"):
		_, doc, _ := strings.Cut(path, "/documents/")
		segs := strings.Split(doc, "/")
		for i := range segs {
			if i%2 == 1 && segs[i] != "pending" && segs[i] != "completed" {
				segs[i] = "*"
			}
		}
		return method + " " + strings.Join(segs, "/")
	case strings.HasPrefix(path, "/emulator/"):
		seg := path[strings.LastIndexByte(path, '/')+1:]
		if i := strings.IndexByte(seg, ':'); i >= 0 {
			seg = seg[i:]
		}
		return method + " emulator " + seg
	}
	// Identity Toolkit and the Admin SDK: …/v1/[projects/P/]accounts:lookup
	seg := path[strings.LastIndexByte(path, '/')+1:]
	return method + " " + seg
}
