package passkeys

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cloud.google.com/go/firestore"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

func validUserID(uid string) error {
	if !store.ValidID(uid) {
		return web.BadRequest("Invalid user ID: expected a non-empty string")
	}
	return nil
}

func (h *handlers) ready() error {
	if h.wa == nil {
		return web.Internal(fmt.Errorf("passkeys are not configured: %w", h.waErr))
	}
	return nil
}

type registerOptionsRequest struct {
	UserID string `json:"userId"`
}

func (q registerOptionsRequest) Validate() error { return validUserID(q.UserID) }

// algorithms are the original's: EdDSA, ES256, RS256.
var algorithms = []protocol.CredentialParameter{
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgEdDSA},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgRS256},
}

// registerOptions is E07. Order: userId → guard → options. The answer is the
// bare PublicKeyCredentialCreationOptionsJSON; the challenge is stored under
// the uid (one registration in progress per user).
func (h *handlers) registerOptions(w http.ResponseWriter, r *http.Request) error {
	var req registerOptionsRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.SelfUser(r, req.UserID); err != nil {
		return err
	}
	if err := h.ready(); err != nil {
		return err
	}
	ctx := r.Context()
	creds, err := h.existing(ctx, req.UserID)
	if err != nil {
		return web.Internal(err)
	}
	u := &user{uid: req.UserID, creds: creds}
	creation, sd, err := h.wa.BeginRegistration(u,
		webauthn.WithCredentialParameters(algorithms),
		webauthn.WithExclusions(webauthn.Credentials(creds).CredentialDescriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return web.Internal(err)
	}
	// The options ask for user verification as "preferred" (so authenticators
	// without it can still be offered), but verification requires it, as the
	// original's library does by default.
	sd.UserVerification = protocol.VerificationRequired
	uid := req.UserID
	if err := h.saveChallenge(ctx, uid, typeRegistration, &uid, sd); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, creation.Response)
}

type registerVerifyRequest struct {
	UserID       string          `json:"userId"`
	Credential   json.RawMessage `json:"credential"`
	FriendlyName *string         `json:"friendlyName"`
}

func (q registerVerifyRequest) Validate() error {
	if err := validUserID(q.UserID); err != nil {
		return err
	}
	if !isObject(q.Credential) {
		return web.BadRequest("Missing credential: expected the registration response object")
	}
	return nil
}

// isObject reports whether raw is a JSON object.
func isObject(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return strings.HasPrefix(s, "{")
}

// verificationFailed is the answer to a response the library rejects (the
// original answered 500; it is the client's response that is wrong).
func verificationFailed(err error) error {
	msg := "Passkey verification failed"
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		msg += ": " + pe.Details
	}
	return web.BadRequest(msg).Wrap(err)
}

// registerVerify is E08. Order: body → guard → consume challenge → type and
// user → verify → store.
func (h *handlers) registerVerify(w http.ResponseWriter, r *http.Request) error {
	var req registerVerifyRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.SelfUser(r, req.UserID); err != nil {
		return err
	}
	if err := h.ready(); err != nil {
		return err
	}
	ctx := r.Context()
	c, sd, err := h.consumeChallenge(ctx, req.UserID, typeRegistration)
	if err != nil {
		return err
	}
	if c.UserID == nil || *c.UserID != req.UserID || string(sd.UserID) != req.UserID {
		return errChallenge
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(req.Credential)
	if err != nil {
		return verificationFailed(err)
	}
	creds, err := h.existing(ctx, req.UserID)
	if err != nil {
		return web.Internal(err)
	}
	cred, err := h.wa.CreateCredential(&user{uid: req.UserID, creds: creds}, *sd, parsed)
	if err != nil {
		return verificationFailed(err)
	}

	name := DefaultName
	if req.FriendlyName != nil {
		if n := strings.TrimSpace(*req.FriendlyName); n != "" {
			name = n
		}
	}
	if rs := []rune(name); len(rs) > MaxNameLength {
		name = string(rs[:MaxNameLength])
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		transports = append(transports, string(t))
	}
	deviceType := singleDevice
	if cred.Flags.BackupEligible {
		deviceType = multiDevice
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	now := h.d.Now()
	b := h.d.Firestore.Batch()
	b.Set(h.passkeys(req.UserID).Doc(id), passkeyDoc{
		CredentialPublicKey: base64.RawURLEncoding.EncodeToString(cred.PublicKey),
		Counter:             int64(cred.Authenticator.SignCount),
		Transports:          transports,
		DeviceType:          deviceType,
		BackedUp:            cred.Flags.BackupState,
		FriendlyName:        name,
		CreatedAt:           now,
		LastUsedAt:          now,
	})
	b.Update(h.d.Firestore.Collection("users").Doc(req.UserID), []firestore.Update{{Path: "passkeyEnrolled", Value: true}})
	if _, err := b.Commit(ctx); err != nil {
		if store.NotFound(err) {
			return web.NotFound("User not found")
		}
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true, "credentialId": id})
}
