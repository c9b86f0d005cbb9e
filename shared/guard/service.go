package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"firebase.google.com/go/v4/auth"

	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// APIKeyPrefix marks owlette API keys.
const APIKeyPrefix = "owk_"

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

	badKeys negativeCache // API keys that were looked up and not found
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
func HashKey(raw string) string {
	s := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(s[:])
}

func (s *Service) userRef(uid string) *firestore.DocumentRef {
	return s.FS.Collection("users").Doc(uid)
}
func (s *Service) siteRef(id string) *firestore.DocumentRef { return s.FS.Collection("sites").Doc(id) }

// authenticate runs the credential part of an early guard.
func (s *Service) authenticate(r *http.Request, g Guard) (*Principal, error) {
	switch g.k {
	case kSession:
		return s.session(r, g, true)
	case kSessionOrIDToken:
		p, err := s.session(r, g, false)
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
		if p.User, err = s.loadUser(r.Context(), p.UID); err != nil {
			return nil, err
		}
		return p, checkSecondFactor(p)
	case kAdmin, kAdminSite:
		p, err := s.adminCredential(r, g)
		if err != nil {
			return nil, err
		}
		if p.User == nil {
			if p.User, err = s.loadUser(r.Context(), p.UID); err != nil {
				return nil, err
			}
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
	p, err := st.svc.session(r, st.g, true)
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
		snap, err := s.siteRef(siteID).Get(ctx)
		if err != nil && !store.NotFound(err) {
			return nil, web.Internal(err)
		}
		if snap == nil || !snap.Exists() {
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
		var err error
		var siteSnap *firestore.DocumentSnapshot
		if st.g.k == kSessionSite {
			p, siteSnap, err = s.sessionWithSite(r, st.g, siteID)
		} else {
			p, siteSnap, err = s.memberCredential(r, st.g, siteID)
		}
		if err != nil {
			return nil, err
		}
		if siteSnap == nil || !siteSnap.Exists() {
			return nil, ErrSiteNotFound
		}
		if p.IsAdmin() || p.User.assigned(siteID) {
			return p, nil
		}
		if owner, _ := siteSnap.Data()["owner"].(string); owner != "" && owner == p.UID {
			return p, nil
		}
		return nil, ErrNoSiteAccess
	}
	return nil, web.Internal(fmt.Errorf("guard %s is not site-scoped", st.g))
}

// adminCredential resolves API key, then session, then Bearer ID token.
func (s *Service) adminCredential(r *http.Request, g Guard) (*Principal, error) {
	p, _, err := s.credential(r, g, nil)
	return p, err
}

// memberCredential is adminCredential that also reads the user and the site,
// batching the reads with the session record where it can.
func (s *Service) memberCredential(r *http.Request, g Guard, siteID string) (*Principal, *firestore.DocumentSnapshot, error) {
	return s.credential(r, g, s.siteRef(siteID))
}

// credential resolves the caller of an API-key-accepting guard and loads
// users/{uid} plus extra (if any) in as few round trips as possible.
func (s *Service) credential(r *http.Request, g Guard, extra *firestore.DocumentRef) (*Principal, *firestore.DocumentSnapshot, error) {
	ctx := r.Context()
	p, err := s.apiKey(r)
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		if pl := s.Sessions.Read(r); pl != nil {
			refs := []*firestore.DocumentRef{s.Sessions.Ref(pl.SID), s.userRef(pl.UserID)}
			if extra != nil {
				refs = append(refs, extra)
			}
			snaps, err := s.FS.GetAll(ctx, refs)
			if err != nil {
				return nil, nil, web.Internal(err)
			}
			rec, err := s.Sessions.FromSnapshot(pl, snaps[0], nil)
			if err != nil {
				return nil, nil, web.Internal(err)
			}
			if rec != nil {
				if !rec.MFADone() && !g.pendingOK {
					return nil, nil, ErrMFARequired
				}
				p = &Principal{UID: pl.UserID, Via: ViaSession, SID: pl.SID, Session: rec}
				if p.User, err = decodeUser(snaps[1]); err != nil {
					return nil, nil, web.Internal(err)
				}
				var ex *firestore.DocumentSnapshot
				if extra != nil {
					ex = snaps[2]
				}
				return p, ex, nil
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
	refs := []*firestore.DocumentRef{s.userRef(p.UID)}
	if extra != nil {
		refs = append(refs, extra)
	}
	snaps, err := s.FS.GetAll(ctx, refs)
	if err != nil {
		return nil, nil, web.Internal(err)
	}
	if p.User, err = decodeUser(snaps[0]); err != nil {
		return nil, nil, web.Internal(err)
	}
	if err := checkSecondFactor(p); err != nil {
		return nil, nil, err
	}
	if extra != nil {
		return p, snaps[1], nil
	}
	return p, nil, nil
}

// session resolves a session-cookie principal (no user doc).
func (s *Service) session(r *http.Request, g Guard, required bool) (*Principal, error) {
	pl := s.Sessions.Read(r)
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
	if !rec.MFADone() && !g.pendingOK {
		return nil, ErrMFARequired
	}
	return &Principal{UID: pl.UserID, Via: ViaSession, SID: pl.SID, Session: rec}, nil
}

// sessionWithSite resolves a session and reads its record, user and site in
// one round trip.
func (s *Service) sessionWithSite(r *http.Request, g Guard, siteID string) (*Principal, *firestore.DocumentSnapshot, error) {
	pl := s.Sessions.Read(r)
	if pl == nil {
		return nil, nil, ErrNoCredential
	}
	snaps, err := s.FS.GetAll(r.Context(), []*firestore.DocumentRef{s.Sessions.Ref(pl.SID), s.userRef(pl.UserID), s.siteRef(siteID)})
	if err != nil {
		return nil, nil, web.Internal(err)
	}
	rec, err := s.Sessions.FromSnapshot(pl, snaps[0], nil)
	if err != nil {
		return nil, nil, web.Internal(err)
	}
	if rec == nil {
		return nil, nil, ErrNoCredential
	}
	if !rec.MFADone() && !g.pendingOK {
		return nil, nil, ErrMFARequired
	}
	p := &Principal{UID: pl.UserID, Via: ViaSession, SID: pl.SID, Session: rec}
	if p.User, err = decodeUser(snaps[1]); err != nil {
		return nil, nil, web.Internal(err)
	}
	return p, snaps[2], nil
}

// apiKey resolves x-api-key or "Authorization: Bearer owk_…". It returns
// (nil, nil) when no key is presented.
func (s *Service) apiKey(r *http.Request) (*Principal, error) {
	if r.URL.Query().Has("api_key") {
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
	ctx := r.Context()
	hash := HashKey(key)
	if s.badKeys.has(hash, s.Now()) {
		return nil, ErrAPIKey
	}
	ref := s.FS.Collection("api_keys").Doc(hash)
	snap, err := ref.Get(ctx)
	if err != nil {
		if store.NotFound(err) {
			s.badKeys.add(hash, s.Now())
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
	s.touchKey(ctx, ref, idx.UserID, idx.KeyID, idx.LastUsedAt)
	return &Principal{UID: idx.UserID, Via: ViaAPIKey, APIKeyID: idx.KeyID}, nil
}

// touchKey records lastUsedAt at most once a minute per key, across all
// instances: the index document carries the last write time, so a read-only
// request normally costs no write. It runs before the response (never after).
func (s *Service) touchKey(ctx context.Context, idx *firestore.DocumentRef, uid, keyID string, last any) {
	now := s.Now()
	if ms, ok := last.(int64); ok && now.Sub(time.UnixMilli(ms)) < lastUsedEvery {
		return
	}
	ms := now.UnixMilli()
	b := s.FS.Batch()
	b.Update(idx, []firestore.Update{{Path: "lastUsedAt", Value: ms}})
	b.Update(s.userRef(uid).Collection("api_keys").Doc(keyID), []firestore.Update{{Path: "lastUsedAt", Value: ms}})
	if _, err := b.Commit(ctx); err != nil {
		logging.From(ctx).Warn("api key lastUsedAt not recorded", "keyId", keyID, "error", err.Error())
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
		return nil, ErrIDToken.Wrap(err)
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
		return nil, ErrAgentToken.Wrap(err)
	}
	if role, _ := tok.Claims["role"].(string); role != "agent" {
		return nil, ErrNotAgent
	}
	return &Principal{UID: tok.UID, Via: ViaAgent, Token: tok}, nil
}

func (s *Service) loadUser(ctx context.Context, uid string) (*User, error) {
	snap, err := s.userRef(uid).Get(ctx)
	if err != nil && !store.NotFound(err) {
		return nil, web.Internal(err)
	}
	u, err := decodeUser(snap)
	if err != nil {
		return nil, web.Internal(err)
	}
	return u, nil
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
