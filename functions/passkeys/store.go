package passkeys

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// passkeyDoc is users/{uid}/passkeys/{credentialId} (api.md §1.11), the
// shape the original server writes; the document id is the credential id
// in base64url.
type passkeyDoc struct {
	CredentialPublicKey string    `firestore:"credentialPublicKey"` // base64url COSE key
	Counter             int64     `firestore:"counter"`
	Transports          []string  `firestore:"transports"`
	DeviceType          string    `firestore:"deviceType"` // singleDevice | multiDevice
	BackedUp            bool      `firestore:"backedUp"`
	FriendlyName        string    `firestore:"friendlyName"`
	CreatedAt           time.Time `firestore:"createdAt"`
	LastUsedAt          time.Time `firestore:"lastUsedAt"`
}

const (
	singleDevice = "singleDevice"
	multiDevice  = "multiDevice"
)

// user is a passkey owner as the library sees it: the user handle is the
// UTF-8 uid (api.md §1.11), the name is the uid, the display name empty.
type user struct {
	uid   string
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return []byte(u.uid) }
func (u *user) WebAuthnName() string                       { return u.uid }
func (u *user) WebAuthnDisplayName() string                { return "" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (h *handlers) passkeys(uid string) *firestore.CollectionRef {
	return h.d.Firestore.Collection("users").Doc(uid).Collection("passkeys")
}

// b64url decodes base64url with or without padding.
func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// credential rebuilds the library's credential record from a stored passkey.
// The backup-eligible flag, which the library checks for consistency at
// every sign-in, is what deviceType records.
func (d *passkeyDoc) credential(id string) (webauthn.Credential, error) {
	rawID, err := b64url(id)
	if err != nil {
		return webauthn.Credential{}, err
	}
	pk, err := b64url(d.CredentialPublicKey)
	if err != nil {
		return webauthn.Credential{}, err
	}
	tr := make([]protocol.AuthenticatorTransport, len(d.Transports))
	for i, t := range d.Transports {
		tr[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: rawID, PublicKey: pk, Transport: tr,
		Flags: webauthn.CredentialFlags{
			UserPresent: true, UserVerified: true,
			BackupEligible: d.DeviceType == multiDevice, BackupState: d.BackedUp,
		},
		Authenticator: webauthn.Authenticator{SignCount: uint32(max(0, min(d.Counter, 1<<32-1)))},
	}, nil
}

// existing lists a user's passkeys as credentials (for excludeCredentials).
func (h *handlers) existing(ctx context.Context, uid string) ([]webauthn.Credential, error) {
	snaps, err := h.passkeys(uid).Documents(ctx).GetAll()
	if err != nil {
		return nil, err
	}
	var out []webauthn.Credential
	for _, s := range snaps {
		var d passkeyDoc
		if err := s.DataTo(&d); err != nil {
			continue
		}
		if c, err := d.credential(s.Ref.ID); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}
