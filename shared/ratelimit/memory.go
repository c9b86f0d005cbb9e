package ratelimit

import (
	"sync"
	"time"
)

// memory is the instance-local limiter for callers who have not proved who
// they are (DECISIONS §3 "Unauthenticated traffic is cheap"): the same
// classes, windows and algorithms as the shared budgets, counted in this
// instance's memory only, so refusing a flood costs no Firestore call.
type memory struct {
	mu        sync.Mutex
	entries   map[key]*mentry
	nextSweep int64
}

// mentry is one (class, identifier) in memory.
type mentry struct {
	window    int64 // aligned window index of count
	count     int   // requests (or failures) counted in window
	prev      int   // counted in window-1 (sliding windows)
	blockedTo int64 // ms epoch; refused until then
	windowMs  int64 // the class's window
}

// memoryCap bounds the number of identifiers tracked; past it the oldest
// windows are dropped first (a sweep), then everything (an attacker with
// endless addresses cannot grow memory without bound).
const memoryCap = 200_000

// spend counts one event for k and reports whether it was within limit
// (limit is the class limit times the route's address factor).
func (m *memory) spend(cfg *config, k key, limit int, nowMs int64) (Decision, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(cfg, k, nowMs)
	n := nowMs / cfg.windowMs
	reset := time.UnixMilli((n + 1) * cfg.windowMs)
	if e.blockedTo > nowMs {
		return Decision{Allowed: false, Limit: limit, Reset: time.UnixMilli(e.blockedTo)}, false
	}
	used := e.count
	if cfg.algo == sliding {
		elapsed := nowMs - n*cfg.windowMs
		used += int(int64(e.prev) * (cfg.windowMs - elapsed) / cfg.windowMs)
	}
	if used >= limit {
		e.blockedTo = (n + 1) * cfg.windowMs
		return Decision{Allowed: false, Limit: limit, Reset: reset}, false
	}
	e.count++
	return Decision{Allowed: true, Limit: limit, Remaining: max(0, limit-used-1), Reset: reset}, true
}

// blocked reports whether k is refused until a later time, without counting.
func (m *memory) blocked(cfg *config, k key, limit int, nowMs int64) (Decision, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(cfg, k, nowMs)
	if e.blockedTo > nowMs {
		return Decision{Allowed: false, Limit: limit, Reset: time.UnixMilli(e.blockedTo)}, true
	}
	n := nowMs / cfg.windowMs
	return Decision{Allowed: true, Limit: limit, Remaining: max(0, limit-e.count), Reset: time.UnixMilli((n + 1) * cfg.windowMs)}, false
}

// block refuses k until untilMs (a shared budget said no).
func (m *memory) block(cfg *config, k key, untilMs, nowMs int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(cfg, k, nowMs)
	e.blockedTo = max(e.blockedTo, untilMs)
}

// entry returns k's entry rolled forward to the current window. Called with
// m.mu held.
func (m *memory) entry(cfg *config, k key, nowMs int64) *mentry {
	if m.entries == nil {
		m.entries = make(map[key]*mentry)
	}
	if nowMs >= m.nextSweep || len(m.entries) >= memoryCap {
		m.sweep(nowMs)
	}
	n := nowMs / cfg.windowMs
	e := m.entries[k]
	if e == nil {
		e = &mentry{window: n, windowMs: cfg.windowMs}
		m.entries[k] = e
	}
	switch {
	case e.window == n:
	case e.window == n-1:
		e.prev, e.count, e.window = e.count, 0, n
	case e.window < n:
		e.prev, e.count, e.window = 0, 0, n
	}
	return e
}

// sweep drops entries that carry no state any more. Called with m.mu held.
func (m *memory) sweep(nowMs int64) {
	m.nextSweep = nowMs + sweepEvery.Milliseconds()
	for k, e := range m.entries {
		// Two windows past, neither count nor prev matters.
		if e.blockedTo <= nowMs && (e.window+2)*e.windowMs <= nowMs {
			delete(m.entries, k)
		}
	}
	if len(m.entries) >= memoryCap {
		clear(m.entries)
	}
}
