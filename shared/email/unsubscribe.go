package email

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

var (
	// ErrNoUnsubscribeKey means the HMAC key (CRON_SECRET) is not set. The
	// original fell back to a public constant (DECISIONS §2 5.13): we refuse.
	ErrNoUnsubscribeKey = errors.New("email: unsubscribe key is not configured")
	// ErrInvalidToken means an unsubscribe token is malformed or its HMAC
	// does not match (E66 answers 400).
	ErrInvalidToken = errors.New("email: invalid unsubscribe token")
	// ErrBadBase means an unsubscribe link base is not an http(s) URL.
	ErrBadBase = errors.New("email: unsubscribe link base must be an http(s) URL")
)

// UnsubscribePath is the E66 route.
const UnsubscribePath = "/api/unsubscribe"

// maxTokenLen bounds what Verify decodes: a Firebase uid is at most 128
// characters, so a real token is far below this.
const maxTokenLen = 1024

// Unsubscriber mints and verifies unsubscribe tokens (api.md §1.14):
// token = base64url("<uid>:<hex HMAC-SHA256(key, uid)>"), no expiry, so
// links in old mails keep working, as in the original.
type Unsubscriber struct {
	key []byte
}

// NewUnsubscriber uses key (CRON_SECRET); an empty key is an error.
func NewUnsubscriber(key string) (*Unsubscriber, error) {
	if key == "" {
		return nil, ErrNoUnsubscribeKey
	}
	return &Unsubscriber{key: []byte(key)}, nil
}

func (u *Unsubscriber) sign(uid string) string {
	m := hmac.New(sha256.New, u.key)
	m.Write([]byte(uid))
	return hex.EncodeToString(m.Sum(nil))
}

// Token is the unsubscribe token of uid (unpadded base64url, as Node's
// "base64url" encoding writes it).
func (u *Unsubscriber) Token(uid string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(uid + ":" + u.sign(uid)))
}

// Link is "<base>/api/unsubscribe?token=<token>"; base is the origin
// (scheme and host, an optional path prefix), trailing slashes ignored.
func (u *Unsubscriber) Link(base, uid string) (string, error) {
	base = strings.TrimRight(strings.TrimSpace(base), "/")
	if safeLink(base) == "" {
		return "", ErrBadBase
	}
	return base + UnsubscribePath + "?token=" + url.QueryEscape(u.Token(uid)), nil
}

// Verify returns the uid a token was minted for. Padded and unpadded
// base64url are accepted (Node's decoder takes both); anything else, an
// empty uid, or a signature that is not exactly the lower-case hex HMAC
// is ErrInvalidToken. The comparison is constant-time.
func (u *Unsubscriber) Verify(token string) (string, error) {
	if token == "" || len(token) > maxTokenLen {
		return "", ErrInvalidToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(token, "="))
	if err != nil || !utf8.Valid(raw) {
		return "", ErrInvalidToken
	}
	// The signature is hex, so the last ":" separates it even if a uid
	// were to contain one.
	i := strings.LastIndexByte(string(raw), ':')
	if i <= 0 {
		return "", ErrInvalidToken
	}
	uid, sig := string(raw[:i]), raw[i+1:]
	want := u.sign(uid)
	// hmac.Equal is constant-time and false on a length mismatch.
	if !hmac.Equal(sig, []byte(want)) {
		return "", ErrInvalidToken
	}
	return uid, nil
}
