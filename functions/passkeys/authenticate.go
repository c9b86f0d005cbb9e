package passkeys

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"unicode/utf8"

	"cloud.google.com/go/firestore"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// authenticateOptions is E09 (pre-login; the body is not read): options for
// a discoverable credential (no allow list) and the id of the stored
// challenge, 32 random bytes in hex.
func (h *handlers) authenticateOptions(w http.ResponseWriter, r *http.Request) error {
	if err := h.ready(); err != nil {
		return err
	}
	// Anyone may ask, and each answer stores a challenge: the only request
	// of the auth class that succeeds without proving anyone, so it spends
	// the address's budget for such requests (failures spend another).
	if err := app.Gate(r).Anonymous(w, web.ClientIP(r)); err != nil {
		return err
	}
	assertion, sd, err := h.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return web.Internal(err)
	}
	sd.UserVerification = protocol.VerificationRequired
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return web.Internal(err)
	}
	id := hex.EncodeToString(b)
	if err := h.saveChallenge(r.Context(), id, typeAuthentication, nil, sd); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"options": assertion.Response, "challengeId": id})
}

type authenticateVerifyRequest struct {
	Credential  json.RawMessage `json:"credential"`
	ChallengeID string          `json:"challengeId"`
}

func (q authenticateVerifyRequest) Validate() error {
	if !isObject(q.Credential) || q.ChallengeID == "" {
		return web.BadRequest("Missing credential or challengeId")
	}
	return nil
}

// assertionHead is the part of an AuthenticationResponseJSON read before the
// library parses it: which credential, and whose.
type assertionHead struct {
	ID       string `json:"id"`
	Response struct {
		UserHandle *string `json:"userHandle"`
	} `json:"response"`
}

var (
	errNoUserHandle = web.BadRequest("The passkey response has no user handle: use a discoverable passkey")
	errUnknownKey   = web.BadRequest("Passkey not found: it may have been removed from this account")
)

// authenticateVerify is E10. Order: body → consume challenge → type →
// userHandle → find the passkey → verify → counter → session (MFA-complete,
// 7 days) → custom token.
func (h *handlers) authenticateVerify(w http.ResponseWriter, r *http.Request) error {
	var req authenticateVerifyRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if err := h.ready(); err != nil {
		return err
	}
	ctx := r.Context()
	_, sd, err := h.consumeChallenge(ctx, req.ChallengeID, typeAuthentication)
	if err != nil {
		return err
	}
	var head assertionHead
	if err := json.Unmarshal(req.Credential, &head); err != nil {
		return verificationFailed(err)
	}
	if head.Response.UserHandle == nil || *head.Response.UserHandle == "" {
		return errNoUserHandle
	}
	if !store.ValidID(head.ID) {
		return errUnknownKey
	}
	uid, doc, err := h.findPasskey(r, *head.Response.UserHandle, head.ID)
	if err != nil {
		return err
	}
	stored, err := doc.credential(head.ID)
	if err != nil {
		return web.Internal(err)
	}
	// The library reads userHandle as base64url; give it the canonical form
	// whatever the client sent (raw uid or base64url, api.md §5.3).
	canonical, err := withUserHandle(req.Credential, base64.RawURLEncoding.EncodeToString([]byte(uid)))
	if err != nil {
		return verificationFailed(err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(canonical)
	if err != nil {
		return verificationFailed(err)
	}
	u := &user{uid: uid, creds: []webauthn.Credential{stored}}
	_, cred, err := h.wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return u, nil }, *sd, parsed)
	if err != nil {
		return verificationFailed(err)
	}
	if cred.Authenticator.CloneWarning {
		return web.BadRequest("Passkey verification failed: the signature counter did not increase (possible cloned authenticator)")
	}
	// A verified passkey spends the user's budget, not the address's.
	if err := app.Gate(r).ChargeUser(ctx, w, uid); err != nil {
		return err
	}

	now := h.d.Now()
	_, err = h.passkeys(uid).Doc(head.ID).Update(ctx, []firestore.Update{
		{Path: "counter", Value: int64(cred.Authenticator.SignCount)},
		{Path: "lastUsedAt", Value: now},
	})
	if err != nil {
		return web.Internal(err)
	}
	token, err := h.d.Auth.CustomToken(ctx, uid)
	if err != nil {
		return web.Internal(err)
	}
	if _, err := h.d.Sessions.Create(ctx, w, uid, now.Add(SessionDuration), session.MFAComplete, "passkey"); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true, "customToken": token, "userId": uid})
}

// findPasskey resolves the user from userHandle: first as the raw uid (what
// the original expects), then base64url-decoded to UTF-8 (what browsers and
// @simplewebauthn/browser v13 send), and returns the stored passkey.
func (h *handlers) findPasskey(r *http.Request, handle, credID string) (string, *passkeyDoc, error) {
	candidates := []string{handle}
	if b, err := b64url(handle); err == nil && utf8.Valid(b) && string(b) != handle {
		candidates = append(candidates, string(b))
	}
	for _, uid := range candidates {
		if !store.ValidID(uid) {
			continue
		}
		snap, err := h.passkeys(uid).Doc(credID).Get(r.Context())
		if err != nil {
			if store.NotFound(err) {
				continue
			}
			return "", nil, web.Internal(err)
		}
		var d passkeyDoc
		if err := snap.DataTo(&d); err != nil {
			return "", nil, web.Internal(err)
		}
		return uid, &d, nil
	}
	return "", nil, errUnknownKey
}

// withUserHandle returns the credential JSON with response.userHandle set.
func withUserHandle(raw json.RawMessage, handle string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(m["response"], &resp); err != nil || resp == nil {
		return nil, errors.New("credential.response is not an object")
	}
	resp["userHandle"], _ = json.Marshal(handle)
	m["response"], _ = json.Marshal(resp)
	return json.Marshal(m)
}
