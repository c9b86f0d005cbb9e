package webhook

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Known answers computed with openssl, independently of this package.
const (
	hexSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	kaBody    = `{"event":"test"}`
	kaID      = "msg_1"
)

var kaTime = time.Unix(1767225600, 0)

func TestSignatureKnownAnswer(t *testing.T) {
	// Keyed with the hex string's own bytes, not the decoded bytes.
	want := "sha256=9075e5edd0ac8bf066d1f30c08cb0420ca04d5dffa6d8054ccbbcf56f83ceefb"
	if got := Signature(hexSecret, []byte(kaBody)); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestStandardSignatureKnownAnswer(t *testing.T) {
	for _, c := range []struct{ secret, sig, whsec string }{
		// 64 hex chars: the key is the 32 decoded bytes.
		{hexSecret, "v1,lNdsaVDwUdMs3Aia0ndWfFwwFInTm9QJsJJlyKkRBNI=", "whsec_ASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4mrze8="},
		// Anything else: its UTF-8 bytes.
		{"legacy-secret", "v1,6i8Y5OX5PZdjNwF/sCyx7IpZG7BSrezsA1G5/RjqqUo=", "whsec_bGVnYWN5LXNlY3JldA=="},
	} {
		if got := StandardSignature(c.secret, kaID, kaTime, []byte(kaBody)); got != c.sig {
			t.Errorf("%s: signature %s, want %s", c.secret, got, c.sig)
		}
		if got := StandardSecret(c.secret); got != c.whsec {
			t.Errorf("%s: StandardSecret %s, want %s", c.secret, got, c.whsec)
		}
	}
}

func TestStandardKeyFallbacks(t *testing.T) {
	for _, s := range []string{
		hexSecret[:63] + "g", // 64 chars, not hex
		hexSecret[:62],       // hex, not 64 chars
		"",
	} {
		if got := string(standardKey(s)); got != s {
			t.Errorf("standardKey(%q) = %x, want the UTF-8 bytes", s, got)
		}
	}
}

// The reference library, configured with StandardSecret as a receiver
// would, accepts our headers; and rejects them after tampering.
func TestStandardSignatureVerifiesWithReferenceLibrary(t *testing.T) {
	for _, secret := range []string{hexSecret, "legacy-secret"} {
		wh, err := standardwebhooks.NewWebhook(StandardSecret(secret))
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(HeaderWebhookID, kaID)
		h.Set(HeaderWebhookTimestamp, strconv.FormatInt(kaTime.Unix(), 10))
		h.Set(HeaderWebhookSignature, StandardSignature(secret, kaID, kaTime, []byte(kaBody)))
		if err := wh.VerifyIgnoringTimestamp([]byte(kaBody), h); err != nil {
			t.Errorf("%s: %v", secret, err)
		}
		if err := wh.VerifyIgnoringTimestamp([]byte(kaBody+" "), h); err == nil {
			t.Errorf("%s: tampered body verified", secret)
		}
		h.Set(HeaderWebhookID, "msg_2")
		if err := wh.VerifyIgnoringTimestamp([]byte(kaBody), h); err == nil {
			t.Errorf("%s: changed id verified", secret)
		}
	}
}
