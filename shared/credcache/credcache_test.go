package credcache

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestValueLivesTTLFromTheReadNotFromItsLastUse(t *testing.T) {
	c := New[string](TTL, 10)
	c.Put("k", "v", c.Begin(t0))
	for _, d := range []time.Duration{0, 5 * time.Second, TTL - time.Millisecond} {
		if v, ok := c.Get("k", t0.Add(d)); !ok || v != "v" {
			t.Fatalf("at +%v: %q %v, want the value", d, v, ok)
		}
	}
	// Hits do not extend it: at TTL after the read began it is gone.
	if _, ok := c.Get("k", t0.Add(TTL)); ok {
		t.Fatal("served at TTL after the read")
	}
}

func TestTheTTLCountsFromBeforeTheRead(t *testing.T) {
	c := New[string](TTL, 10)
	tk := c.Begin(t0)
	// The read took 3 s: the value is still only good until t0 + TTL.
	c.Put("k", "v", tk)
	if _, ok := c.Get("k", t0.Add(TTL)); ok {
		t.Fatal("a slow read extended the value's life")
	}
}

func TestForgetWinsOverAReadInFlight(t *testing.T) {
	c := New[string](TTL, 10)
	tk := c.Begin(t0) // a request starts reading the key...
	c.Forget("k")     // ...the key is revoked meanwhile...
	c.Put("k", "granted before the revocation", tk)
	if _, ok := c.Get("k", t0); ok {
		t.Fatal("a read that began before Forget was stored")
	}
	c.Put("k", "v", c.Begin(t0)) // the next read is kept
	if _, ok := c.Get("k", t0); !ok {
		t.Fatal("a read after Forget was not stored")
	}
}

func TestForgetIf(t *testing.T) {
	c := New[int](TTL, 10)
	for i := range 4 {
		c.Put(fmt.Sprint(i), i, c.Begin(t0))
	}
	c.ForgetIf(func(_ string, v int) bool { return v%2 == 0 })
	for i := range 4 {
		if _, ok := c.Get(fmt.Sprint(i), t0); ok != (i%2 == 1) {
			t.Errorf("%d: held %v", i, ok)
		}
	}
}

func TestSizeIsBounded(t *testing.T) {
	c := New[int](TTL, 100)
	for i := range 1000 {
		c.Put(fmt.Sprint(i), i, c.Begin(t0))
		if c.Len() > 100 {
			t.Fatalf("%d entries, bound 100", c.Len())
		}
	}
	// Expired entries make room first: the live ones stay.
	c = New[int](TTL, 4)
	c.Put("old1", 1, c.Begin(t0))
	c.Put("old2", 2, c.Begin(t0))
	later := t0.Add(TTL)
	c.Put("new1", 3, c.Begin(later))
	c.Put("new2", 4, c.Begin(later))
	c.Put("new3", 5, c.Begin(later))
	for _, k := range []string{"new1", "new2", "new3"} {
		if _, ok := c.Get(k, later); !ok {
			t.Errorf("%s dropped while expired entries were held", k)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	c := New[string](TTL, 4096)
	c.Put("k", "v", c.Begin(t0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Get("k", t0)
		}
	})
}
