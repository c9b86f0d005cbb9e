package mfa

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/secretbox"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

type setupRequest struct {
	UserID string `json:"userId"`
	// Email only labels the QR code; RFC 5321 bounds an address at 254
	// bytes, and the QR code cannot hold much more.
	Email string `json:"email" max:"320"`
}

func (q setupRequest) Validate() error {
	if err := validUserID(q.UserID); err != nil {
		return err
	}
	if strings.TrimSpace(q.Email) == "" {
		return web.BadRequest("Invalid email: expected a non-empty string")
	}
	return nil
}

func validUserID(uid string) error {
	if !store.ValidID(uid) {
		return web.BadRequest("Invalid user ID: expected a non-empty string")
	}
	return nil
}

// SetupReuseWindow is how long a started setup is answered again with the
// same secret: the dashboard's setup page calls E04 twice in a row (its
// effect re-runs before the first answer arrives), and a new secret would
// replace the QR code a user may already have scanned. A few minutes covers
// reloads of the page; the pending secret still has at least PendingTTL −
// SetupReuseWindow to be verified.
const SetupReuseWindow = 5 * time.Minute

// setupFlight makes concurrent setups of one user on this instance share one
// read and at most one write; across instances the write's precondition
// decides (pendingSecret).
var setupFlight singleflight.Group

// setup is E04. Order: body → guard → reuse or generate → store. Until
// verify-setup the secret waits in mfa_pending/{uid}, encrypted like the
// enrolled secret (the original kept it in plaintext there, api.md §5.12).
//
// Idempotent for SetupReuseWindow: while a pending secret of the user exists,
// was issued less than SetupReuseWindow ago and MFA is not enabled, the
// answer is that secret and its QR code, with no write. The email only
// labels the QR code (api.md §1.10), so a different one gets the same secret
// under the new label rather than a new secret: replacing the secret is what
// breaks an authenticator that already scanned it. A user who has MFA gets a
// new secret on every call: re-enrolment is how a possibly exposed secret is
// rotated, and must not hand out one already shown.
func (h handlers) setup(w http.ResponseWriter, r *http.Request) error {
	var req setupRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.SelfUser(r, req.UserID); err != nil {
		return err
	}
	key := h.d.Config.MFAEncryptionKey
	if key == "" {
		return web.Internal(errors.New("MFA_ENCRYPTION_KEY is not configured"))
	}
	// The shared call must not end with the first caller's request; its own
	// deadline bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), setupTimeout)
	defer cancel()
	v, err, _ := setupFlight.Do(req.UserID, func() (any, error) {
		return h.pendingSecret(ctx, req.UserID, req.Email, key)
	})
	if err != nil {
		return web.Internal(err)
	}
	secret := v.(string)
	qr, err := QRDataURL(KeyURI(req.Email, secret))
	if err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"secret": secret, "qrCodeUrl": qr})
}

// setupTimeout bounds the shared part of a setup (reads and one write).
const setupTimeout = 10 * time.Second

// pendingSecret returns the user's reusable pending secret, or stores a new
// one. The new one is written only if mfa_pending/{uid} is as it was read
// (created if absent, updated if unchanged); a setup racing on another
// instance makes the write fail, and the secret it stored is read and
// reused.
func (h handlers) pendingSecret(ctx context.Context, uid, email, key string) (string, error) {
	fs := h.d.Firestore
	pendingRef := fs.Collection(PendingCollection).Doc(uid)
	userRef := fs.Collection("users").Doc(uid)
	for range 3 {
		snaps, err := fs.GetAll(ctx, []*firestore.DocumentRef{pendingRef, userRef})
		if err != nil {
			return "", err
		}
		pending, user := snaps[0], snaps[1]
		now := h.d.Now()
		if secret, ok := reusable(pending, user, key, now); ok {
			return secret, nil
		}
		secret, err := NewSecret()
		if err != nil {
			return "", err
		}
		sealed, err := secretbox.Encrypt(key, secret)
		if err != nil {
			return "", err
		}
		if pending.Exists() {
			_, err = pendingRef.Update(ctx, []firestore.Update{
				{Path: "secret", Value: sealed},
				{Path: "email", Value: email},
				{Path: "createdAt", Value: firestore.ServerTimestamp},
				{Path: "expiresAt", Value: now.Add(PendingTTL)},
			}, firestore.LastUpdateTime(pending.UpdateTime))
		} else {
			_, err = pendingRef.Create(ctx, map[string]any{
				"secret":    sealed,
				"email":     email,
				"createdAt": firestore.ServerTimestamp,
				"expiresAt": now.Add(PendingTTL),
			})
		}
		switch status.Code(err) {
		case codes.OK:
			return secret, nil
		case codes.AlreadyExists, codes.FailedPrecondition, codes.NotFound, codes.Aborted:
			continue // another setup wrote first: read what it stored
		}
		return "", err
	}
	return "", errors.New("mfa setup: too many concurrent setups")
}

// reusable returns the secret of a pending setup that a new setup should
// answer with: issued less than SetupReuseWindow ago (its expiry is
// PendingTTL after issue, whichever server wrote it), readable, and the user
// does not have MFA.
func reusable(pending, user *firestore.DocumentSnapshot, key string, now time.Time) (string, bool) {
	if !pending.Exists() {
		return "", false
	}
	if user.Exists() {
		if enrolled, _ := user.Data()["mfaEnrolled"].(bool); enrolled {
			return "", false
		}
	}
	data := pending.Data()
	exp, ok := data["expiresAt"].(time.Time)
	issued := exp.Add(-PendingTTL)
	if !ok || !now.Before(issued.Add(SetupReuseWindow)) || issued.After(now.Add(time.Minute)) {
		return "", false // stale, or not issued by a sane clock
	}
	stored, _ := data["secret"].(string)
	if stored == "" {
		return "", false
	}
	if !secretbox.IsEncrypted(stored) {
		return stored, true // the original server's plaintext pending secret
	}
	secret, err := secretbox.Decrypt(key, stored)
	if err != nil {
		return "", false // sealed with another key: start afresh
	}
	return secret, true
}
