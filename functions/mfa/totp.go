package mfa

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/skip2/go-qrcode"
)

// TOTP parameters (api.md §1.10): SHA-1, 6 digits, 30 s steps, ±1 step.
const (
	Period = 30
	Digits = 6
	Skew   = 1
	// SecretBytes is the size of new secrets: 160 bits (RFC 4226 §4's
	// recommendation; the original made 80-bit ones, which keep working).
	SecretBytes = 20
	Issuer      = "Owlette"
)

// NewSecret returns a fresh base32 secret (no padding: 32 characters).
func NewSecret() (string, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b), nil
}

// Step is the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// CodeAt is the code of a base32 secret (any case, padding optional) at a
// time step, with the given number of digits (6 for users; the RFC 6238
// test vectors use 8).
func CodeAt(secret string, step int64, digits int) (string, error) {
	if step < 0 {
		return "", fmt.Errorf("negative time step")
	}
	return hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.Digits(digits), Algorithm: otp.AlgorithmSHA1})
}

// MatchStep finds the time step within ±Skew of now whose code is code. ok
// is false when none matches; err is set when the secret is not base32.
func MatchStep(secret, code string, now time.Time) (step int64, ok bool, err error) {
	cur := Step(now)
	for s := cur - Skew; s <= cur+Skew; s++ {
		want, err := CodeAt(secret, s, Digits)
		if err != nil {
			return 0, false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true, nil
		}
	}
	return 0, false, nil
}

// KeyURI is the otpauth URI of a secret, as authenticator apps expect it
// and as the original encodes it (otplib keyuri, encodeURIComponent).
func KeyURI(account, secret string) string {
	return "otpauth://totp/" + encodeURIComponent(Issuer) + ":" + encodeURIComponent(account) +
		"?secret=" + secret + fmt.Sprintf("&period=%d&digits=%d&algorithm=SHA1&issuer=", Period, Digits) + encodeURIComponent(Issuer)
}

// QRDataURL renders uri as a PNG data URL.
func QRDataURL(uri string) (string, error) {
	png, err := qrcode.Encode(uri, qrcode.Medium, 256)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}

// encodeURIComponent is JavaScript's: everything but A–Z a–z 0–9 - _ . ! ~
// * ' ( ) is percent-encoded as UTF-8.
func encodeURIComponent(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', strings.IndexByte("-_.!~*'()", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
