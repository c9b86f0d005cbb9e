package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"
)

// Header names. The original's two keep their spelling; Go sends them in
// canonical case, which HTTP treats as the same name.
const (
	HeaderSignature          = "X-owlette-Signature"
	HeaderEvent              = "X-owlette-Event"
	HeaderWebhookID          = "webhook-id"
	HeaderWebhookTimestamp   = "webhook-timestamp"
	HeaderWebhookSignature   = "webhook-signature"
	UserAgent                = "owlette-Webhooks/1.0"
	standardSecretPrefix     = "whsec_"
	standardSignatureVersion = "v1,"
)

// Signature is the X-owlette-Signature value: "sha256=" + hex
// HMAC-SHA256 of body keyed with the secret string's UTF-8 bytes, as
// stored (not hex-decoded; datamodel.md §0 item 10).
func Signature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// StandardSignature is the Standard Webhooks webhook-signature value:
// "v1," + base64 HMAC-SHA256 of "<msgID>.<unix seconds>.<body>" keyed with
// standardKey(secret).
func StandardSignature(secret, msgID string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, standardKey(secret))
	m.Write([]byte(msgID + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return standardSignatureVersion + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// StandardSecret is the secret in the Standard Webhooks form ("whsec_" +
// base64 of the key) that receivers give the reference libraries. Show it
// next to the stored secret (E44/E45).
func StandardSecret(secret string) string {
	return standardSecretPrefix + base64.StdEncoding.EncodeToString(standardKey(secret))
}

// standardKey is the Standard Webhooks signing key. Our secrets are 32
// random bytes written as 64 hex characters, so the key is those 32 bytes;
// any other secret (older dashboard-made ones) is used as its UTF-8 bytes.
func standardKey(secret string) []byte {
	if len(secret) == 64 {
		if b, err := hex.DecodeString(secret); err == nil {
			return b
		}
	}
	return []byte(secret)
}
