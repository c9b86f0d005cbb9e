// Package credcache keeps what a verified credential grants (an API key's
// owner, a session record, a user's role and sites, a site's owner) in the
// instance for a short while, so that a steady stream of requests from one
// caller does not read the same documents again and again (DECISIONS §4: at
// most 10 s).
//
// A Map is bounded in entries, and a value is kept at most TTL after the
// read it came from began, never longer. Forget takes effect at once: a
// read that was already in flight when Forget ran cannot store what it read
// (Begin/Put carry a generation), so a revocation on this instance is never
// undone by a concurrent request, and other instances see it within TTL.
package credcache

import (
	"sync"
	"time"
)

// TTL is the longest a verified credential may be served from memory
// (DECISIONS §4).
const TTL = 10 * time.Second

// Map is a bounded map of values read from Firestore, each valid until TTL
// after the read began. Its methods are safe for concurrent use.
type Map[V any] struct {
	ttl time.Duration
	max int

	mu  sync.RWMutex
	m   map[string]entry[V]
	gen uint64 // bumped by every Forget
}

type entry[V any] struct {
	v   V
	exp time.Time
}

// New returns a Map whose values live ttl and that holds at most max
// entries (when full, expired entries are dropped, and if that is not
// enough, all of them: memory stays bounded whatever callers do).
func New[V any](ttl time.Duration, max int) *Map[V] {
	return &Map[V]{ttl: ttl, max: max, m: make(map[string]entry[V])}
}

// Get returns k's value if it was read less than TTL before now.
func (c *Map[V]) Get(k string, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.exp) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Ticket is taken before a read whose result may be stored with Put.
type Ticket struct {
	gen uint64
	at  time.Time
}

// Begin is called before reading a value from Firestore, with the time
// the read begins.
func (c *Map[V]) Begin(now time.Time) Ticket {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Ticket{gen: c.gen, at: now}
}

// Put stores v for k until TTL after t was taken, unless something was
// forgotten since (then the read may predate a revocation: nothing is
// stored, the next request reads again).
func (c *Map[V]) Put(k string, v V, t Ticket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.gen != c.gen {
		return
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for key, e := range c.m {
			if !t.at.Before(e.exp) {
				delete(c.m, key)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = entry[V]{v: v, exp: t.at.Add(c.ttl)}
}

// Forget drops keys, and makes every read in flight unable to store.
func (c *Map[V]) Forget(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		delete(c.m, k)
	}
}

// ForgetIf drops every entry for which drop is true (and makes every read
// in flight unable to store).
func (c *Map[V]) ForgetIf(drop func(k string, v V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if drop(k, e.v) {
			delete(c.m, k)
		}
	}
}

// Len is the number of entries held (expired ones included until they are
// dropped).
func (c *Map[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
