package iron

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testPassword  = "an-owlette-test-password-of-32+chars"
	otherPassword = "a-completely-different-password-32+chars"
)

var testNow = time.UnixMilli(1_700_000_000_000)

// counterReader yields 0, 1, 2, ... (mod 256), the fake randomness the
// known-answer vectors were generated with.
type counterReader struct{ n byte }

func (c *counterReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

func newTestSealer(t testing.TB) *Sealer {
	t.Helper()
	s, err := NewSealer(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustSeal(t testing.TB, s *Sealer, payload string, ttl time.Duration, now time.Time) string {
	t.Helper()
	seal, err := s.Seal([]byte(payload), ttl, now)
	if err != nil {
		t.Fatalf("Seal(%s): %v", payload, err)
	}
	return seal
}

func assertJSONEqual(t testing.TB, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("result %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("payload = %s, want %s", got, want)
	}
}

// forge builds a seal from raw components with a correct MAC, so tests can
// reach the checks that run after MAC verification.
func forge(t testing.TB, password string, c [6]string) string {
	t.Helper()
	base := strings.Join(c[:], "*")
	macSalt := strings.Repeat("ab", saltBytes)
	mac, err := macDigest(password, macSalt, base)
	if err != nil {
		t.Fatal(err)
	}
	return base + "*" + macSalt + "*" + mac + "~2"
}

// encryptRaw CBC-encrypts whole blocks without adding padding.
func encryptRaw(t testing.TB, password, salt string, iv, blocks []byte) string {
	t.Helper()
	key, err := deriveKey(password, salt)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(blocks))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, blocks)
	return b64.EncodeToString(out)
}

func TestNewSealerPasswordLength(t *testing.T) {
	if _, err := NewSealer(strings.Repeat("x", 31)); err == nil {
		t.Fatal("31-char password accepted")
	}
	s, err := NewSealer(strings.Repeat("x", 32))
	if err != nil {
		t.Fatalf("32-char password rejected: %v", err)
	}
	if s.CurrentID != "1" || len(s.Passwords) != 1 || s.Passwords["1"] != strings.Repeat("x", 32) {
		t.Fatalf("NewSealer = %+v, want {1: password} sealing with id 1", s)
	}
	// Length is counted in UTF-16 code units like JavaScript's String.length:
	// 16 emoji are 32 units (but only 16 runes).
	if _, err := NewSealer(strings.Repeat("🦉", 16)); err != nil {
		t.Fatalf("16 astral runes (32 UTF-16 units) rejected: %v", err)
	}
	if _, err := NewSealer(strings.Repeat("é", 31)); err == nil {
		t.Fatal("31 BMP runes (62 bytes) accepted")
	}
	if _, err := NewSealer(strings.Repeat("x", 31) + "\xff"); err == nil {
		t.Fatal("invalid UTF-8 password accepted")
	}
}

func TestSealUnsealRoundTrip(t *testing.T) {
	s := newTestSealer(t)
	for _, payload := range []string{
		`{"userId":"u1","expiresAt":1700000000000,"sid":"abc"}`,
		`{}`,
		`{"exactly16b":1}`, // one whole block: a full block of padding
		`{"unicode":"héllo 🦉","nested":{"list":[1,2,3],"null":null}}`,
		`[1,2,3]`,
		`"just a string"`,
		`0`,
		`{"big":"` + strings.Repeat("z", 5000) + `"}`,
	} {
		seal := mustSeal(t, s, payload, time.Hour, testNow)
		got, err := s.Unseal(seal, testNow)
		if err != nil {
			t.Fatalf("Unseal(Seal(%.40s)): %v", payload, err)
		}
		if string(got) != payload {
			t.Fatalf("round trip = %.60s, want %.60s", got, payload)
		}
	}
}

var sealPattern = regexp.MustCompile(`^Fe26\.2\*1\*([0-9a-f]{64})\*([A-Za-z0-9_-]{22})\*([A-Za-z0-9_-]+)\*(\d*)\*([0-9a-f]{64})\*([A-Za-z0-9_-]{43})~2$`)

func TestSealFormat(t *testing.T) {
	s := newTestSealer(t)
	seal := mustSeal(t, s, `{"a":1}`, DefaultTTL, testNow)
	m := sealPattern.FindStringSubmatch(seal)
	if m == nil {
		t.Fatalf("seal %q does not match %v", seal, sealPattern)
	}
	if want := strconv.FormatInt(testNow.UnixMilli()+14*24*3600*1000, 10); m[4] != want {
		t.Fatalf("expiry = %s, want now + 14 days = %s", m[4], want)
	}
	if m[1] == m[5] {
		t.Fatal("encryption and mac salts are equal")
	}
	if again := mustSeal(t, s, `{"a":1}`, DefaultTTL, testNow); again == seal {
		t.Fatal("two seals of the same payload are identical: salts/iv not random")
	}

	// ttl 0 means no expiry, as in iron-session: empty component, never expires.
	forever := mustSeal(t, s, `{"a":1}`, 0, testNow)
	if m := sealPattern.FindStringSubmatch(forever); m == nil || m[4] != "" {
		t.Fatalf("ttl 0 seal %q: want an empty expiry component", forever)
	}
	if _, err := s.Unseal(forever, testNow.AddDate(100, 0, 0)); err != nil {
		t.Fatalf("ttl 0 seal rejected a century later: %v", err)
	}
}

// TestSealKnownAnswer pins the exact bytes iron-session 8.0.3 produced for
// sealData({a:1}, {password: "p"*32}) with Date.now() = 1700000000000 and
// crypto.getRandomValues returning bytes 0, 1, 2, ... (generated with
// tools/iron-roundtrip.mjs; iron_node_test.go re-checks this live).
func TestSealKnownAnswer(t *testing.T) {
	const want = "Fe26.2*1*000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f*ICEiIyQlJicoKSorLC0uLw*8kOEMlGZZWyypD7QMTE_GQ*1701209600000*303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f*69lOEJT8inArInTH297IRcFcAD8bhMdjcZe3i7mN6TQ~2"
	s, err := NewSealer(strings.Repeat("p", 32))
	if err != nil {
		t.Fatal(err)
	}
	s.rand = &counterReader{}
	if got := mustSeal(t, s, `{"a":1}`, DefaultTTL, testNow); got != want {
		t.Fatalf("Seal =\n%s\nwant (iron-session)\n%s", got, want)
	}
	got, err := s.Unseal(want, testNow)
	if err != nil {
		t.Fatalf("Unseal(iron-session vector): %v", err)
	}
	assertJSONEqual(t, got, `{"a":1}`)
}

func TestSealRejectsBadInput(t *testing.T) {
	s := newTestSealer(t)
	if _, err := s.Seal([]byte(`{"a":`), time.Hour, testNow); err == nil {
		t.Error("non-JSON payload sealed")
	}
	if _, err := s.Seal([]byte(`{}`), -time.Second, testNow); err == nil {
		t.Error("negative ttl accepted")
	}
	for _, bad := range []*Sealer{
		{Passwords: map[string]string{"1": testPassword}, CurrentID: "2"},
		{Passwords: map[string]string{"a-b": testPassword}, CurrentID: "a-b"},
		{Passwords: map[string]string{"": testPassword}, CurrentID: ""},
		{Passwords: map[string]string{"1": "short"}, CurrentID: "1"},
		{},
		nil,
	} {
		if seal, err := bad.Seal([]byte(`{}`), time.Hour, testNow); err == nil {
			t.Errorf("misconfigured sealer %+v sealed %q", bad, seal)
		}
	}
}

func TestPasswordRotation(t *testing.T) {
	old := newTestSealer(t)
	oldSeal := mustSeal(t, old, `{"v":"old"}`, time.Hour, testNow)

	rotated := &Sealer{Passwords: map[string]string{"1": testPassword, "2": otherPassword}, CurrentID: "2"}
	newSeal := mustSeal(t, rotated, `{"v":"new"}`, time.Hour, testNow)
	if !strings.HasPrefix(newSeal, "Fe26.2*2*") {
		t.Fatalf("rotated seal %q does not use password id 2", newSeal)
	}
	for seal, want := range map[string]string{oldSeal: `{"v":"old"}`, newSeal: `{"v":"new"}`} {
		got, err := rotated.Unseal(seal, testNow)
		if err != nil {
			t.Fatalf("rotated sealer: %v", err)
		}
		assertJSONEqual(t, got, want)
	}
	if _, err := old.Unseal(newSeal, testNow); !errors.Is(err, ErrUnknownPassword) {
		t.Fatalf("old sealer on id-2 seal: err = %v, want ErrUnknownPassword", err)
	}
}

func TestUnsealEmptyPasswordIDUsesDefault(t *testing.T) {
	s := &Sealer{Passwords: map[string]string{"default": testPassword}}
	seal := forge(t, testPassword, [6]string{
		"Fe26.2", "", strings.Repeat("cd", 32), b64.EncodeToString(make([]byte, 16)),
		encryptRaw(t, testPassword, strings.Repeat("cd", 32), make([]byte, 16), append([]byte(`{"d":1}`), bytes.Repeat([]byte{9}, 9)...)),
		"",
	})
	got, err := s.Unseal(seal, testNow)
	if err != nil {
		t.Fatalf("empty id seal with a \"default\" password: %v", err)
	}
	assertJSONEqual(t, got, `{"d":1}`)
	if _, err := newTestSealer(t).Unseal(seal, testNow); !errors.Is(err, ErrUnknownPassword) {
		t.Fatalf("empty id without \"default\": err = %v, want ErrUnknownPassword", err)
	}
}

// replacePart returns seal (with its ~2 suffix) with component i replaced.
func replacePart(seal string, i int, v string) string {
	body, suffix, _ := strings.Cut(seal, "~")
	parts := strings.Split(body, "*")
	parts[i] = v
	return strings.Join(parts, "*") + "~" + suffix
}

func part(seal string, i int) string {
	body, _, _ := strings.Cut(seal, "~")
	return strings.Split(body, "*")[i]
}

// flip changes the character at position i to another base64url/hex
// character, so the component stays well-formed.
func flip(s string, i int) string {
	c := byte('a')
	if s[i] == 'a' {
		c = 'b'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestUnsealTamperedIsBadMAC(t *testing.T) {
	s := newTestSealer(t)
	seal := mustSeal(t, s, `{"userId":"u1","sid":"abc"}`, time.Hour, testNow)
	ct := part(seal, 4)
	mac := part(seal, 7)
	exp := part(seal, 5)
	cases := map[string]string{
		"mac first char":     replacePart(seal, 7, flip(mac, 0)),
		"mac last char":      replacePart(seal, 7, flip(mac, len(mac)-1)),
		"mac truncated":      replacePart(seal, 7, mac[:len(mac)-1]),
		"mac empty":          replacePart(seal, 7, ""),
		"mac padded":         replacePart(seal, 7, mac+"="),
		"ciphertext":         replacePart(seal, 4, flip(ct, 0)),
		"ciphertext last":    replacePart(seal, 4, flip(ct, len(ct)-2)),
		"iv":                 replacePart(seal, 3, flip(part(seal, 3), 3)),
		"encryption salt":    replacePart(seal, 2, flip(part(seal, 2), 10)),
		"mac salt":           replacePart(seal, 6, flip(part(seal, 6), 10)),
		"expiry extended":    replacePart(seal, 5, "9"+exp),
		"expiry removed":     replacePart(seal, 5, ""),
		"other password":     mustSeal(t, &Sealer{Passwords: map[string]string{"1": otherPassword}, CurrentID: "1"}, `{}`, time.Hour, testNow),
		"swapped components": replacePart(replacePart(seal, 2, part(seal, 6)), 6, part(seal, 2)),
	}
	for name, tampered := range cases {
		if tampered == seal {
			t.Fatalf("%s: tampering did not change the seal", name)
		}
		if got, err := s.Unseal(tampered, testNow); !errors.Is(err, ErrBadMAC) {
			t.Errorf("%s: Unseal = %q, %v; want ErrBadMAC", name, got, err)
		}
	}
	// A different password under the same id 1 is a bad MAC; under an id we
	// do not know it is an unknown password.
	other := &Sealer{Passwords: map[string]string{"7": otherPassword}, CurrentID: "7"}
	if _, err := s.Unseal(mustSeal(t, other, `{}`, time.Hour, testNow), testNow); !errors.Is(err, ErrUnknownPassword) {
		t.Errorf("seal with password id 7: err = %v, want ErrUnknownPassword", err)
	}
}

func TestUnsealExpiry(t *testing.T) {
	s := newTestSealer(t)
	const ttl = 10 * time.Minute
	seal := mustSeal(t, s, `{"a":1}`, ttl, testNow)
	exp := testNow.Add(ttl)
	if got := part(seal, 5); got != strconv.FormatInt(exp.UnixMilli(), 10) {
		t.Fatalf("expiry component = %s, want %d", got, exp.UnixMilli())
	}
	for _, tc := range []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"at sealing", testNow, true},
		{"long before", testNow.Add(-24 * time.Hour), true},
		{"at expiry", exp, true},
		{"inside 60s skew", exp.Add(59 * time.Second), true},
		{"last ms of skew", exp.Add(time.Minute - time.Millisecond), true},
		// iron: exp <= now - 60000 is expired, so exactly 60 s after is out.
		{"exactly 60s after", exp.Add(time.Minute), false},
		{"61s after", exp.Add(61 * time.Second), false},
		{"a year after", exp.AddDate(1, 0, 0), false},
	} {
		got, err := s.Unseal(seal, tc.now)
		if tc.ok && err != nil {
			t.Errorf("%s: %v, want success", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrExpired) {
			t.Errorf("%s: Unseal = %q, %v; want ErrExpired", tc.name, got, err)
		}
	}
	// An expiry too large for int64 is, as in JavaScript, just far in the future.
	huge := forge(t, testPassword, [6]string{"Fe26.2", "1", part(seal, 2), part(seal, 3), part(seal, 4), strings.Repeat("9", 40)})
	if _, err := s.Unseal(huge, testNow); err != nil {
		t.Errorf("40-digit expiry: %v", err)
	}
}

func TestUnsealMalformed(t *testing.T) {
	s := newTestSealer(t)
	seal := mustSeal(t, s, `{"a":1}`, time.Hour, testNow)
	body := strings.TrimSuffix(seal, "~2")
	salt, iv, ct, exp := part(seal, 2), part(seal, 3), part(seal, 4), part(seal, 5)
	cases := map[string]string{
		"empty":               "",
		"only version":        "~2",
		"prefix only":         "Fe26.2",
		"seven parts":         body[:strings.LastIndex(body, "*")] + "~2",
		"nine parts":          body + "*x~2",
		"garbage":             "not a seal at all",
		"stars":               "*******~2",
		"wrong prefix":        replacePart(seal, 0, "Fe26.1"),
		"expiry not digits":   replacePart(seal, 5, "12a"),
		"expiry negative":     replacePart(seal, 5, "-"+exp),
		"expiry with space":   replacePart(seal, 5, " "+exp),
		"salt uppercase":      replacePart(seal, 2, strings.ToUpper(salt)),
		"salt not hex":        replacePart(seal, 2, "zz"+salt[2:]),
		"salt short":          replacePart(seal, 2, salt[:62]),
		"salt empty":          replacePart(seal, 6, ""),
		"iv bad base64":       replacePart(seal, 3, "!!"+iv[2:]),
		"iv padded":           replacePart(seal, 3, iv+"=="),
		"iv wrong length":     replacePart(seal, 3, iv[:20]),
		"iv empty":            replacePart(seal, 3, ""),
		"ciphertext bad char": replacePart(seal, 4, ct[:5]+"+"+ct[6:]),
		"ciphertext newline":  replacePart(seal, 4, ct[:4]+"\n"+ct[4:]),
		"ciphertext partial":  replacePart(seal, 4, ct[:len(ct)-4]),
		"ciphertext empty":    replacePart(seal, 4, ""),
		"ciphertext 4n+1":     replacePart(seal, 4, ct+"A"),
	}
	// Correctly MAC'd seals whose content is still wrong.
	zeroIV := make([]byte, 16)
	mk := func(plain []byte) string {
		return forge(t, testPassword, [6]string{"Fe26.2", "1", salt, b64.EncodeToString(zeroIV), encryptRaw(t, testPassword, salt, zeroIV, plain), ""})
	}
	cases["padding byte 0"] = mk(append([]byte("{}"), make([]byte, 14)...))
	cases["padding byte 17"] = mk(append([]byte("{}"), bytes.Repeat([]byte{17}, 14)...))
	cases["padding inconsistent"] = mk(append([]byte("{}"), append(bytes.Repeat([]byte{3}, 13), 14)...))
	cases["plaintext not JSON"] = mk(append([]byte("{oops"), bytes.Repeat([]byte{11}, 11)...))

	for name, bad := range cases {
		got, err := s.Unseal(bad, testNow)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Unseal(%.50q) = %q, %v; want ErrMalformed", name, bad, got, err)
		}
	}
}

// TestUnsealVersionSuffix mirrors iron-session's parseSeal: only a version
// that JavaScript's parseInt reads as 2 returns the data as sealed; anything
// else (including no "~" at all) returns {...data.persistent}.
func TestUnsealVersionSuffix(t *testing.T) {
	s := newTestSealer(t)
	seal := mustSeal(t, s, `{"persistent":{"a":1},"b":2}`, time.Hour, testNow)
	body := strings.TrimSuffix(seal, "~2")
	const whole, legacy = `{"persistent":{"a":1},"b":2}`, `{"a":1}`
	for suffix, want := range map[string]string{
		"~2":       whole,
		"~02":      whole,
		"~+2":      whole,
		"~ 2":      whole,
		"~\u00a02": whole,
		"~2abc":    whole,
		"~2.5":     whole,
		"~2~9":     whole,
		"":         legacy,
		"~":        legacy,
		"~3":       legacy,
		"~1":       legacy,
		"~-2":      legacy,
		"~20":      legacy,
		"~x2":      legacy,
		"~~2":      legacy,
	} {
		got, err := s.Unseal(body+suffix, testNow)
		if err != nil {
			t.Errorf("suffix %q: %v", suffix, err)
			continue
		}
		assertJSONEqual(t, got, want)
	}

	for payload, want := range map[string]string{
		`{"a":1}`:                 `{}`,
		`{"persistent":null}`:     `{}`,
		`{"persistent":5}`:        `{}`,
		`{"persistent":{}}`:       `{}`,
		`null`:                    `{}`,
		`[1]`:                     `{}`,
		`{"persistent":{"x":[]}}`: `{"x":[]}`,
	} {
		legacySeal := strings.TrimSuffix(mustSeal(t, s, payload, time.Hour, testNow), "~2")
		got, err := s.Unseal(legacySeal, testNow)
		if err != nil {
			t.Fatalf("legacy %s: %v", payload, err)
		}
		assertJSONEqual(t, got, want)
	}
}

// iron-session turns a null payload (and iron an empty plaintext) into {}.
func TestUnsealNullPayload(t *testing.T) {
	s := newTestSealer(t)
	got, err := s.Unseal(mustSeal(t, s, `null`, time.Hour, testNow), testNow)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, got, `{}`)

	salt := strings.Repeat("01", 32)
	iv := make([]byte, 16)
	empty := forge(t, testPassword, [6]string{"Fe26.2", "1", salt, b64.EncodeToString(iv), encryptRaw(t, testPassword, salt, iv, bytes.Repeat([]byte{16}, 16)), ""})
	got, err = s.Unseal(empty, testNow)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, got, `{}`)
}

func TestUnsealMisconfiguredSealer(t *testing.T) {
	seal := mustSeal(t, newTestSealer(t), `{}`, time.Hour, testNow)
	short := &Sealer{Passwords: map[string]string{"1": "short"}, CurrentID: "1"}
	_, err := short.Unseal(seal, testNow)
	if err == nil {
		t.Fatal("short password accepted")
	}
	for _, sentinel := range []error{ErrExpired, ErrBadMAC, ErrUnknownPassword, ErrMalformed} {
		if errors.Is(err, sentinel) {
			t.Fatalf("config error %v wraps seal error %v", err, sentinel)
		}
	}
	if _, err := (*Sealer)(nil).Unseal(seal, testNow); err == nil {
		t.Fatal("nil sealer unsealed")
	}
	if _, err := (&Sealer{}).Unseal(seal, testNow); !errors.Is(err, ErrUnknownPassword) {
		t.Fatalf("empty sealer: err = %v, want ErrUnknownPassword", err)
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	errs := []error{ErrExpired, ErrBadMAC, ErrUnknownPassword, ErrMalformed}
	for i, a := range errs {
		for j, b := range errs {
			if i != j && (errors.Is(a, b) || a.Error() == b.Error()) {
				t.Errorf("%v and %v are not distinct", a, b)
			}
		}
	}
}

func FuzzUnseal(f *testing.F) {
	s := newTestSealer(f)
	seal := mustSeal(f, s, `{"userId":"u1","expiresAt":1700000000000,"sid":"abc"}`, time.Hour, testNow)
	legacy := mustSeal(f, s, `{"persistent":{"a":1}}`, 0, testNow)
	f.Add(seal)
	f.Add(strings.TrimSuffix(legacy, "~2"))
	f.Add(replacePart(seal, 7, flip(part(seal, 7), 0)))
	f.Add(replacePart(seal, 1, "2"))
	f.Add(replacePart(seal, 1, ""))
	f.Add(replacePart(seal, 5, "0"))
	f.Add(replacePart(seal, 4, part(seal, 4)[:7]))
	f.Add("")
	f.Add("~")
	f.Add("Fe26.2*******~2")
	f.Add("Fe26.2*1*zz*zz*zz*1*zz*zz~2~2")
	sentinels := []error{ErrExpired, ErrBadMAC, ErrUnknownPassword, ErrMalformed}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := s.Unseal(in, testNow)
		if err != nil {
			for _, sentinel := range sentinels {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("Unseal(%q): error %v wraps no sentinel", in, err)
		}
		if !json.Valid(got) {
			t.Fatalf("Unseal(%q) = %q, not JSON", in, got)
		}
	})
}
