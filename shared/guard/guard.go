// Package guard resolves who is calling (session cookie, API key, Firebase ID
// token, agent token, internal secret, Cloud Scheduler / Cloud Tasks OIDC
// token) and decides whether they may (the G-* guards of api.md §1.5, and
// the internal callers of DECISIONS §3). Every route declares its guard
// where it is registered; a handler whose guard never completed its check
// cannot send a successful response (see Bind), so a forgotten check fails
// closed instead of leaking data.
package guard

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/owlette/server/shared/session"
)

type kind int

const (
	kPublic           kind = iota // G-NONE
	kSession                      // G-SESSION
	kSessionOrIDToken             // G-SESSION-OR-IDT
	kAdmin                        // G-ADMIN
	kAdminSite                    // G-ADMIN-SITE(siteId)
	kMember                       // G-MEMBER(siteId)
	kSessionSite                  // G-SESSION-SITE(siteId)
	kSelf                         // G-SELF(uid)
	kAgent                        // G-AGENT
	kInternal                     // internal secret header, or OIDC
	kCron                         // cron secret, or OIDC
)

// Guard is a route's declared authorization policy.
type Guard struct {
	k         kind
	pendingOK bool
	header    string // kInternal: the header carrying CORTEX_INTERNAL_SECRET
}

// The guards of api.md §1.5.
var (
	// Public routes need no credential (they may check secrets themselves).
	Public = Guard{k: kPublic}
	// Session needs a session cookie.
	Session = Guard{k: kSession}
	// SessionOrIDToken needs a session cookie or a Bearer Firebase ID token.
	SessionOrIDToken = Guard{k: kSessionOrIDToken}
	// Admin needs an admin user (API key, session or Bearer ID token).
	Admin = Guard{k: kAdmin}
	// AdminSite is Admin, then the handler names the site with Site.
	AdminSite = Guard{k: kAdminSite}
	// Member needs site access (owner, assigned, or admin); the whole check
	// runs when the handler calls Site, after its parameter validation.
	Member = Guard{k: kMember}
	// SessionSite is Member restricted to session cookies.
	SessionSite = Guard{k: kSessionSite}
	// Self needs a session whose user is the one named in the request (Self).
	Self = Guard{k: kSelf}
	// Agent needs an agent ID token; the handler checks the site with Site.
	Agent = Guard{k: kAgent}
	// Cron is for scheduled endpoints: X-Cron-Secret or "Authorization:
	// Bearer" with CRON_SECRET, or a Cloud Scheduler OIDC token of the
	// configured service account and audience.
	Cron = Guard{k: kCron}
)

// Internal is for calls between functions: the named header must carry
// CORTEX_INTERNAL_SECRET (x-internal-secret on X09, x-cortex-secret on E53
// and E55), or the request carries a Cloud Tasks / Scheduler OIDC token of
// the configured service account and audience.
func Internal(header string) Guard { return Guard{k: kInternal, header: header} }

// AllowPendingMFA lets a session that has not finished MFA through (only for
// the MFA verification, session and passkey routes).
func (g Guard) AllowPendingMFA() Guard { g.pendingOK = true; return g }

// String names the guard in logs.
func (g Guard) String() string {
	return [...]string{"public", "session", "session-or-idtoken", "admin", "admin-site", "member", "session-site", "self", "agent", "internal", "cron"}[g.k]
}

// early reports whether credential resolution runs before the handler
// (api.md "Order" lines: these guards are checked before the body).
func (g Guard) early() bool {
	switch g.k {
	case kSession, kSessionOrIDToken, kAdmin, kAdminSite, kAgent, kInternal, kCron:
		return true
	}
	return false
}

// needsSite reports whether the handler must finish the check with Site.
func (g Guard) needsSite() bool {
	switch g.k {
	case kAdminSite, kMember, kSessionSite, kAgent:
		return true
	}
	return false
}

// Sessionless reports whether the guard takes no session cookie (public
// routes, agents and internal callers ignore one).
func (g Guard) Sessionless() bool {
	switch g.k {
	case kPublic, kAgent, kInternal, kCron:
		return true
	}
	return false
}

// Header is the secret header an Internal guard reads ("" for others).
func (g Guard) Header() string { return g.header }

type state struct {
	svc     *Service
	g       Guard
	checked atomic.Bool
	p       *Principal
	onAuth  func(*Principal) error

	// The request's session cookie, unsealed once (cookie).
	cookieRead bool
	payload    *session.Payload
}

// cookie returns the request's unsealed session cookie (nil when absent or
// not valid), unsealing it only once per request.
func (st *state) cookie(r *http.Request) *session.Payload {
	if !st.cookieRead {
		st.payload, st.cookieRead = st.svc.Sessions.Read(r), true
	}
	return st.payload
}

// authenticated records the resolved caller and tells the route (its
// rate limit is charged to callers who proved who they are).
func (st *state) authenticated(p *Principal) error {
	st.p = p
	if st.onAuth != nil {
		return st.onAuth(p)
	}
	return nil
}

type ctxKey struct{}

// Bind attaches the route's guard to the request and, for guards that check
// credentials before the body, runs that check. onAuth (may be nil) runs
// once the caller is authenticated, before the route's own checks. It
// returns the request to pass on and a function reporting whether
// authorization was completed.
func Bind(r *http.Request, svc *Service, g Guard, onAuth func(*Principal) error) (*http.Request, func() bool, error) {
	st := &state{svc: svc, g: g, onAuth: onAuth}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
	if g.k == kPublic {
		st.checked.Store(true)
	}
	// A session still waiting for its MFA step is refused on every guarded
	// route that does not allow it, before the handler reads anything, unless
	// the request carries another credential (API key or bearer token).
	if !g.Sessionless() && !g.pendingOK && r.Header.Get("X-Api-Key") == "" && r.Header.Get("Authorization") == "" {
		if pl := st.cookie(r); pl != nil && pl.Pending() {
			return r, st.checked.Load, ErrMFARequired
		}
	}
	if g.early() {
		p, err := svc.authenticate(r, st)
		if err != nil {
			return r, st.checked.Load, err
		}
		if err := st.authenticated(p); err != nil {
			return r, st.checked.Load, err
		}
		if !g.needsSite() {
			st.checked.Store(true)
		}
	}
	return r, st.checked.Load, nil
}

func from(r *http.Request) *state {
	st, _ := r.Context().Value(ctxKey{}).(*state)
	return st
}

// Caller returns the principal the route's guard resolved, or nil.
func Caller(r *http.Request) *Principal {
	if st := from(r); st != nil {
		return st.p
	}
	return nil
}

// PendingOK reports whether the guard lets a session waiting for its MFA
// step through (AllowPendingMFA).
func (g Guard) PendingOK() bool { return g.pendingOK }
