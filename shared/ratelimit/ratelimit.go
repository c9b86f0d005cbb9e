// Package ratelimit enforces the per-identifier request budgets of api.md §1.6
// across all Cloud Function instances, with counters kept in Firestore.
//
// # Leasing
//
// A request does not normally cost a Firestore write. Each instance leases a
// part of an identifier's budget with one conditional write and spends it from
// memory:
//
//   - One document per (class, identifier): ratelimits/{prefix}:{escaped id},
//     fields {window, count, prev, expiresAt}. window is n = floor(nowMs /
//     windowMs), so windows are aligned to the Unix epoch as in the original
//     (a 1 h window starts on the full UTC hour). count is what has been
//     leased in window n, prev what was leased in window n−1.
//   - A lease (read, then write if the document is unchanged; see leaseTx)
//     rolls the document forward to the current window, computes what is
//     still available (fixed: limit − count; sliding: limit − (count +
//     floor(prev × (1 − elapsed fraction)))), grants min(lease size,
//     available) and adds the grant to count. A grant of 0 writes nothing (a
//     single read) and means "rejected".
//   - Granted tokens live in memory and are valid for that window only.
//   - Lease sizes double per identifier per window (1, 2, 4, …) up to
//     max(1, limit/8). A caller making one request per window costs one write
//     per window; a busy caller about log2(limit/8) + 8 writes per window
//     (api, 300/h: 13). A caller busy in the previous window starts the next
//     one at half the lease size it had reached instead of 1 (api: 9 writes).
//     Classes with a limit below 16 (auth, agentAlert, processAlert, upload)
//     lease one token at a time, so every request is exact.
//   - Sliding windows only: tokens still unspent when a window ends are given
//     back with the instance's next lease for that identifier (subtracted from
//     prev in the same write), so unspent leases do not weigh on the next
//     window.
//   - After a rejection the identifier is remembered as blocked until the end
//     of the window and rejected locally without any Firestore call (as the
//     original's per-process cache does).
//   - Concurrent requests for one identifier on one instance share a single
//     lease.
//
// Why no sharding: with leasing, one identifier's document sees at most a
// handful of writes per instance per window, far below Firestore's
// per-document write rate, so a single document per identifier suffices.
//
// Costs of leasing (accepted): tokens leased by an instance are not available
// to other instances, so while one instance still holds tokens another may
// already reject (the total allowed never exceeds the limit); tokens held by an
// instance that shuts down are lost for the rest of the window. Both are bounded
// by the lease cap (limit/8 per instance).
//
// # Failure
//
// If a lease fails or takes longer than Options.LeaseTimeout (default 2 s),
// the request is allowed (fail open, as the original library does) and a WARN
// is logged. For the next 5 s the limiter then does not try
// Firestore at all for identifiers that need a new lease (they are allowed), so
// an outage does not add the timeout to every request; local tokens and local
// blocks keep working.
//
// Firestore TTL: the documents carry expiresAt (end of the window after the
// one last written, after which they no longer matter). Enable a TTL policy on
// collection group "ratelimits", field "expiresAt":
//
//	gcloud firestore fields ttls update expiresAt --collection-group=ratelimits --enable-ttl
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Class names one rate-limit budget of api.md §1.6. Endpoints sharing a class
// share one budget per identifier.
type Class string

const (
	None          Class = "" // no limit
	Auth          Class = "auth"
	TokenExchange Class = "tokenExchange"
	TokenRefresh  Class = "tokenRefresh"
	User          Class = "user"
	AgentAlert    Class = "agentAlert"
	Upload        Class = "upload"
	API           Class = "api"
	ProcessAlert  Class = "processAlert"

	// authUser is not a route class: it is the per-user budget of requests
	// that proved who they are on a failure-counting class (Gate.ChargeUser).
	authUser Class = "authUser"
)

// Collection holds one document per (class, identifier).
const Collection = "ratelimits"

const (
	defaultLeaseTimeout = 2 * time.Second
	degradedFor         = 5 * time.Second
	maxAttempts         = 8 // optimistic lease attempts
	sweepEvery          = time.Minute
)

type algorithm int

const (
	fixed algorithm = iota
	sliding
)

type config struct {
	class    Class
	algo     algorithm
	limit    int
	windowMs int64
	prefix   string
	maxLease int
	// failuresOnly: only failed attempts spend the budget (Gate.Failed).
	failuresOnly bool
}

func classes(dev bool) map[Class]*config {
	pick := func(prod, devLimit int) int {
		if dev {
			return devLimit
		}
		return prod
	}
	list := []config{
		{class: Auth, algo: sliding, limit: 10, windowMs: 60_000, prefix: "auth", failuresOnly: true},
		{class: TokenExchange, algo: sliding, limit: pick(60, 200), windowMs: 3_600_000, prefix: "token-exchange"},
		{class: TokenRefresh, algo: sliding, limit: 120, windowMs: 3_600_000, prefix: "token-refresh"},
		{class: User, algo: fixed, limit: 60, windowMs: 3_600_000, prefix: "user-ops"},
		{class: AgentAlert, algo: fixed, limit: 5, windowMs: 3_600_000, prefix: "agent-alert"},
		{class: Upload, algo: fixed, limit: pick(5, 30), windowMs: 3_600_000, prefix: "upload"},
		{class: API, algo: fixed, limit: 300, windowMs: 3_600_000, prefix: "api-ops"},
		{class: ProcessAlert, algo: fixed, limit: 3, windowMs: 3_600_000, prefix: "process-alert"},
		{class: authUser, algo: sliding, limit: UserLimit, windowMs: 3_600_000, prefix: "auth-user"},
	}
	m := make(map[Class]*config, len(list))
	for i := range list {
		c := list[i]
		c.maxLease = max(1, c.limit/8)
		m[c.class] = &c
	}
	return m
}

// Decision is the outcome of one Allow call.
//
// Limit is 0 when no limit applied (class None, or fail-open after a Firestore
// failure); Remaining and Reset are then zero too.
//
// Remaining is this instance's view: the budget left in Firestore at its last
// lease plus the tokens it still holds. Other instances' spending since then is
// not seen, and tokens they hold unspent count as used.
type Decision struct {
	Allowed   bool
	Limit     int
	Remaining int
	Reset     time.Time // end of the current aligned window
}

// Options configures a Limiter.
type Options struct {
	// Dev selects the development budgets (tokenExchange 200/h, upload 30/h).
	// The original sets it when the Firebase project id contains "-dev".
	Dev bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives fail-open warnings; nil means slog.Default().
	Logger *slog.Logger
	// LeaseTimeout bounds one lease (all its attempts); 0 means 2 s.
	LeaseTimeout time.Duration
}

type key struct {
	class Class
	id    string
}

// entry is one instance's local state for one (class, identifier).
type entry struct {
	window     int64 // window the tokens belong to
	tokens     int   // leased and unspent, valid in window only
	sharedLeft int   // budget left in Firestore after our last grant
	lease      int   // size of the next lease to ask for
	// sliding only: tokens unspent at the end of refundWin, to give back.
	refund    int
	refundWin int64
	blockedTo int64         // ms epoch; rejected locally until then
	inflight  chan struct{} // closed when the running lease finishes
}

// Limiter decides whether requests may proceed. It is safe for concurrent use;
// create one per process and share it.
type Limiter struct {
	fs      *firestore.Client
	cfg     map[Class]*config
	now     func() time.Time
	log     *slog.Logger
	timeout time.Duration

	mem memory // budgets of unauthenticated callers (Gate)

	mu         sync.Mutex
	entries    map[key]*entry
	degradedTo int64 // ms epoch; no Firestore leases before then
	nextSweep  int64

	// Counters (read by tests; cheap enough to keep in production).
	leases      atomic.Int64 // leases started (each at least one Firestore read)
	leaseWrites atomic.Int64 // leases that wrote (a grant or a refund)
	conflicts   atomic.Int64 // writes lost to another instance, retried
	failures    atomic.Int64 // leases that failed (request allowed)

	beforeWrite func() // test hook: runs between a lease's read and write
}

// New returns a Limiter storing its counters through fs.
func New(fs *firestore.Client, opts Options) *Limiter {
	l := &Limiter{
		fs:      fs,
		cfg:     classes(opts.Dev),
		now:     opts.Now,
		log:     opts.Logger,
		timeout: opts.LeaseTimeout,
		entries: make(map[key]*entry),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.timeout <= 0 {
		l.timeout = defaultLeaseTimeout
	}
	return l
}

// Allow spends one request of class c for identifier id.
func (l *Limiter) Allow(ctx context.Context, c Class, id string) Decision {
	if c == None {
		return Decision{Allowed: true}
	}
	cfg := l.cfg[c]
	if cfg == nil {
		l.log.Error("ratelimit: unknown class, request allowed", "class", string(c))
		return Decision{Allowed: true}
	}
	nowMs := l.now().UnixMilli()
	n := nowMs / cfg.windowMs // nowMs > 0 for any real clock
	resetMs := (n + 1) * cfg.windowMs
	k := key{c, id}

	l.mu.Lock()
	if nowMs >= l.nextSweep {
		l.sweep(nowMs)
	}
	for {
		e := l.entries[k]
		if e == nil {
			e = &entry{window: n, lease: 1}
			l.entries[k] = e
		}
		if e.blockedTo > nowMs {
			l.mu.Unlock()
			return l.rejected(cfg, e.blockedTo)
		}
		e.roll(cfg, n)
		if e.tokens > 0 && e.window == n {
			e.tokens--
			d := Decision{Allowed: true, Limit: cfg.limit, Remaining: max(0, e.sharedLeft+e.tokens), Reset: time.UnixMilli(resetMs)}
			l.mu.Unlock()
			return d
		}
		if ch := e.inflight; ch != nil {
			// Another request on this instance is leasing for this identifier.
			l.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return Decision{Allowed: true}
			}
			l.mu.Lock()
			continue
		}
		if e.window != n {
			// Our clock is behind tokens leased by a request with a later
			// clock reading; do not lease for an older window.
			l.mu.Unlock()
			return Decision{Allowed: true}
		}
		if l.degradedTo > nowMs {
			l.mu.Unlock()
			return Decision{Allowed: true}
		}

		// Lease, as the only request doing so for this entry.
		ch := make(chan struct{})
		e.inflight = ch
		want := e.lease
		refund := 0
		if e.refundWin == n-1 {
			refund = e.refund
		}
		e.refund = 0
		l.mu.Unlock()

		grant, left, err := l.leaseTx(ctx, cfg, id, n, nowMs, want, refund)

		l.mu.Lock()
		e.inflight = nil
		close(ch)
		if err != nil {
			l.degradedTo = nowMs + degradedFor.Milliseconds()
			l.mu.Unlock()
			l.failures.Add(1)
			l.log.Warn("ratelimit: Firestore lease failed, allowing requests without a lease for 5s (fail open)",
				"class", string(c), "id", id, "err", err)
			return Decision{Allowed: true}
		}
		if grant == 0 {
			e.blockedTo = max(e.blockedTo, resetMs)
			l.mu.Unlock()
			return l.rejected(cfg, resetMs)
		}
		if e.window == n {
			e.tokens += grant
			e.sharedLeft = left
			e.lease = min(cfg.maxLease, want*2)
		}
		// Loop to spend a token (ours, or taken by a concurrent request).
	}
}

func (l *Limiter) rejected(cfg *config, resetMs int64) Decision {
	return Decision{Allowed: false, Limit: cfg.limit, Remaining: 0, Reset: time.UnixMilli(resetMs)}
}

// roll moves e to window n, dropping tokens of older windows.
func (e *entry) roll(cfg *config, n int64) {
	if e.window >= n {
		return
	}
	if e.window == n-1 {
		if cfg.algo == sliding && e.tokens > 0 {
			e.refund, e.refundWin = e.tokens, e.window
		}
		// A caller busy in window n−1 starts at half the lease size it reached.
		e.lease = max(1, e.lease/2)
	} else {
		e.lease = 1
	}
	e.window = n
	e.tokens = 0
	e.sharedLeft = 0
}

// sweep forgets entries that no longer carry state. Called with l.mu held.
func (l *Limiter) sweep(nowMs int64) {
	l.nextSweep = nowMs + sweepEvery.Milliseconds()
	for k, e := range l.entries {
		cfg := l.cfg[k.class]
		// Two windows past: neither tokens nor a refund can matter any more.
		if e.inflight == nil && e.blockedTo <= nowMs && (e.window+2)*cfg.windowMs <= nowMs {
			delete(l.entries, k)
		}
	}
}

// doc is the Firestore document of one (class, identifier).
type doc struct {
	Window int64 `firestore:"window"` // floor(ms epoch / windowMs)
	Count  int64 `firestore:"count"`  // leased in Window
	Prev   int64 `firestore:"prev"`   // leased in Window−1
	// TTL field: enable a Firestore TTL policy on ratelimits.expiresAt.
	ExpiresAt time.Time `firestore:"expiresAt"`
}

// leaseTx runs one lease: it grants up to want tokens of window n and returns
// the grant and the budget left after it. refund is given back to window n−1
// (sliding windows).
//
// It is an optimistic transaction: read the document, then write it with a
// precondition (unchanged update time, or "does not exist yet" via Create);
// on a conflict it re-reads and retries. That is two round trips (a Firestore
// transaction needs three: begin, get, commit) and takes no locks: with the
// emulator's pessimistic locking, two instances leasing the same identifier at
// once stalled each other for 2–3 s. A rejection is a single read.
func (l *Limiter) leaseTx(ctx context.Context, cfg *config, id string, n, nowMs int64, want, refund int) (grant, left int, err error) {
	l.leases.Add(1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	ref := l.fs.Collection(Collection).Doc(DocID(cfg.prefix, id))
	for attempt := 1; ; attempt++ {
		snap, err := ref.Get(ctx)
		exists := err == nil
		if err != nil && status.Code(err) != codes.NotFound {
			return 0, 0, err
		}
		var d doc
		if exists {
			if err := snap.DataTo(&d); err != nil {
				return 0, 0, err
			}
		}
		cur, grant, left, dirty := cfg.apply(d, exists, n, nowMs, want, refund)
		if !dirty {
			return 0, 0, nil // rejected, nothing to record
		}
		if l.beforeWrite != nil {
			l.beforeWrite()
		}
		if exists {
			_, err = ref.Update(ctx, []firestore.Update{
				{Path: "window", Value: cur.Window},
				{Path: "count", Value: cur.Count},
				{Path: "prev", Value: cur.Prev},
				{Path: "expiresAt", Value: cur.ExpiresAt},
			}, firestore.LastUpdateTime(snap.UpdateTime))
		} else {
			_, err = ref.Create(ctx, cur)
		}
		if err == nil {
			l.leaseWrites.Add(1)
			return grant, left, nil
		}
		switch status.Code(err) {
		case codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted, codes.NotFound:
			// Another instance wrote in between (or TTL deleted the
			// document): read again.
			l.conflicts.Add(1)
			if attempt >= maxAttempts {
				return 0, 0, fmt.Errorf("%d conflicting writes: %w", attempt, err)
			}
			pause := time.Duration(attempt) * (5*time.Millisecond + time.Duration(rand.Int64N(int64(10*time.Millisecond))))
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return 0, 0, ctx.Err()
			}
		default:
			return 0, 0, err
		}
	}
}

// apply computes a lease on the stored state d (exists: the document exists).
// It returns the new state, the grant, the budget left after it and whether
// anything must be written.
func (cfg *config) apply(d doc, exists bool, n, nowMs int64, want, refund int) (cur doc, grant, left int, dirty bool) {
	cur = d
	switch {
	case !exists || d.Window < n-1:
		cur = doc{Window: n}
	case d.Window == n-1:
		cur = doc{Window: n, Prev: d.Count}
	}
	// d.Window > n: another instance's clock is ahead; keep its window (never
	// move a document back) and weigh prev fully.
	if refund > 0 && cfg.algo == sliding && cur.Window == n && cur.Prev > 0 {
		cur.Prev = max(0, cur.Prev-int64(refund))
		dirty = true
	}
	used := cur.Count
	if cfg.algo == sliding {
		elapsed := nowMs - n*cfg.windowMs
		if cur.Window != n {
			elapsed = 0
		}
		used += cur.Prev * (cfg.windowMs - elapsed) / cfg.windowMs
	}
	if avail := int64(cfg.limit) - used; avail > 0 {
		g := min(int64(want), avail)
		grant, left = int(g), int(avail-g)
		cur.Count += g
		dirty = true
	}
	// TTL: after the window following cur.Window the document is irrelevant.
	cur.ExpiresAt = time.UnixMilli((cur.Window + 2) * cfg.windowMs).UTC()
	return cur, grant, left, dirty
}

// DocID is the document id in Collection for an identifier of the class with
// the given prefix: prefix ":" escaped id. The id is path-escaped (so "/" never
// appears); ids longer than 200 bytes are replaced by "#" + SHA-256 hex ("#"
// is always escaped, so hashed and escaped ids cannot collide).
func DocID(prefix, id string) string {
	esc := url.PathEscape(id)
	if len(esc) > 200 {
		sum := sha256.Sum256([]byte(id))
		esc = "#" + hex.EncodeToString(sum[:])
	}
	return prefix + ":" + esc
}
