package ratelimit

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/owlette/server/shared/web"
)

// Gate applies one class to one route (DECISIONS §3):
//
//   - Enter, before anything else: the client address's budget in this
//     instance's memory. A flood of requests without a valid credential is
//     refused here and never reaches Firestore.
//   - Charge, once the caller has proved who they are (the guard resolved a
//     principal, or a handler verified a secret): the shared budget in
//     Firestore, which holds across instances.
//   - Failed, as the response status is written: for classes that count
//     failures only (auth: what can be guessed, not valid sign-ins), a 4xx
//     spends one from the budget; successes never do.
//
// Every decision sets the headers of api.md §1.6 (X-RateLimit-Limit,
// -Remaining, -Reset in ms epoch; RateLimit-Limit, -Remaining, -Reset in
// seconds, -Policy); a refusal is a 429 with Retry-After and the original's
// body.
type Gate struct {
	l      *Limiter
	cfg    *config
	factor int
	policy string
}

// Gate returns the gate of class c for a route. factor (≥ 1) multiplies the
// per-address budget in memory, for routes whose real limit is per token
// or machine (charged by the handler with ChargeKey) behind a generous
// per-address ceiling, so a fleet behind one NAT keeps working. Class None
// gives nil, whose methods do nothing. An unknown class panics (a wiring
// error, caught at startup).
func (l *Limiter) Gate(c Class, factor int) *Gate {
	if c == None {
		return nil
	}
	cfg := l.cfg[c]
	if cfg == nil {
		panic("ratelimit: unknown class " + strconv.Quote(string(c)))
	}
	factor = max(factor, 1)
	return &Gate{l: l, cfg: cfg, factor: factor,
		policy: strconv.Itoa(cfg.limit*factor) + ";w=" + strconv.FormatInt(cfg.windowMs/1000, 10)}
}

// Enter checks the client address ip in memory, before any credential is
// looked at. Failure-counting classes are only checked, not spent.
func (g *Gate) Enter(w http.ResponseWriter, ip string) error {
	if g == nil {
		return nil
	}
	nowMs := g.l.now().UnixMilli()
	k := key{g.cfg.class, ip}
	limit := g.cfg.limit * g.factor
	var d Decision
	var ok bool
	if g.cfg.failuresOnly {
		var blocked bool
		d, blocked = g.l.mem.blocked(g.cfg, k, limit, nowMs)
		ok = !blocked
	} else {
		d, ok = g.l.mem.spend(g.cfg, k, limit, nowMs)
	}
	g.headers(w, d)
	if !ok {
		return g.refuse(w, d)
	}
	return nil
}

// Charge spends one request of the shared budget of the client address ip
// for an authenticated caller. Failure-counting classes spend nothing here.
func (g *Gate) Charge(ctx context.Context, w http.ResponseWriter, ip string) error {
	if g == nil || g.cfg.failuresOnly {
		return nil
	}
	return g.ChargeKey(ctx, w, ip)
}

// ChargeKey spends one request of the shared budget of an identifier the
// handler chose (a verified refresh token, a device code), after verifying
// it, so that only proved callers cost a Firestore write.
func (g *Gate) ChargeKey(ctx context.Context, w http.ResponseWriter, id string) error {
	if g == nil {
		return nil
	}
	d := g.l.Allow(ctx, g.cfg.class, id)
	if d.Limit == 0 { // failed open: keep the memory decision's headers
		return nil
	}
	g.headers(w, d)
	if !d.Allowed {
		return g.refuse(w, d)
	}
	return nil
}

// Failed counts a failed attempt of a failure-counting class for ip: in
// memory always, and in the shared budget when the caller had proved who
// they are. Once a budget is spent the address is refused until its window
// ends. Other classes ignore it.
func (g *Gate) Failed(ctx context.Context, ip string, authenticated bool) {
	if g == nil || !g.cfg.failuresOnly {
		return
	}
	nowMs := g.l.now().UnixMilli()
	k := key{g.cfg.class, ip}
	d, ok := g.l.mem.spend(g.cfg, k, g.cfg.limit*g.factor, nowMs)
	if !ok {
		return
	}
	if d.Remaining == 0 { // that was the last attempt of the window
		g.l.mem.block(g.cfg, k, d.Reset.UnixMilli(), nowMs)
	}
	if authenticated {
		if d := g.l.Allow(ctx, g.cfg.class, ip); !d.Allowed {
			g.l.mem.block(g.cfg, k, d.Reset.UnixMilli(), nowMs)
		}
	}
}

func (g *Gate) headers(w http.ResponseWriter, d Decision) {
	h := w.Header()
	secs := secondsUntil(d.Reset, g.l.now())
	limit, remaining := strconv.Itoa(d.Limit), strconv.Itoa(d.Remaining)
	h.Set("X-RateLimit-Limit", limit)
	h.Set("X-RateLimit-Remaining", remaining)
	h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.UnixMilli(), 10))
	h.Set("RateLimit-Limit", limit)
	h.Set("RateLimit-Remaining", remaining)
	h.Set("RateLimit-Reset", strconv.FormatInt(secs, 10))
	h.Set("RateLimit-Policy", g.policy)
}

// refuse is the 429 of api.md §1.6.
func (g *Gate) refuse(w http.ResponseWriter, d Decision) error {
	secs := secondsUntil(d.Reset, g.l.now())
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return web.Errorf(http.StatusTooManyRequests, "Rate limit exceeded").
		With("retryAfter", secs).
		With("message", "Too many requests. Please try again in "+strconv.FormatInt(secs, 10)+" seconds.")
}

// secondsUntil is ceil((reset − now) / 1 s), at least 0.
func secondsUntil(reset, now time.Time) int64 {
	ms := reset.UnixMilli() - now.UnixMilli()
	if ms <= 0 {
		return 0
	}
	return (ms + 999) / 1000
}
