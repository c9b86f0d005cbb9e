package mfa

import (
	"net/http"
	"strings"

	"cloud.google.com/go/firestore"

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

// setup is E04. Order: body → guard → generate → store. The secret is shown
// once; until verify-setup it waits in mfa_pending/{uid}, encrypted like the
// enrolled secret (the original kept it in plaintext there, api.md §5.12).
func (h handlers) setup(w http.ResponseWriter, r *http.Request) error {
	var req setupRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.SelfUser(r, req.UserID); err != nil {
		return err
	}
	secret, err := NewSecret()
	if err != nil {
		return web.Internal(err)
	}
	qr, err := QRDataURL(KeyURI(req.Email, secret))
	if err != nil {
		return web.Internal(err)
	}
	sealed, err := secretbox.Encrypt(h.d.Config.MFAEncryptionKey, secret)
	if err != nil {
		return web.Internal(err)
	}
	_, err = h.d.Firestore.Collection(PendingCollection).Doc(req.UserID).Set(r.Context(), map[string]any{
		"secret":    sealed,
		"email":     req.Email,
		"createdAt": firestore.ServerTimestamp,
		"expiresAt": h.d.Now().Add(PendingTTL),
	})
	if err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"secret": secret, "qrCodeUrl": qr})
}
