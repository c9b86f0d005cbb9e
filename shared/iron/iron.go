// Package iron seals and unseals data in the iron "Fe26.2" format exactly as
// the Node library iron-session v8 writes it (iron-webcrypto underneath), so
// the Go server and the Node dashboard can read each other's `__session`
// cookie when they share the same password.
//
// A seal looks like
//
//	Fe26.2*<pwId>*<encSalt>*<iv>*<ciphertext>*<expMs>*<macSalt>*<mac>~2
//
// The salts are 32 random bytes in lowercase hex; the hex string itself (its
// ASCII bytes) is the PBKDF2-HMAC-SHA1 salt (1 iteration, 32-byte keys). The
// payload is encrypted with AES-256-CBC (PKCS#7), the MAC is HMAC-SHA256 over
// the first six components, and binary fields are unpadded base64url. The
// trailing "~2" is iron-session's token major version: it is not covered by
// the MAC.
package iron

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors returned by Unseal. Every rejection of a seal wraps exactly one of
// them (use errors.Is). The first three correspond to iron's "Expired seal",
// "Bad hmac value" and "Cannot find password" errors; ErrMalformed covers
// iron's "Incorrect number of sealed components" and every other format
// problem.
var (
	ErrExpired         = errors.New("iron: expired seal")
	ErrBadMAC          = errors.New("iron: bad hmac value")
	ErrUnknownPassword = errors.New("iron: cannot find password")
	ErrMalformed       = errors.New("iron: malformed seal")
)

// DefaultTTL is iron-session's default session lifetime (14 days).
const DefaultTTL = 14 * 24 * time.Hour

// MinPasswordLength is the minimum password length iron enforces, counted
// like JavaScript's String.length (UTF-16 code units).
const MinPasswordLength = 32

const (
	macPrefix     = "Fe26.2"
	tokenVersion  = "~2"
	timestampSkew = 60 * time.Second // iron's timestampSkewSec
	saltBytes     = 32               // saltBits: 256
	keyBytes      = 32               // aes-256-cbc and sha256 keys
	ivBytes       = aes.BlockSize
)

// Sealer holds the password map iron-session is configured with. A plain
// string password is normalised by iron-session to {"1": password}; to rotate
// passwords add a new id and make it CurrentID (iron-session seals with the
// numerically highest id).
type Sealer struct {
	// Passwords maps a password id (the seal's second component) to a password
	// of at least MinPasswordLength characters. A seal with an empty id is
	// looked up as "default", as iron does.
	Passwords map[string]string
	// CurrentID is the id used for sealing; it must be a key of Passwords and
	// consist of [A-Za-z0-9_] only.
	CurrentID string

	// rand is the randomness source for salts and IVs; nil means crypto/rand.
	// Tests set it to reproduce iron-session's output byte for byte.
	rand io.Reader
}

// NewSealer returns a Sealer for a single string password, normalised the
// way iron-session does: {"1": password}, sealing with id "1".
func NewSealer(password string) (*Sealer, error) {
	if err := checkPassword(password); err != nil {
		return nil, err
	}
	return &Sealer{Passwords: map[string]string{"1": password}, CurrentID: "1"}, nil
}

// Seal encrypts and signs payload, which must be JSON (iron-session seals
// JSON.stringify of its data and JSON.parses it back), and returns the seal
// with the "~2" version suffix. The seal expires at now+ttl; a ttl of 0 means
// the seal never expires (empty expiry component), as in iron-session.
func (s *Sealer) Seal(payload []byte, ttl time.Duration, now time.Time) (string, error) {
	if s == nil {
		return "", errors.New("iron: nil Sealer")
	}
	if !isWord(s.CurrentID) {
		return "", fmt.Errorf("iron: invalid current password id %q", s.CurrentID)
	}
	password, ok := s.Passwords[s.CurrentID]
	if !ok {
		return "", fmt.Errorf("iron: no password for current id %q", s.CurrentID)
	}
	if err := checkPassword(password); err != nil {
		return "", err
	}
	if !json.Valid(payload) {
		return "", errors.New("iron: payload is not valid JSON")
	}
	if ttl < 0 {
		return "", errors.New("iron: negative ttl")
	}

	r := s.rand
	if r == nil {
		r = rand.Reader
	}
	// Same order as iron-webcrypto draws them: encryption salt, iv, mac salt.
	encSalt, err := randomHex(r)
	if err != nil {
		return "", err
	}
	iv := make([]byte, ivBytes)
	if _, err := io.ReadFull(r, iv); err != nil {
		return "", fmt.Errorf("iron: reading randomness: %w", err)
	}

	encKey, err := deriveKey(password, encSalt)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return "", err
	}
	padLen := aes.BlockSize - len(payload)%aes.BlockSize
	buf := make([]byte, len(payload)+padLen)
	copy(buf, payload)
	for i := len(payload); i < len(buf); i++ {
		buf[i] = byte(padLen)
	}
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)

	expiration := ""
	if ttl > 0 {
		expiration = strconv.FormatInt(now.UnixMilli()+ttl.Milliseconds(), 10)
	}
	macBase := strings.Join([]string{
		macPrefix, s.CurrentID, encSalt,
		b64.EncodeToString(iv), b64.EncodeToString(buf), expiration,
	}, "*")

	macSalt, err := randomHex(r)
	if err != nil {
		return "", err
	}
	mac, err := macDigest(password, macSalt, macBase)
	if err != nil {
		return "", err
	}
	return macBase + "*" + macSalt + "*" + mac + tokenVersion, nil
}

// Unseal verifies and decrypts a seal and returns its JSON payload.
//
// It follows iron-session's unsealData: the seal is split at the first "~";
// if the version after it parses (like JavaScript's parseInt) to 2 the
// decrypted JSON is returned as is. Otherwise (no suffix, i.e. a legacy
// token, or any other version) iron-session returns {...data.persistent}, so
// the payload is the object under the "persistent" key, or {} if there is none. A payload of null or an empty
// plaintext is returned as {}.
//
// Checks run in iron's order: format, expiry (rejected once
// now >= expMs + 60 s, iron's timestamp skew), password id, MAC (constant
// time), then decryption. Unlike iron, the salts, IV and ciphertext are checked
// for well-formedness (64 lowercase hex chars, base64url, 16-byte IV, whole AES
// blocks) before the MAC, so such seals fail with ErrMalformed rather than
// ErrBadMAC.
//
// An error that wraps none of the sentinel errors means the Sealer itself is
// misconfigured (for example a password shorter than MinPasswordLength).
func (s *Sealer) Unseal(seal string, now time.Time) ([]byte, error) {
	if s == nil {
		return nil, errors.New("iron: nil Sealer")
	}
	body, rest, _ := strings.Cut(seal, "~")
	version, _, _ := strings.Cut(rest, "~")
	plain, err := s.unseal(body, now)
	if err != nil {
		return nil, err
	}
	if !jsParseIntIsTwo(version) {
		return persistent(plain), nil
	}
	if trimmed := bytes.TrimSpace(plain); len(trimmed) == 0 || string(trimmed) == "null" {
		return []byte("{}"), nil
	}
	return plain, nil
}

// unseal implements iron-webcrypto's unseal for a seal without the version
// suffix and returns the decrypted plaintext, which is valid JSON or empty.
func (s *Sealer) unseal(body string, now time.Time) ([]byte, error) {
	parts := strings.Split(body, "*")
	if len(parts) != 8 {
		return nil, fmt.Errorf("%w: incorrect number of sealed components (%d, want 8)", ErrMalformed, len(parts))
	}
	prefix, pwID, encSalt, ivB64, ctB64, expiration, macSalt, mac := parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6], parts[7]
	if prefix != macPrefix {
		return nil, fmt.Errorf("%w: wrong mac prefix", ErrMalformed)
	}
	var expMs int64
	if expiration != "" {
		if !isDigits(expiration) {
			return nil, fmt.Errorf("%w: invalid expiration", ErrMalformed)
		}
		var err error
		if expMs, err = strconv.ParseInt(expiration, 10, 64); err != nil {
			// Only digits, so it overflowed: JavaScript reads it as a huge
			// number that is never in the past.
			expMs = math.MaxInt64
		}
	}
	if !isSaltHex(encSalt) || !isSaltHex(macSalt) {
		return nil, fmt.Errorf("%w: salt is not %d lowercase hex characters", ErrMalformed, 2*saltBytes)
	}
	iv, err := decodeB64(ivB64)
	if err != nil || len(iv) != ivBytes {
		return nil, fmt.Errorf("%w: iv is not %d bytes of base64url", ErrMalformed, ivBytes)
	}
	ct, err := decodeB64(ctB64)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext is not whole AES blocks of base64url", ErrMalformed)
	}

	if expiration != "" && expMs <= now.UnixMilli()-timestampSkew.Milliseconds() {
		return nil, ErrExpired
	}

	lookup := pwID
	if lookup == "" {
		lookup = "default"
	}
	password, ok := s.Passwords[lookup]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPassword, lookup)
	}
	if err := checkPassword(password); err != nil {
		return nil, err
	}

	macBase := strings.Join(parts[:6], "*")
	want, err := macDigest(password, macSalt, macBase)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(want), []byte(mac)) {
		return nil, ErrBadMAC
	}

	encKey, err := deriveKey(password, encSalt)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	n := int(plain[len(plain)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	for _, b := range plain[len(plain)-n:] {
		if int(b) != n {
			return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
		}
	}
	plain = plain[:len(plain)-n]
	if len(plain) > 0 && !json.Valid(plain) {
		return nil, fmt.Errorf("%w: payload is not JSON", ErrMalformed)
	}
	return plain, nil
}

// persistent returns what iron-session returns for a seal without the "~2"
// suffix, {...data.persistent}: the "persistent" member of a top-level object
// if it is an object, otherwise {}. (JavaScript would spread a string or an
// array into an index-keyed object; such legacy payloads are not supported
// and yield {}.)
func persistent(plain []byte) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(plain, &top) == nil {
		if p := bytes.TrimSpace(top["persistent"]); len(p) > 0 && p[0] == '{' {
			return p
		}
	}
	return []byte("{}")
}

var b64 = base64.RawURLEncoding

// decodeB64 decodes unpadded base64url, rejecting anything outside the
// alphabet (Go's decoder would otherwise skip '\r' and '\n').
func decodeB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return nil, errors.New("invalid base64url character")
		}
	}
	return b64.DecodeString(s)
}

func randomHex(r io.Reader) (string, error) {
	b := make([]byte, saltBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("iron: reading randomness: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// deriveKey is iron's generateKey for a string password: PBKDF2-HMAC-SHA1
// with the salt's hex text as salt and a single iteration.
func deriveKey(password, salt string) ([]byte, error) {
	key, err := pbkdf2.Key(sha1.New, password, []byte(salt), 1, keyBytes)
	if err != nil {
		return nil, fmt.Errorf("iron: deriving key: %w", err)
	}
	return key, nil
}

// macDigest returns base64url(HMAC-SHA256(deriveKey(password, salt), data)).
func macDigest(password, salt, data string) (string, error) {
	key, err := deriveKey(password, salt)
	if err != nil {
		return "", err
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return b64.EncodeToString(h.Sum(nil)), nil
}

// checkPassword enforces iron's minimum length, counted in UTF-16 code units
// like JavaScript's String.length. Invalid UTF-8 is rejected because
// JavaScript would derive the key from different (replacement) bytes.
func checkPassword(password string) error {
	if !utf8.ValidString(password) {
		return errors.New("iron: password is not valid UTF-8")
	}
	n := 0
	for _, r := range password {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	if n < MinPasswordLength {
		return fmt.Errorf("iron: password string too short (min %d characters required)", MinPasswordLength)
	}
	return nil
}

// isWord reports whether s matches JavaScript's /^\w+$/.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isSaltHex(s string) bool {
	if len(s) != 2*saltBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// jsParseIntIsTwo reports whether JavaScript's parseInt(s, 10) === 2, which
// is how iron-session decides that a token is version 2: leading whitespace is
// skipped, then an optional sign and the longest run of digits is read.
func jsParseIntIsTwo(s string) bool {
	s = strings.TrimLeftFunc(s, isJSSpace)
	s = strings.TrimPrefix(s, "+")
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	return strings.TrimLeft(s[:end], "0") == "2"
}

// isJSSpace reports whether r is JavaScript white space or a line terminator.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0xFEFF, 0x2028, 0x2029:
		return true
	}
	return unicode.Is(unicode.Zs, r)
}
