package secretbox

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// A value produced by Node's crypto (scryptSync + aes-256-gcm) with a fixed
// salt and IV, exactly as the original server stores TOTP secrets:
//
//	salt 000102…0f, iv a0a1…ab, key "test-mfa-encryption-key",
//	plaintext "JBSWY3DPEHPK3PXP".
const nodeVector = "AAECAwQFBgcICQoLDA0ODw==:oKGio6Slpqeoqaqr:WjpdvomGNmS6pgvqaRCjTQ==:zfXeFyq6LlFqq2P9fp+eRg=="

func TestDecryptFixedVector(t *testing.T) {
	got, err := Decrypt("test-mfa-encryption-key", nodeVector)
	if err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	// Encrypting with the same salt and IV reproduces the vector byte for byte.
	salt, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	iv, _ := hex.DecodeString("a0a1a2a3a4a5a6a7a8a9aaab")
	enc, err := encryptWith("test-mfa-encryption-key", "JBSWY3DPEHPK3PXP", salt, iv)
	if err != nil || enc != nodeVector {
		t.Fatalf("encryptWith = %q, %v", enc, err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, pt := range []string{"", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "sk-ant-ü-" + strings.Repeat("x", 500)} {
		enc, err := Encrypt("k1", pt)
		if err != nil {
			t.Fatal(err)
		}
		if parts := strings.Split(enc, ":"); len(parts) != 4 || !IsEncrypted(enc) {
			t.Fatalf("format %q", enc)
		}
		got, err := Decrypt("k1", enc)
		if err != nil || got != pt {
			t.Fatalf("round trip %q: %q, %v", pt, got, err)
		}
		again, _ := Encrypt("k1", pt)
		if again == enc {
			t.Error("two encryptions are identical: salt/IV not random")
		}
	}
}

func TestDecryptFailures(t *testing.T) {
	enc, err := Encrypt("right", "secret")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(enc, ":")
	tampered := strings.Join([]string{parts[0], parts[1], parts[2], "AAAA" + parts[3][4:]}, ":")
	cases := []struct {
		name, key, value string
		want             error
	}{
		{"wrong key", "wrong", enc, ErrDecrypt},
		{"tampered ciphertext", "right", tampered, ErrDecrypt},
		{"three parts", "right", strings.Join(parts[:3], ":"), ErrFormat},
		{"five parts", "right", enc + ":AA==", ErrFormat},
		{"not base64", "right", "a:b:c:d!", ErrFormat},
		{"short iv", "right", parts[0] + ":AAAA:" + parts[2] + ":" + parts[3], ErrFormat},
		{"legacy plaintext", "right", "JBSWY3DPEHPK3PXP", ErrFormat},
		{"no key", "", enc, ErrNoKey},
	}
	for _, c := range cases {
		if _, err := Decrypt(c.key, c.value); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Encrypt("", "x"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Encrypt without key: %v", err)
	}
	if IsEncrypted("JBSWY3DPEHPK3PXP") {
		t.Error("plaintext base32 seen as encrypted")
	}
}
