// Package agenttoken issues agent credentials (api.md §1.8, datamodel.md §4):
// registration codes, refresh tokens, the agent's Firebase UID and claims,
// and the access token itself — a real Firebase ID token minted server-side
// (custom token → Identity Toolkit signInWithCustomToken) that agents use on
// the Firestore REST API, where the security rules key on its claims.
//
// Failures to reach Firebase Auth, the Identity Toolkit or Firestore are
// classified (Transient, HTTPError): a transient one is answered 503, a
// permanent one 500, never 401/403 — an agent that gets 401/403 from refresh
// wipes its credentials and must be paired again (DECISIONS §3).
package agenttoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
)

// Firestore collections owned by the agent credential flows (datamodel §2.19).
const (
	RegistrationCodes = "agent_tokens"
	RefreshTokens     = "agent_refresh_tokens"
	DeviceCodes       = "device_codes"
)

const (
	// ExpiresIn is the access token lifetime reported to agents, in seconds.
	ExpiresIn = 3600
	// RegistrationCodeTTL is how long a registration code stays redeemable.
	RegistrationCodeTTL = 24 * time.Hour
	// Role is the role claim of every agent token.
	Role = "agent"
	// PlaceholderPrefix starts the machine id of tokens issued before the
	// machine's hostname is known (pre-authorized /ADD= pairing).
	PlaceholderPrefix = "pending_"
	// UnknownVersion is the version claim when the agent did not say.
	UnknownVersion = "unknown"
	// MaxMachineIDLen and MaxVersionLen bound what an agent may send (the
	// claims must serialise to at most 1000 characters).
	MaxMachineIDLen = 255
	MaxVersionLen   = 100
	// maxUIDLen is Firebase Auth's limit on a uid.
	maxUIDLen = 128
)

// Identity is who an agent token is for.
type Identity struct {
	UID       string
	SiteID    string
	MachineID string
	Version   string
}

// NewIdentity builds the identity of a machine of a site; an empty version
// becomes "unknown".
func NewIdentity(siteID, machineID, version string) Identity {
	if version == "" {
		version = UnknownVersion
	}
	return Identity{UID: UID(siteID, machineID), SiteID: siteID, MachineID: machineID, Version: version}
}

// Claims are the custom claims of the identity's tokens (snake_case, as the
// Firestore rules read them).
func (id Identity) Claims() map[string]any {
	return map[string]any{"role": Role, "site_id": id.SiteID, "machine_id": id.MachineID, "version": id.Version}
}

// UID is the agent's Firebase uid: "agent_<siteId>_<machineId>" with every
// character outside [A-Za-z0-9_] replaced by "_" — per UTF-16 code unit, as
// the original's JavaScript regex does, so existing agents keep their uid.
// Should the result exceed Firebase's 128-character limit (the original
// failed there), it is cut and suffixed with a hash so it stays unique.
func UID(siteID, machineID string) string {
	var b strings.Builder
	for _, r := range "agent_" + siteID + "_" + machineID {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r > 0xFFFF: // two UTF-16 code units in JavaScript
			b.WriteString("__")
		default:
			b.WriteByte('_')
		}
	}
	uid := b.String()
	if len(uid) > maxUIDLen {
		uid = uid[:maxUIDLen-17] + "_" + Hash(uid)[:16]
	}
	return uid
}

// IsPlaceholder reports whether a machine id is a pre-authorization
// placeholder ("pending_<phrase>").
func IsPlaceholder(machineID string) bool { return strings.HasPrefix(machineID, PlaceholderPrefix) }

// Placeholder is the machine id bound to a pair phrase whose machine is not
// known yet: "pending_" + the phrase with "-" replaced by "_".
func Placeholder(phrase string) string {
	return PlaceholderPrefix + strings.ReplaceAll(phrase, "-", "_")
}

func random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewRegistrationCode returns 32 random bytes, base64url (43 characters): the
// id of an agent_tokens document (E16, E51).
func NewRegistrationCode() (string, error) { return random(32) }

// NewSecret returns 64 random bytes, base64url (86 characters): a refresh
// token or a device code.
func NewSecret() (string, error) { return random(64) }

// Hash is the SHA-256 hex under which refresh tokens and device codes are
// stored.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// RefreshRef is the document of a raw refresh token.
func RefreshRef(fs *firestore.Client, token string) *firestore.DocumentRef {
	return fs.Collection(RefreshTokens).Doc(Hash(token))
}

// NewRefreshToken returns a fresh refresh token and its document.
func NewRefreshToken(fs *firestore.Client) (string, *firestore.DocumentRef, error) {
	tok, err := NewSecret()
	if err != nil {
		return "", nil, err
	}
	return tok, RefreshRef(fs, tok), nil
}

// RefreshData is the stored form of a refresh token issued to id by
// createdBy (§1.8): no expiresAt, never rotated.
func RefreshData(id Identity, createdBy string) map[string]any {
	return map[string]any{
		"siteId":    id.SiteID,
		"machineId": id.MachineID,
		"version":   id.Version,
		"createdBy": createdBy,
		"createdAt": firestore.ServerTimestamp,
		"lastUsed":  firestore.ServerTimestamp,
		"agentUid":  id.UID,
	}
}

// ExpiresAt reads the exp claim of a JWT without verifying it (for tokens
// this server minted), to report a token's real remaining lifetime.
func ExpiresAt(jwt string) (time.Time, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp float64 `json:"exp"`
	}
	if json.Unmarshal(raw, &c) != nil || c.Exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(c.Exp), 0), true
}
