package iron

// Cross-implementation tests against the real iron-session (tools/node_modules)
// through tools/iron-roundtrip.mjs. They need node and `npm ci` in tools/,
// which `make test` provides; without them they fail rather than skip, because
// cookie compatibility with the Node dashboard is the point of this package.
// Node starts slowly, so each test sends its commands as one batch.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// toolsDir returns the repository's tools/ directory, failing the test if
// node or iron-session is not available.
func toolsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "tools"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH (%v): the iron-session compatibility tests need Node; run them with `make test`", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "iron-roundtrip.mjs")); err != nil {
		t.Fatalf("missing tools/iron-roundtrip.mjs: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "iron-session", "package.json")); err != nil {
		t.Fatalf("iron-session is not installed in %s/node_modules (%v): run `make test`, or `npm ci` in tools/", dir, err)
	}
	return dir
}

type nodeCmd map[string]any

func sealCmd(password, data any) nodeCmd {
	return nodeCmd{"op": "seal", "password": password, "data": data}
}

func unsealCmd(password any, seal string) nodeCmd {
	return nodeCmd{"op": "unseal", "password": password, "seal": seal}
}

func (c nodeCmd) with(k string, v any) nodeCmd {
	c[k] = v
	return c
}

// runNode runs the commands through iron-roundtrip.mjs in one process and
// returns what each printed: a seal, or the JSON of an unsealData result.
func runNode(t *testing.T, cmds ...nodeCmd) []string {
	t.Helper()
	dir := toolsDir(t)
	in, err := json.Marshal(cmds)
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("node", "iron-roundtrip.mjs")
	c.Dir = dir
	c.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("node iron-roundtrip.mjs %s: %v\n%s", in, err, stderr.String())
	}
	var out []string
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out) != len(cmds) {
		t.Fatalf("iron-roundtrip.mjs printed %q (%v), want a JSON array of %d strings", stdout.String(), err, len(cmds))
	}
	return out
}

func sessionPayload() string {
	return `{"userId":"u1","expiresAt":` + strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10) + `,"sid":"abc"}`
}

// (a) Go seals, iron-session unseals to the same object.
func TestNodeUnsealsGoSeal(t *testing.T) {
	s := newTestSealer(t)
	payloads := []string{
		sessionPayload(),
		`{"unicode":"héllo 🦉 \u2028","nested":{"list":[1,2.5,"x"],"t":true,"n":null}}`,
		`{"exactly16b":1}`,
	}
	var cmds []nodeCmd
	for _, p := range payloads {
		seal := mustSeal(t, s, p, DefaultTTL, time.Now())
		cmds = append(cmds,
			unsealCmd(testPassword, seal),
			// The password as a map, as iron-session also accepts it.
			unsealCmd(map[string]string{"1": testPassword}, seal))
	}
	out := runNode(t, cmds...)
	for i, got := range out {
		assertJSONEqual(t, []byte(got), payloads[i/2])
	}
}

// (b) iron-session seals, Go unseals to the same JSON.
func TestGoUnsealsNodeSeal(t *testing.T) {
	s := newTestSealer(t)
	payloads := []string{
		sessionPayload(),
		`{"unicode":"héllo 🦉","nested":{"list":[1,2.5,"x"],"t":true,"n":null}}`,
	}
	var cmds []nodeCmd
	for _, p := range payloads {
		cmds = append(cmds, sealCmd(testPassword, json.RawMessage(p)))
	}
	for i, seal := range runNode(t, cmds...) {
		if !sealPattern.MatchString(seal) {
			t.Fatalf("iron-session seal %q does not match the expected format %v", seal, sealPattern)
		}
		got, err := s.Unseal(seal, time.Now())
		if err != nil {
			t.Fatalf("Go Unseal of iron-session seal %q: %v", seal, err)
		}
		assertJSONEqual(t, got, payloads[i])
	}
}

// (c) A seal made with another password is rejected, in both directions.
func TestOtherPasswordRejected(t *testing.T) {
	s := newTestSealer(t)
	payload := sessionPayload()
	goOther := mustSeal(t, &Sealer{Passwords: map[string]string{"1": otherPassword}, CurrentID: "1"}, payload, DefaultTTL, time.Now())
	goOurs := mustSeal(t, s, payload, DefaultTTL, time.Now())
	out := runNode(t,
		sealCmd(otherPassword, json.RawMessage(payload)),                         // same id "1", other password
		sealCmd(map[string]string{"2": otherPassword}, json.RawMessage(payload)), // an id Go does not have
		unsealCmd(testPassword, goOther),
		unsealCmd(map[string]string{"2": testPassword}, goOurs),
	)

	if got, err := s.Unseal(out[0], time.Now()); !errors.Is(err, ErrBadMAC) {
		t.Errorf("Go Unseal of a seal under another password = %q, %v; want ErrBadMAC", got, err)
	}
	if got, err := s.Unseal(out[1], time.Now()); !errors.Is(err, ErrUnknownPassword) {
		t.Errorf("Go Unseal of a seal under password id 2 = %q, %v; want ErrUnknownPassword", got, err)
	}
	// iron-session does not throw for a bad MAC or an unknown id: it returns {}.
	if out[2] != "{}" {
		t.Errorf("iron-session unsealed a Go seal under another password to %s, want {}", out[2])
	}
	if out[3] != "{}" {
		t.Errorf("iron-session unsealed a seal with an unknown password id to %s, want {}", out[3])
	}
}

// With the same clock and the same "random" bytes, Go must produce exactly
// the seal iron-session produces.
func TestSealMatchesIronSessionByteForByte(t *testing.T) {
	password := strings.Repeat("p", 32)
	pool := make([]byte, 80) // enc salt 32 + iv 16 + mac salt 32
	(&counterReader{n: 7}).Read(pool)
	cases := []struct {
		payload string
		ttlSec  int64 // iron-session's ttl option; -1 = omit (default)
	}{
		{`{"a":1}`, -1},
		{`{"userId":"u1","expiresAt":1700003600000,"sid":"abc"}`, 3600},
		{`{"exactly16b":1}`, 0}, // ttl 0: no expiry
		{`{"s":"héllo 🦉 <>&\u2028"}`, 1},
	}
	var cmds []nodeCmd
	for _, tc := range cases {
		c := sealCmd(password, json.RawMessage(tc.payload)).
			with("nowMs", testNow.UnixMilli()).
			with("random", hex.EncodeToString(pool))
		if tc.ttlSec >= 0 {
			c.with("ttl", tc.ttlSec)
		}
		cmds = append(cmds, c)
	}
	out := runNode(t, cmds...)
	for i, tc := range cases {
		ttl := DefaultTTL
		if tc.ttlSec >= 0 {
			ttl = time.Duration(tc.ttlSec) * time.Second
		}
		// Go seals the JSON bytes it is given; iron-session seals
		// JSON.stringify(data). Give Go the bytes Node serialised: compact,
		// with JavaScript's escaping (none for <>& or U+2028).
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(tc.payload)); err != nil {
			t.Fatal(err)
		}
		payload := strings.ReplaceAll(compact.String(), `\u2028`, "\u2028")
		s, err := NewSealer(password)
		if err != nil {
			t.Fatal(err)
		}
		s.rand = bytes.NewReader(pool)
		if got := mustSeal(t, s, payload, ttl, testNow); got != out[i] {
			t.Errorf("payload %s ttl %ds:\nGo   %s\nNode %s", tc.payload, tc.ttlSec, got, out[i])
		}
	}
}

// Both implementations draw the 60 s timestamp-skew line at the same
// millisecond.
func TestExpirySkewMatchesIronSession(t *testing.T) {
	s := newTestSealer(t)
	seal := mustSeal(t, s, `{"a":1}`, time.Second, testNow)
	exp := testNow.Add(time.Second)
	cases := []struct {
		now   time.Time
		valid bool
	}{
		{testNow, true},
		{exp, true},
		{exp.Add(time.Minute - time.Millisecond), true},
		{exp.Add(time.Minute), false},
		{exp.Add(time.Hour), false},
	}
	var cmds []nodeCmd
	for _, tc := range cases {
		cmds = append(cmds, unsealCmd(testPassword, seal).with("nowMs", tc.now.UnixMilli()))
	}
	out := runNode(t, cmds...)
	for i, tc := range cases {
		_, err := s.Unseal(seal, tc.now)
		if tc.valid {
			if err != nil {
				t.Errorf("now = exp%+v: Go %v, want valid", tc.now.Sub(exp), err)
			}
			assertJSONEqual(t, []byte(out[i]), `{"a":1}`)
		} else {
			if !errors.Is(err, ErrExpired) {
				t.Errorf("now = exp%+v: Go %v, want ErrExpired", tc.now.Sub(exp), err)
			}
			if out[i] != "{}" {
				t.Errorf("now = exp%+v: iron-session returned %s, want {} (expired)", tc.now.Sub(exp), out[i])
			}
		}
	}
}

// iron-session accepts a seal without "~2" (and with any other version) and
// then returns {...data.persistent}; Go must agree.
func TestVersionSuffixMatchesIronSession(t *testing.T) {
	s := newTestSealer(t)
	seals := runNode(t,
		sealCmd(testPassword, json.RawMessage(`{"persistent":{"a":1,"n":{"x":[1]}},"b":2}`)),
		sealCmd(testPassword, json.RawMessage(`{"a":1}`)),
	)
	var variants []string
	for _, seal := range seals {
		body := strings.TrimSuffix(seal, "~2")
		for _, suffix := range []string{"~2", "", "~3", "~", "~02", "~2x~9", "~-2", "~ 2"} {
			variants = append(variants, body+suffix)
		}
	}
	var cmds []nodeCmd
	for _, v := range variants {
		cmds = append(cmds, unsealCmd(testPassword, v))
	}
	out := runNode(t, cmds...)
	for i, v := range variants {
		got, err := s.Unseal(v, time.Now())
		if err != nil {
			t.Errorf("%q: Go %v, iron-session %s", v[strings.LastIndex(v, "*"):], err, out[i])
			continue
		}
		assertJSONEqual(t, got, out[i])
	}
	// Sanity: the legacy reading really differs from the v2 one.
	if out[0] == out[1] || out[1] != `{"a":1,"n":{"x":[1]}}` {
		t.Fatalf("iron-session: with ~2 %s, without %s; want the whole object, then its persistent member", out[0], out[1])
	}
}
