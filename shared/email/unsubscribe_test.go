package email

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// Computed independently (Python hmac/base64) from the api.md §1.14
// formula: key "test-cron-secret", uid "uid_ABC123".
const (
	vectorUID   = "uid_ABC123"
	vectorSig   = "245970cc347c66c9627a308dfb38d19596bcd23e0ac599c0944cb4c2946a6256"
	vectorToken = "dWlkX0FCQzEyMzoyNDU5NzBjYzM0N2M2NmM5NjI3YTMwOGRmYjM4ZDE5NTk2YmNkMjNlMGFjNTk5YzA5NDRjYjRjMjk0NmE2MjU2"
)

func mustUnsub(t *testing.T, key string) *Unsubscriber {
	t.Helper()
	u, err := NewUnsubscriber(key)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUnsubscribeTokenVector(t *testing.T) {
	u := mustUnsub(t, "test-cron-secret")
	if got := u.Token(vectorUID); got != vectorToken {
		t.Fatalf("Token = %q, want %q", got, vectorToken)
	}
	uid, err := u.Verify(vectorToken)
	if err != nil || uid != vectorUID {
		t.Fatalf("Verify = %q, %v", uid, err)
	}
}

func TestUnsubscribeRoundTrip(t *testing.T) {
	u := mustUnsub(t, "k")
	for _, uid := range []string{"a", "Zx9yQ1pLmN0oP2qR3sT4uV5wX6y7", "odd:uid", "ünï"} {
		tok := u.Token(uid)
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("token %q is not unpadded base64url", tok)
		}
		got, err := u.Verify(tok)
		if err != nil || got != uid {
			t.Errorf("round trip %q: %q, %v", uid, got, err)
		}
	}
	// Node's decoder also takes padded input.
	padded := base64.URLEncoding.EncodeToString([]byte("u1:" + u.sign("u1")))
	if !strings.HasSuffix(padded, "=") {
		t.Fatalf("test token %q should be padded", padded)
	}
	if got, err := u.Verify(padded); err != nil || got != "u1" {
		t.Errorf("padded: %q, %v", got, err)
	}
}

func TestUnsubscribeRejectsTampering(t *testing.T) {
	u := mustUnsub(t, "test-cron-secret")
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	flipped := []byte(vectorSig)
	flipped[10] ^= 1
	for name, tok := range map[string]string{
		"empty":             "",
		"not base64":        "!!!not-base64!!!",
		"no separator":      enc(vectorUID + vectorSig),
		"empty uid":         enc(":" + vectorSig),
		"signed empty uid":  u.Token(""),
		"empty signature":   enc(vectorUID + ":"),
		"flipped bit":       enc(vectorUID + ":" + string(flipped)),
		"short signature":   enc(vectorUID + ":" + vectorSig[:63]),
		"long signature":    enc(vectorUID + ":" + vectorSig + "0"),
		"upper-case hex":    enc(vectorUID + ":" + strings.ToUpper(vectorSig)),
		"other uid":         enc("someone_else:" + vectorSig),
		"other key":         mustUnsub(t, "other-key").Token(vectorUID),
		"public fallback":   mustUnsub(t, "owlette-unsubscribe-fallback").Token(vectorUID),
		"raw binary sig":    enc(vectorUID + ":" + string(mustHex(vectorSig))),
		"oversized":         strings.Repeat("A", 5000),
		"trailing garbage":  vectorToken + "x",
		"invalid utf8 body": enc("\xff\xfe:" + vectorSig),
	} {
		if uid, err := u.Verify(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Verify = %q, %v; want ErrInvalidToken", name, uid, err)
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestUnsubscribeNeedsKey(t *testing.T) {
	if _, err := NewUnsubscriber(""); !errors.Is(err, ErrNoUnsubscribeKey) {
		t.Fatalf("empty key: %v", err)
	}
}

func TestUnsubscribeLink(t *testing.T) {
	u := mustUnsub(t, "test-cron-secret")
	for _, base := range []string{"https://owlette.app", "https://owlette.app/", " https://owlette.app// "} {
		got, err := u.Link(base, vectorUID)
		if err != nil || got != "https://owlette.app/api/unsubscribe?token="+vectorToken {
			t.Errorf("Link(%q) = %q, %v", base, got, err)
		}
	}
	for _, base := range []string{"", "javascript:alert(1)", "owlette.app", "ftp://owlette.app", "https://user@owlette.app"} {
		if got, err := u.Link(base, vectorUID); !errors.Is(err, ErrBadBase) {
			t.Errorf("Link(%q) = %q, %v; want ErrBadBase", base, got, err)
		}
	}
}
