// Package secretbox encrypts stored secrets the way the original server does
// (api.md §1.9): per value, a 16-byte random salt, key = scrypt(secret, salt,
// N=16384, r=8, p=1, 32 bytes), AES-256-GCM with a 12-byte random IV and a
// 16-byte tag, stored as base64(salt):base64(iv):base64(tag):base64(ct)
// (standard base64 with padding). Values written by either server decrypt
// with the other.
//
// Used for TOTP secrets (MFA_ENCRYPTION_KEY) and LLM API keys
// (LLM_ENCRYPTION_KEY). Each call derives a fresh scrypt key, which costs
// about 16 MiB and some tens of milliseconds of CPU: fine for sign-in steps,
// not for hot loops.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// Parameters of the stored format (Node's crypto.scryptSync defaults).
const (
	SaltSize = 16
	IVSize   = 12
	TagSize  = 16
	KeySize  = 32
	ScryptN  = 16384
	ScryptR  = 8
	ScryptP  = 1
)

var (
	// ErrNoKey means the encryption key is not configured.
	ErrNoKey = errors.New("secretbox: encryption key is not configured")
	// ErrFormat means the stored value is not salt:iv:tag:ciphertext.
	ErrFormat = errors.New("secretbox: invalid encrypted value format")
	// ErrDecrypt means authentication failed: wrong key or tampered value.
	ErrDecrypt = errors.New("secretbox: decryption failed (wrong key or corrupted value)")
)

// IsEncrypted reports whether a stored value has the encrypted form: the
// original treats a value without ":" as a legacy plaintext secret.
func IsEncrypted(stored string) bool { return strings.Contains(stored, ":") }

// Encrypt seals plaintext under key.
func Encrypt(key, plaintext string) (string, error) {
	salt := make([]byte, SaltSize)
	iv := make([]byte, IVSize)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	return encryptWith(key, plaintext, salt, iv)
}

func encryptWith(key, plaintext string, salt, iv []byte) (string, error) {
	aead, err := newAEAD(key, salt)
	if err != nil {
		return "", err
	}
	sealed := aead.Seal(nil, iv, []byte(plaintext), nil)
	ct, tag := sealed[:len(sealed)-TagSize], sealed[len(sealed)-TagSize:]
	enc := base64.StdEncoding.EncodeToString
	return enc(salt) + ":" + enc(iv) + ":" + enc(tag) + ":" + enc(ct), nil
}

// Decrypt opens a value produced by Encrypt (or by the original server).
func Decrypt(key, stored string) (string, error) {
	parts := strings.Split(stored, ":")
	if len(parts) != 4 {
		return "", ErrFormat
	}
	var raw [4][]byte
	for i, p := range parts {
		b, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return "", fmt.Errorf("%w: part %d is not base64", ErrFormat, i+1)
		}
		raw[i] = b
	}
	salt, iv, tag, ct := raw[0], raw[1], raw[2], raw[3]
	if len(salt) == 0 || len(iv) != IVSize || len(tag) != TagSize {
		return "", ErrFormat
	}
	aead, err := newAEAD(key, salt)
	if err != nil {
		return "", err
	}
	pt, err := aead.Open(nil, iv, append(append([]byte{}, ct...), tag...), nil)
	if err != nil {
		return "", ErrDecrypt
	}
	return string(pt), nil
}

func newAEAD(key string, salt []byte) (cipher.AEAD, error) {
	if key == "" {
		return nil, ErrNoKey
	}
	k, err := scrypt.Key([]byte(key), salt, ScryptN, ScryptR, ScryptP, KeySize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
