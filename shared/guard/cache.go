package guard

import (
	"context"
	"sync/atomic"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/credcache"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/web"
)

// What a verified credential grants is kept in the instance for at most
// credcache.TTL (DECISIONS §4), so a caller's steady stream of requests reads
// only what the route itself needs:
//
//   - keys: an API key's index entry (hash → owner, key id, lastUsedAt);
//   - badKeys: hashes that were looked up and do not exist (DECISIONS §3);
//   - users: users/{uid} (role, sites) of API-key and session callers; an
//     ID token's user is always read (its mfaEnrolled decides whether a
//     password-only token passes, and enrolment must count at once);
//   - sites: whether sites/{id} exists, and its owner;
//   - session records: kept by session.Manager (MFA complete only).
//
// Only documents that exist are kept, so a site or user created elsewhere
// is seen at once. Revocation is immediate on this instance: E50 calls
// KeyRevoked, sign-out and MFA enrolment go through session.Manager. Roles,
// site assignments and sites are changed by the dashboard in Firestore, not
// through this server: every instance sees such a change within the TTL.
type caches struct {
	keys    *credcache.Map[*apiKey]
	badKeys *credcache.Map[struct{}]
	users   *credcache.Map[User]
	sites   *credcache.Map[siteDoc]
}

// CacheSize bounds each of the guard's caches (entries; a few hundred
// bytes each).
const CacheSize = 4096

// negativeSize bounds the unknown keys remembered (each costs a lookup to
// add, so a flood of them is refused from memory).
const negativeSize = 10000

func (s *Service) caches() *caches {
	s.cacheOnce.Do(func() {
		s.cache = &caches{
			keys:    credcache.New[*apiKey](credcache.TTL, CacheSize),
			badKeys: credcache.New[struct{}](credcache.TTL, negativeSize),
			users:   credcache.New[User](credcache.TTL, CacheSize),
			sites:   credcache.New[siteDoc](credcache.TTL, CacheSize),
		}
	})
	return s.cache
}

// apiKey is a verified API key's index entry.
type apiKey struct {
	uid, keyID string
	lastUsed   atomic.Int64 // ms; 0 when never recorded
}

// siteDoc is the part of sites/{id} the guards read.
type siteDoc struct {
	Owner string
}

// KeyCreated tells the guard that an API key with this hash now exists.
func (s *Service) KeyCreated(hash string) { s.caches().badKeys.Forget(hash) }

// KeyRevoked tells the guard that uid's key keyID was deleted: this
// instance refuses it from the next request on.
func (s *Service) KeyRevoked(uid, keyID string) {
	s.caches().keys.ForgetIf(func(_ string, k *apiKey) bool { return k.uid == uid && k.keyID == keyID })
}

// docs returns p's user document (from memory for API-key and session
// callers) and, when siteID is not "", the site (nil: it does not exist),
// reading what is not in memory in one round trip. p may be nil (site
// only).
func (s *Service) docs(ctx context.Context, p *Principal, siteID string) (*User, *siteDoc, error) {
	uid := ""
	if p != nil {
		uid = p.UID
	}
	_, u, site, err := s.load(ctx, nil, uid, p != nil && p.Via == ViaIDToken, siteID)
	return u, site, err
}

// sessionDocs returns pl's session record (nil: revoked or expired), its
// user and, when siteID is not "", the site, reading what is not in memory
// in one round trip.
func (s *Service) sessionDocs(ctx context.Context, pl *session.Payload, siteID string) (*session.Record, *User, *siteDoc, error) {
	return s.load(ctx, pl, pl.UserID, false, siteID)
}

// load gathers a session record (pl not nil), a user (uid not "") and a site
// (siteID not ""): from memory where it may, the rest in one batched read.
// freshUser forces the user to be read.
func (s *Service) load(ctx context.Context, pl *session.Payload, uid string, freshUser bool, siteID string) (*session.Record, *User, *siteDoc, error) {
	c := s.caches()
	now := s.Now()
	var (
		rec  *session.Record
		user *User
		site *siteDoc
		refs []*firestore.DocumentRef
		// positions in refs (-1: from memory or not wanted)
		iRec, iUser, iSite = -1, -1, -1
	)
	if pl != nil {
		if rec = s.Sessions.Cached(pl); rec == nil {
			iRec, refs = len(refs), append(refs, s.Sessions.Ref(pl.SID))
		}
	}
	if uid != "" {
		if u, ok := c.users.Get(uid, now); ok && !freshUser {
			user = &u
		} else {
			iUser, refs = len(refs), append(refs, s.userRef(uid))
		}
	}
	if siteID != "" {
		if st, ok := c.sites.Get(siteID, now); ok {
			site = &st
		} else {
			iSite, refs = len(refs), append(refs, s.siteRef(siteID))
		}
	}
	if len(refs) == 0 {
		return rec, user, site, nil
	}
	tRec, tUser, tSite := s.Sessions.BeginRead(), c.users.Begin(now), c.sites.Begin(now)
	snaps, err := s.FS.GetAll(ctx, refs)
	if err != nil {
		return nil, nil, nil, web.Internal(err)
	}
	if iRec >= 0 {
		if rec, err = s.Sessions.FromSnapshot(pl, snaps[iRec], nil, tRec); err != nil {
			return nil, nil, nil, web.Internal(err)
		}
	}
	if iUser >= 0 {
		if user, err = decodeUser(snaps[iUser]); err != nil {
			return nil, nil, nil, web.Internal(err)
		}
		if user != nil {
			c.users.Put(uid, *user, tUser)
		}
	}
	if iSite >= 0 && snaps[iSite].Exists() {
		owner, _ := snaps[iSite].Data()["owner"].(string)
		site = &siteDoc{Owner: owner}
		c.sites.Put(siteID, *site, tSite)
	}
	return rec, user, site, nil
}
