package mfa

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"
)

// rfcSecret is the SHA-1 seed of RFC 6238 Appendix B ("12345678901234567890",
// 20 bytes: exactly the size of new secrets).
var rfcSecret = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

// RFC 6238 Appendix B, SHA-1 column (8 digits).
var rfcVectors = []struct {
	unix int64
	code string
}{
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{20000000000, "65353130"},
}

func TestRFC6238Vectors(t *testing.T) {
	for _, v := range rfcVectors {
		got, err := CodeAt(rfcSecret, Step(time.Unix(v.unix, 0)), 8)
		if err != nil || got != v.code {
			t.Errorf("T=%d: %q %v, want %q", v.unix, got, err, v.code)
		}
		// Users get 6 digits: the same truncation, mod 10^6.
		six, _ := CodeAt(rfcSecret, Step(time.Unix(v.unix, 0)), Digits)
		if six != v.code[2:] {
			t.Errorf("T=%d 6 digits: %q, want %q", v.unix, six, v.code[2:])
		}
	}
	// Lower case and missing padding are accepted (authenticator exports).
	if got, _ := CodeAt(strings.ToLower(strings.TrimRight(rfcSecret, "=")), 1, 8); got != "94287082" {
		t.Errorf("lower case secret: %s", got)
	}
}

func TestMatchStep(t *testing.T) {
	now := time.Unix(1111111109, 0)
	cur := Step(now)
	for _, d := range []int64{-1, 0, 1} {
		code, _ := CodeAt(rfcSecret, cur+d, Digits)
		step, ok, err := MatchStep(rfcSecret, code, now)
		if err != nil || !ok || step != cur+d {
			t.Errorf("offset %d: step %d ok %v err %v", d, step, ok, err)
		}
	}
	for _, d := range []int64{-2, 2} {
		code, _ := CodeAt(rfcSecret, cur+d, Digits)
		if _, ok, _ := MatchStep(rfcSecret, code, now); ok {
			t.Errorf("offset %d accepted: the window is ±1 step", d)
		}
	}
	if _, _, err := MatchStep("not base32!", "123456", now); err == nil {
		t.Error("invalid secret accepted")
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(a)
	if err != nil || len(raw) != 20 || len(a) != 32 || a == b {
		t.Errorf("secret %q (%d bytes, %v), second %q", a, len(raw), err, b)
	}
}

func TestKeyURI(t *testing.T) {
	got := KeyURI("ada lovelace+x@example.test", "JBSWY3DPEHPK3PXP")
	want := "otpauth://totp/Owlette:ada%20lovelace%2Bx%40example.test?secret=JBSWY3DPEHPK3PXP&period=30&digits=6&algorithm=SHA1&issuer=Owlette"
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	if got := encodeURIComponent("a-_.!~*'()é/?"); got != "a-_.!~*'()%C3%A9%2F%3F" {
		t.Errorf("encodeURIComponent: %s", got)
	}
}
