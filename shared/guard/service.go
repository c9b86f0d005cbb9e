package guard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/shared/apikey"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// APIKeyPrefix marks owlette API keys.
const APIKeyPrefix = apikey.Prefix

// lastUsedEvery throttles the API key lastUsedAt write (DECISIONS §4).
const lastUsedEvery = time.Minute

// Service holds the clients the guards need; one per instance.
type Service struct {
	FS       *firestore.Client
	Auth     *auth.Client
	Sessions *session.Manager
	Now      func() time.Time

	// Config holds the shared secrets of the Internal and Cron guards
	// (CORTEX_INTERNAL_SECRET, CRON_SECRET; "" refuses every secret).
	Config *config.Config
	// OIDC configures the Google-signed tokens Internal and Cron accept
	// (nil: none).
	OIDC *OIDC

	cacheOnce sync.Once
	cache     *caches
}

// Public errors, shared so tests and clients see stable texts.
var (
	ErrNoCredential = web.Unauthorized("Unauthorized: no valid session")
	ErrAPIKey       = web.Unauthorized("Invalid API key")
	ErrIDToken      = web.Unauthorized("Invalid or expired ID token")
	ErrMFARequired  = web.Forbidden("MFA verification required: complete the second sign-in step first").With("mfaRequired", true)
	ErrAdmin        = web.Forbidden("Forbidden: admin access required")
	ErrSiteNotFound = web.NotFound("Site not found")
	ErrNoSiteAccess = web.Forbidden("Forbidden: you do not have access to this site")
	ErrUserMismatch = web.Forbidden("Forbidden: user mismatch")
	ErrAgentHeader  = web.Unauthorized("Missing or invalid Authorization header")
	ErrAgentToken   = web.Unauthorized("Invalid or expired token")
	ErrNotAgent     = web.Forbidden("Forbidden: not an agent token")
	ErrAgentSite    = web.Forbidden("Forbidden: token is not valid for this site")
	ErrInternal     = web.Unauthorized("Unauthorized")
	ErrKeyInQuery   = web.BadRequest("API keys are not accepted in the URL query string (URLs end up in logs): send the key in the x-api-key header or as Authorization: Bearer owk_…")
)

// HashKey is the SHA-256 hex under which an API key is indexed.
func HashKey(raw string) string { return apikey.Hash(raw) }

func (s *Service) userRef(uid string) *firestore.DocumentRef {
	return s.FS.Collection("users").Doc(uid)
}
func (s *Service) siteRef(id string) *firestore.DocumentRef { return s.FS.Collection("sites").Doc(id) }

// authenticate runs the credential part of an early guard.
func (s *Service) authenticate(r *http.Request, st *state) (*Principal, error) {
	g := st.g
	switch g.k {
	case kSession:
		return s.session(r, st, true)
	case kSessionOrIDToken:
		p, err := s.session(r, st, false)
		if p != nil || err != nil {
			return p, err
		}
		p, err = s.idToken(r)
		if p == nil && err == nil {
			err = ErrNoCredential
		}
		if err != nil {
			return nil, err
		}
		if p.User, _, err = s.docs(r.Context(), p, ""); err != nil {
			return nil, err
		}
		return p, checkSecondFactor(p)
	case kAdmin, kAdminSite:
		p, _, err := s.credential(r, st, "")
		if err != nil {
			return nil, err
		}
		if !p.IsAdmin() {
			return nil, ErrAdmin
		}
		return p, nil
	case kAgent:
		return s.agent(r)
	case kInternal:
		return s.internal(r, g.header)
	case kCron:
		return s.cron(r)
	}
	return nil, web.Internal(fmt.Errorf("guard %s has no early check", g))
}

// Site completes a site-scoped guard (AdminSite, Member, SessionSite, Agent)
// for siteID, returning the caller.
func Site(r *http.Request, siteID string) (*Principal, error) {
	st := from(r)
	if st == nil || !st.g.needsSite() {
		return nil, web.Internal(errors.New("guard.Site called on a route whose guard is not site-scoped"))
	}
	if !store.ValidID(siteID) {
		return nil, ErrSiteNotFound
	}
	p, err := st.svc.site(r, st, siteID)
	if err != nil {
		return nil, err
	}
	if st.p == nil { // resolved here, not by an early check
		if err := st.authenticated(p); err != nil {
			return nil, err
		}
	}
	st.checked.Store(true)
	return p, nil
}

// SelfUser completes the Self guard: the session's user must be uid.
func SelfUser(r *http.Request, uid string) (*Principal, error) {
	st := from(r)
	if st == nil || st.g.k != kSelf {
		return nil, web.Internal(errors.New("guard.SelfUser called on a route whose guard is not Self"))
	}
	p, err := st.svc.session(r, st, true)
	if err != nil {
		return nil, err
	}
	if err := st.authenticated(p); err != nil {
		return nil, err
	}
	if p.UID != uid {
		return nil, ErrUserMismatch
	}
	st.checked.Store(true)
	return p, nil
}

func (s *Service) site(r *http.Request, st *state, siteID string) (*Principal, error) {
	ctx := r.Context()
	switch st.g.k {
	case kAdminSite:
		_, site, err := s.docs(ctx, nil, siteID)
		if err != nil {
			return nil, err
		}
		if site == nil {
			return nil, ErrSiteNotFound
		}
		return st.p, nil
	case kAgent:
		if c := st.p.Claim("site_id"); c != "" && c != siteID {
			return nil, ErrAgentSite
		}
		return st.p, nil
	case kMember, kSessionSite:
		var p *Principal
		var site *siteDoc
		var err error
		if st.g.k == kSessionSite {
			p, site, err = s.sessionWithSite(r, st, siteID)
		} else {
			p, site, err = s.credential(r, st, siteID)
		}
		if err != nil {
			return nil, err
		}
		if site == nil {
			return nil, ErrSiteNotFound
		}
		if p.IsAdmin() || p.User.assigned(siteID) || (site.Owner != "" && site.Owner == p.UID) {
			return p, nil
		}
		return nil, ErrNoSiteAccess
	}
	return nil, web.Internal(fmt.Errorf("guard %s is not site-scoped", st.g))
}

// credential resolves the caller of an API-key-accepting guard (API key,
// then session, then Bearer ID token) and loads users/{uid} and, when
// siteID is not "", the site, reading together whatever is not cached.
func (s *Service) credential(r *http.Request, st *state, siteID string) (*Principal, *siteDoc, error) {
	ctx := r.Context()
	p, err := s.apiKey(r)
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		if pl := st.cookie(r); pl != nil {
			rec, user, site, err := s.sessionDocs(ctx, pl, siteID)
			if err != nil {
				return nil, nil, err
			}
			if rec != nil {
				if !rec.MFADone() && !st.g.pendingOK {
					return nil, nil, ErrMFARequired
				}
				return &Principal{UID: pl.UserID, Via: ViaSession, SID: pl.SID, Session: rec, User: user}, site, nil
			}
		}
	}
	if p == nil {
		if p, err = s.idToken(r); err != nil {
			return nil, nil, err
		}
		if p == nil {
			return nil, nil, ErrNoCredential
		}
	}
	user, site, err := s.docs(ctx, p, siteID)
	if err != nil {
		return nil, nil, err
	}
	p.User = user
	if err := checkSecondFactor(p); err != nil {
		return nil, nil, err
	}
	return p, site, nil
}

// session resolves a session-cookie principal (no user doc).
func (s *Service) session(r *http.Request, st *state, required bool) (*Principal, error) {
	pl := st.cookie(r)
	if pl == nil {
		if required {
			return nil, ErrNoCredential
		}
		return nil, nil
	}
	rec, err := s.Sessions.Load(r.Context(), pl)
	if err != nil {
		return nil, web.Internal(err)
	}
	if rec == nil {
		if required {
			return nil, ErrNoCredential
		}
		return nil, nil
	}
	if !rec.MFADone() && !st.g.pendingOK {
		return nil, ErrMFARequired
	}
	return &Principal{UID: pl.UserID, Via: ViaSession, SID: pl.SID, Session: rec}, nil
}

// sessionWithSite resolves a session and loads its record, user and site
// (what is not cached, in one round trip).
func (s *Service) sessionWithSite(r *http.Request, st *state, siteID string) (*Principal, *siteDoc, error) {
	pl := st.cookie(r)
	if pl == nil {
		return nil, nil, ErrNoCredential
	}
	rec, user, site, err := s.sessionDocs(r.Context(), pl, siteID)
	if err != nil {
		return nil, nil, err
	}
	if rec == nil {
		return nil, nil, ErrNoCredential
	}
	if !rec.MFADone() && !st.g.pendingOK {
		return nil, nil, ErrMFARequired
	}
	return &Principal{UID: pl.UserID, Via: ViaSession, SID: pl.SID, Session: rec, User: user}, site, nil
}

// apiKey resolves x-api-key or "Authorization: Bearer owk_…". It returns
// (nil, nil) when no key is presented.
func (s *Service) apiKey(r *http.Request) (*Principal, error) {
	if strings.Contains(r.URL.RawQuery, "api_key") && r.URL.Query().Has("api_key") {
		return nil, ErrKeyInQuery
	}
	key := strings.TrimSpace(r.Header.Get("X-Api-Key"))
	if !strings.HasPrefix(key, APIKeyPrefix) {
		key = ""
		if b := bearer(r); strings.HasPrefix(b, APIKeyPrefix) {
			key = b
		}
	}
	if key == "" {
		return nil, nil
	}
	if !wellFormedKey(key) { // cannot exist: no lookup
		return nil, ErrAPIKey
	}
	ctx := r.Context()
	c := s.caches()
	hash := HashKey(key)
	now := s.Now()
	k, ok := c.keys.Get(hash, now)
	if !ok {
		if _, bad := c.badKeys.Get(hash, now); bad {
			return nil, ErrAPIKey
		}
		var err error
		if k, err = s.readKey(ctx, hash); err != nil {
			return nil, err
		}
	}
	s.touchKey(ctx, hash, k)
	return &Principal{UID: k.uid, Via: ViaAPIKey, APIKeyID: k.keyID}, nil
}

// readKey reads the index entry of an API key hash and remembers it (or
// that it does not exist).
func (s *Service) readKey(ctx context.Context, hash string) (*apiKey, error) {
	c := s.caches()
	t := c.keys.Begin(s.Now())
	snap, err := apikey.IndexRef(s.FS, hash).Get(ctx)
	if err != nil {
		if store.NotFound(err) {
			c.badKeys.Put(hash, struct{}{}, c.badKeys.Begin(s.Now()))
			return nil, ErrAPIKey
		}
		return nil, web.Internal(err)
	}
	var idx struct {
		UserID     string `firestore:"userId"`
		KeyID      string `firestore:"keyId"`
		LastUsedAt any    `firestore:"lastUsedAt"`
	}
	if err := snap.DataTo(&idx); err != nil || idx.UserID == "" {
		return nil, ErrAPIKey.Wrap(err)
	}
	k := &apiKey{uid: idx.UserID, keyID: idx.KeyID}
	if ms, ok := idx.LastUsedAt.(int64); ok {
		k.lastUsed.Store(ms)
	}
	c.keys.Put(hash, k, t)
	return k, nil
}

// wellFormedKey reports whether key has the one format keys are minted in
// (api.md §1.7: "owk_" + 43 base64url characters).
func wellFormedKey(key string) bool {
	if len(key) != len(APIKeyPrefix)+43 {
		return false
	}
	for _, c := range key[len(APIKeyPrefix):] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// touchKey records lastUsedAt at most once a minute per key, across all
// instances: the index document carries the last write time (read with the
// key, at most TTL ago), so a read-only request normally costs no write,
// and of concurrent requests on one instance only one writes. It runs
// before the response (never after).
func (s *Service) touchKey(ctx context.Context, hash string, k *apiKey) {
	now := s.Now().UnixMilli()
	last := k.lastUsed.Load()
	if now-last < lastUsedEvery.Milliseconds() || !k.lastUsed.CompareAndSwap(last, now) {
		return
	}
	b := s.FS.Batch()
	b.Update(apikey.IndexRef(s.FS, hash), []firestore.Update{{Path: "lastUsedAt", Value: now}})
	b.Update(apikey.UserKeys(s.FS, k.uid).Doc(k.keyID), []firestore.Update{{Path: "lastUsedAt", Value: now}})
	if _, err := b.Commit(ctx); err != nil {
		logging.From(ctx).Warn("api key lastUsedAt not recorded", "keyId", k.keyID, "error", err.Error())
	}
}

// idToken verifies a Bearer Firebase ID token (not an API key). It returns
// (nil, nil) when no bearer token is presented.
func (s *Service) idToken(r *http.Request) (*Principal, error) {
	b := bearer(r)
	if b == "" || strings.HasPrefix(b, APIKeyPrefix) {
		return nil, nil
	}
	tok, err := s.Auth.VerifyIDToken(r.Context(), b)
	if err != nil {
		return nil, verifyError(ErrIDToken, err)
	}
	return &Principal{UID: tok.UID, Via: ViaIDToken, Token: tok}, nil
}

// agent verifies an agent's Bearer ID token and its role claim.
func (s *Service) agent(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") || len(h) == len("Bearer ") {
		return nil, ErrAgentHeader
	}
	tok, err := s.Auth.VerifyIDToken(r.Context(), h[len("Bearer "):])
	if err != nil {
		return nil, verifyError(ErrAgentToken, err)
	}
	if role, _ := tok.Claims["role"].(string); role != "agent" {
		return nil, ErrNotAgent
	}
	return &Principal{UID: tok.UID, Via: ViaAgent, Token: tok}, nil
}

func decodeUser(snap *firestore.DocumentSnapshot) (*User, error) {
	if snap == nil || !snap.Exists() {
		return nil, nil
	}
	var u User
	if err := snap.DataTo(&u); err != nil {
		// A malformed field (e.g. sites not an array) must not lock the
		// user out of everything: read what can be read.
		d := snap.Data()
		u.Role, _ = d["role"].(string)
		u.Email, _ = d["email"].(string)
	}
	return &u, nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
