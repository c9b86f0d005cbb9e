// Package session issues and reads the `__session` cookie (an iron-session
// compatible seal, so the Node dashboard can still read userId/expiresAt) and
// keeps the server-side record `sessions/{sid}` that makes sessions revocable
// and carries the MFA state.
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/credcache"
	"github.com/owlette/server/shared/iron"
	"github.com/owlette/server/shared/store"
)

const (
	// CookieName is the only cookie Firebase Hosting forwards to functions.
	CookieName = "__session"
	// CookieMaxAge is fixed at 7 days whatever the logical lifetime.
	CookieMaxAge = 7 * 24 * time.Hour
	// SealTTL is iron-session's default seal lifetime.
	SealTTL = 14 * 24 * time.Hour
	// Collection holds the server-side session records.
	Collection = "sessions"
)

// MFA states of a session.
const (
	MFAComplete = "complete" // no MFA enrolled, or verified, or passkey login
	MFAPending  = "pending"  // MFA enrolled, code not yet verified
)

// Payload is what the cookie seal carries. userId and expiresAt are the
// fields iron-session readers in the dashboard rely on.
type Payload struct {
	UserID    string `json:"userId"`
	ExpiresAt int64  `json:"expiresAt"`
	SID       string `json:"sid,omitempty"`
	// MFA is "pending" while the second step is due. It lets every guard
	// refuse a pending session before reading anything; the record in
	// Firestore stays the authority for everything else.
	MFA string `json:"mfa,omitempty"`
}

// Pending reports whether the cookie says the MFA step is still due.
func (p *Payload) Pending() bool { return p.MFA == MFAPending }

// Record is the server-side session document.
type Record struct {
	UserID    string    `firestore:"userId"`
	CreatedAt time.Time `firestore:"createdAt"`
	ExpiresAt time.Time `firestore:"expiresAt"`
	MFA       string    `firestore:"mfa"`
	Method    string    `firestore:"method"` // "idToken" or "passkey"
	// ExpireAt drives a Firestore TTL policy; it is the later of the logical
	// expiry and the cookie lifetime.
	ExpireAt time.Time `firestore:"expireAt"`
}

// MFADone reports whether the session passed MFA (or needs none).
func (r *Record) MFADone() bool { return r.MFA != MFAPending }

// Manager seals cookies and stores records. It keeps the records it read
// (MFA complete only) for at most credcache.TTL: Revoke, RevokeOthers and
// SetMFA forget them at once on this instance; other instances read the
// change within the TTL (DECISIONS §4).
type Manager struct {
	sealer  *iron.Sealer
	fs      *firestore.Client
	secure  bool
	now     func() time.Time
	records *credcache.Map[Record]
	seals   *credcache.Map[Payload] // cookie value → what it unsealed to
}

// CacheSize bounds the session records an instance keeps in memory.
const CacheSize = 4096

// NewManager builds a Manager; secure sets the cookie's Secure attribute.
func NewManager(secret string, fs *firestore.Client, secure bool, now func() time.Time) (*Manager, error) {
	s, err := iron.NewSealer(secret)
	if err != nil {
		return nil, err
	}
	return &Manager{sealer: s, fs: fs, secure: secure, now: now,
		records: credcache.New[Record](credcache.TTL, CacheSize), seals: credcache.New[Payload](credcache.TTL, CacheSize)}, nil
}

// Ref is the Firestore document of a session id.
func (m *Manager) Ref(sid string) *firestore.DocumentRef { return m.fs.Collection(Collection).Doc(sid) }

// Create stores a new session record and sets the cookie on w.
func (m *Manager) Create(ctx context.Context, w http.ResponseWriter, uid string, expiresAt time.Time, mfa, method string) (string, error) {
	sid, err := newSID()
	if err != nil {
		return "", err
	}
	now := m.now()
	expireAt := expiresAt
	if c := now.Add(CookieMaxAge); c.After(expireAt) {
		expireAt = c
	}
	rec := Record{UserID: uid, CreatedAt: now, ExpiresAt: expiresAt, MFA: mfa, Method: method, ExpireAt: expireAt}
	if _, err := m.Ref(sid).Create(ctx, rec); err != nil {
		return "", err
	}
	p := Payload{UserID: uid, ExpiresAt: expiresAt.UnixMilli(), SID: sid}
	if mfa == MFAPending {
		p.MFA = MFAPending
	}
	if err := m.setCookie(w, p); err != nil {
		return "", err
	}
	return sid, nil
}

// CompleteMFA records the finished second step on the session and re-issues
// its cookie without the pending mark (same id and expiry).
func (m *Manager) CompleteMFA(ctx context.Context, w http.ResponseWriter, uid, sid string, expiresAt int64) error {
	if err := m.SetMFA(ctx, sid, MFAComplete); err != nil {
		return err
	}
	return m.setCookie(w, Payload{UserID: uid, ExpiresAt: expiresAt, SID: sid})
}

func (m *Manager) setCookie(w http.ResponseWriter, p Payload) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	seal, err := m.sealer.Seal(b, SealTTL, m.now())
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: seal, Path: "/", MaxAge: int(CookieMaxAge.Seconds()),
		Expires: m.now().Add(CookieMaxAge), HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// Clear emits the clearing cookie.
func (m *Manager) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode,
	})
}

// Read unseals the request's cookie. It returns nil when there is no cookie,
// the seal is invalid or foreign, or the logical session has expired; such a
// request is simply unauthenticated. Cookies without a session id (issued
// before server-side sessions) are refused: they cannot be revoked and carry
// no MFA state, so their users sign in once more.
//
// A cookie that unsealed is remembered for at most credcache.TTL (never past
// its seal's expiry), so a browser's stream of requests is unsealed once.
func (m *Manager) Read(r *http.Request) *Payload {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	now := m.now()
	p, ok := m.seals.Get(c.Value, now)
	if !ok {
		t := m.seals.Begin(now)
		raw, err := m.sealer.Unseal(c.Value, now)
		if err != nil {
			return nil
		}
		if err := json.Unmarshal(raw, &p); err != nil || p.UserID == "" || p.SID == "" {
			return nil
		}
		if sealExpiry(c.Value) > now.Add(credcache.TTL).UnixMilli() {
			m.seals.Put(c.Value, p, t)
		}
	}
	if now.UnixMilli() > p.ExpiresAt {
		return nil
	}
	return &p
}

// sealExpiry is when iron stops accepting seal (ms; its expiry plus the
// 60 s skew iron allows), or 0 when the seal does not say (then it is not
// remembered).
func sealExpiry(seal string) int64 {
	// Fe26.2*id*encSalt*iv*ciphertext*expMs*macSalt*mac~2
	parts := strings.SplitN(seal, "*", 7)
	if len(parts) < 7 {
		return 0
	}
	ms, err := strconv.ParseInt(parts[5], 10, 64)
	if err != nil {
		return 0
	}
	return ms + 60_000
}

// Load returns the record of p, or nil when it was revoked or expired.
func (m *Manager) Load(ctx context.Context, p *Payload) (*Record, error) {
	if rec := m.Cached(p); rec != nil {
		return rec, nil
	}
	t := m.BeginRead()
	snap, err := m.Ref(p.SID).Get(ctx)
	return m.FromSnapshot(p, snap, err, t)
}

// Cached returns p's record if this instance read it less than
// credcache.TTL ago and it is still valid for p, else nil.
func (m *Manager) Cached(p *Payload) *Record {
	rec, ok := m.records.Get(p.SID, m.now())
	if !ok || !m.valid(p, &rec) {
		return nil
	}
	return &rec
}

// BeginRead is called before reading a record (alone or in a batch) whose
// snapshot goes to FromSnapshot.
func (m *Manager) BeginRead() credcache.Ticket { return m.records.Begin(m.now()) }

// FromSnapshot validates a record read as part of a batch (see guard) and
// keeps it in memory when its MFA step is done; t is the BeginRead taken
// before the read.
func (m *Manager) FromSnapshot(p *Payload, snap *firestore.DocumentSnapshot, err error, t credcache.Ticket) (*Record, error) {
	if err != nil && !store.NotFound(err) {
		return nil, err
	}
	if snap == nil || !snap.Exists() {
		return nil, nil
	}
	var rec Record
	if err := snap.DataTo(&rec); err != nil {
		return nil, err
	}
	if !m.valid(p, &rec) {
		return nil, nil
	}
	// A pending record is not kept: it changes when the code is verified,
	// possibly on another instance.
	if rec.MFADone() {
		m.records.Put(p.SID, rec, t)
	}
	return &rec, nil
}

func (m *Manager) valid(p *Payload, rec *Record) bool {
	return rec.UserID == p.UserID && !m.now().After(rec.ExpiresAt)
}

// Revoke deletes a session record; this instance refuses it from now on.
func (m *Manager) Revoke(ctx context.Context, sid string) error {
	_, err := m.Ref(sid).Delete(ctx)
	m.records.Forget(sid)
	return err
}

// SetMFA records a completed MFA step on a session.
func (m *Manager) SetMFA(ctx context.Context, sid, state string) error {
	_, err := m.Ref(sid).Update(ctx, []firestore.Update{{Path: "mfa", Value: state}})
	m.records.Forget(sid)
	return err
}

// RevokeOthers deletes every session of uid except keep; this instance
// refuses them from now on.
func (m *Manager) RevokeOthers(ctx context.Context, uid, keep string) error {
	defer m.records.ForgetIf(func(sid string, rec Record) bool { return rec.UserID == uid && sid != keep })
	refs, err := m.fs.Collection(Collection).Where("userId", "==", uid).Select().Documents(ctx).GetAll()
	if err != nil {
		return err
	}
	bw := m.fs.BulkWriter(ctx)
	for _, s := range refs {
		if s.Ref.ID != keep {
			if _, err := bw.Delete(s.Ref); err != nil {
				return err
			}
		}
	}
	bw.End()
	return nil
}

func newSID() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
