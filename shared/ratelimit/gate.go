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
//   - Failed, as the response status is written: on failure-counting gates
//     a 4xx spends one from the address's budget; successes never do.
//
// A gate counts failures only at the address when what it protects can be
// guessed and a valid request proves itself: the auth class (ID tokens,
// codes, passkeys; a verified caller spends a per-user budget instead, see
// ChargeUser), and routes limited per token or device (factor > 1; the
// handler charges the key with ChargeKey once it checks out). One operator,
// an office or a fleet behind one address then never spends the address's
// budget by succeeding, and never gets 429 because of its neighbours'
// successes.
//
// Every decision sets the headers of api.md §1.6 (X-RateLimit-Limit,
// -Remaining, -Reset in ms epoch; RateLimit-Limit, -Remaining, -Reset in
// seconds, -Policy); a refusal is a 429 with Retry-After and the original's
// body.
type Gate struct {
	l      *Limiter
	cfg    *config
	factor int
	// failuresOnly: the address budget is spent by failed requests (Failed)
	// only, not at Enter.
	failuresOnly bool
}

// Budgets of requests that proved who they are on a failure-counting class
// (ChargeUser), per user: UserLocal an hour on each instance in memory, then
// UserLimit an hour shared by all instances (Firestore, leased). 50 page
// loads in a minute stay far below either; a script signing in without end
// does not.
const (
	UserLocal = 60
	UserLimit = 600
)

// AnonymousFactor multiplies the class budget for requests that succeed
// without proving anyone yet still cost a write (Anonymous): auth, 60 a
// minute per address.
const AnonymousFactor = 6

// Gate returns the gate of class c for a route. factor (≥ 1) multiplies the
// per-address budget in memory; a factor above 1 declares a route whose real
// limit is per token or device (charged by the handler with ChargeKey): its
// address budget is then a ceiling on failed requests (see Gate), so a
// fleet behind one NAT keeps working. Class None gives nil, whose methods do
// nothing. An unknown class panics (a wiring error, caught at startup).
func (l *Limiter) Gate(c Class, factor int) *Gate {
	if c == None {
		return nil
	}
	cfg := l.cfg[c]
	if cfg == nil {
		panic("ratelimit: unknown class " + strconv.Quote(string(c)))
	}
	factor = max(factor, 1)
	return &Gate{l: l, cfg: cfg, factor: factor, failuresOnly: cfg.failuresOnly || factor > 1}
}

// Enter checks the client address ip in memory, before any credential is
// looked at. Failure-counting gates are only checked, not spent.
func (g *Gate) Enter(w http.ResponseWriter, ip string) error {
	if g == nil {
		return nil
	}
	nowMs := g.l.now().UnixMilli()
	k := key{g.cfg.class, ip}
	limit := g.cfg.limit * g.factor
	var d Decision
	var ok bool
	if g.failuresOnly {
		var blocked bool
		d, blocked = g.l.mem.blocked(g.cfg, k, limit, nowMs)
		ok = !blocked
	} else {
		d, ok = g.l.mem.spend(g.cfg, k, limit, nowMs)
	}
	g.headers(w, d, g.cfg)
	if !ok {
		return g.refuse(w, d)
	}
	return nil
}

// Charge is called once the guard has authenticated the caller uid: it
// spends one request of the shared budget of the client address ip, or, on
// the auth class, of the user's budget (ChargeUser). Routes limited per
// token or device spend nothing here (their handler charges the key).
func (g *Gate) Charge(ctx context.Context, w http.ResponseWriter, ip, uid string) error {
	switch {
	case g == nil:
		return nil
	case g.cfg.failuresOnly:
		return g.ChargeUser(ctx, w, uid)
	case g.failuresOnly:
		return nil
	}
	return g.ChargeKey(ctx, w, ip)
}

// ChargeUser spends one request of uid's budget on a failure-counting class
// (auth), for a caller who proved who they are (a verified session, ID
// token or passkey): the address's budget is for guesses, and one busy
// operator must not use it up, but one user may not sign in without bound
// either. The first UserLocal requests of an hour are counted in this
// instance's memory, so an operator's page loads cost no Firestore call;
// past them the shared budget of UserLimit an hour decides, leased in
// batches (DECISIONS §4). The address's headers stay unless this refuses.
func (g *Gate) ChargeUser(ctx context.Context, w http.ResponseWriter, uid string) error {
	if g == nil || !g.cfg.failuresOnly || uid == "" {
		return nil
	}
	ucfg := g.l.cfg[authUser]
	if _, ok := g.l.mem.spend(ucfg, key{authUser, uid}, UserLocal, g.l.now().UnixMilli()); ok {
		return nil
	}
	d := g.l.Allow(ctx, authUser, uid)
	if d.Allowed || d.Limit == 0 { // allowed, or failed open
		return nil
	}
	g.headers(w, d, ucfg)
	return g.refuse(w, d)
}

// Anonymous spends one request of the address ip for a request of a
// failure-counting class that succeeds without proving anyone yet costs a
// write (E09 stores a challenge for whoever asks). It is counted in memory,
// apart from the failures (a few passkey sign-in pages behind one address
// do not use up its budget for wrong codes), at AnonymousFactor times the
// class budget; other gates spent the address at Enter already.
func (g *Gate) Anonymous(w http.ResponseWriter, ip string) error {
	if g == nil || !g.cfg.failuresOnly {
		return nil
	}
	limit := g.cfg.limit * AnonymousFactor
	d, ok := g.l.mem.spend(g.cfg, key{g.cfg.class + "/anonymous", ip}, limit, g.l.now().UnixMilli())
	g.headers(w, d, g.cfg)
	if !ok {
		return g.refuse(w, d)
	}
	return nil
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
	g.headers(w, d, g.cfg)
	if !d.Allowed {
		return g.refuse(w, d)
	}
	return nil
}

// Failed counts a failed request (4xx) on a failure-counting gate for ip:
// in memory always, and in the shared budget when the caller had proved who
// they are. Once a budget is spent the address is refused until its window
// ends. Other gates ignore it.
func (g *Gate) Failed(ctx context.Context, ip string, authenticated bool) {
	if g == nil || !g.failuresOnly {
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
	if authenticated && g.cfg.failuresOnly {
		if d := g.l.Allow(ctx, g.cfg.class, ip); !d.Allowed {
			g.l.mem.block(g.cfg, k, d.Reset.UnixMilli(), nowMs)
		}
	}
}

// headers sets the §1.6 headers of decision d of a budget of class cfg
// (its window).
func (g *Gate) headers(w http.ResponseWriter, d Decision, cfg *config) {
	h := w.Header()
	secs := secondsUntil(d.Reset, g.l.now())
	limit, remaining := strconv.Itoa(d.Limit), strconv.Itoa(d.Remaining)
	h.Set("X-RateLimit-Limit", limit)
	h.Set("X-RateLimit-Remaining", remaining)
	h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.UnixMilli(), 10))
	h.Set("RateLimit-Limit", limit)
	h.Set("RateLimit-Remaining", remaining)
	h.Set("RateLimit-Reset", strconv.FormatInt(secs, 10))
	h.Set("RateLimit-Policy", limit+";w="+strconv.FormatInt(cfg.windowMs/1000, 10))
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
