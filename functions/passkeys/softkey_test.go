package passkeys_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// softKey is a software WebAuthn authenticator (ES256, attestation "none")
// that answers the server's options the way a browser would, so the
// verification paths are tested without a browser (browser_test.go does
// the real thing with Chromium).
type softKey struct {
	t      *testing.T
	key    *ecdsa.PrivateKey
	id     []byte
	count  uint32
	rpID   string
	origin string
	uv     bool // user verified
	be, bs bool // backup eligible / state
	handle []byte
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{t: t, key: k, id: id, rpID: "localhost", origin: "http://localhost:3000", uv: true}
}

var b64 = base64.RawURLEncoding

func (s *softKey) credID() string { return b64.EncodeToString(s.id) }

func (s *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": s.origin, "crossOrigin": false})
	return b
}

func (s *softKey) authData(attested bool) []byte {
	h := sha256.Sum256([]byte(s.rpID))
	flags := byte(0x01) // UP
	if s.uv {
		flags |= 0x04
	}
	if s.be {
		flags |= 0x08
	}
	if s.bs {
		flags |= 0x10
	}
	if attested {
		flags |= 0x40
	}
	out := append([]byte{}, h[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, s.count)
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(s.id)))
		out = append(out, s.id...)
		cose, err := webauthncbor.Marshal(map[int]any{
			1: 2, 3: -7, -1: 1,
			-2: s.key.X.FillBytes(make([]byte, 32)),
			-3: s.key.Y.FillBytes(make([]byte, 32)),
		})
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, cose...)
	}
	return out
}

// create answers E07's options (challenge, user.id) with a
// RegistrationResponseJSON.
func (s *softKey) create(options map[string]any) map[string]any {
	s.t.Helper()
	challenge, _ := options["challenge"].(string)
	if u, ok := options["user"].(map[string]any); ok {
		s.handle, _ = b64.DecodeString(u["id"].(string))
	}
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": s.authData(true)})
	if err != nil {
		s.t.Fatal(err)
	}
	return map[string]any{
		"id": s.credID(), "rawId": s.credID(), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(s.clientData("webauthn.create", challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal", "hybrid"},
		},
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
	}
}

// get answers E09's options with an AuthenticationResponseJSON; the user
// handle is sent base64url-encoded (browsers, @simplewebauthn/browser v13)
// unless handle is given verbatim.
func (s *softKey) get(options map[string]any, handle *string) map[string]any {
	s.t.Helper()
	challenge, _ := options["challenge"].(string)
	s.count++
	ad := s.authData(false)
	cd := s.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		s.t.Fatal(err)
	}
	uh := b64.EncodeToString(s.handle)
	if handle != nil {
		uh = *handle
	}
	resp := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
	}
	if uh != "" {
		resp["userHandle"] = uh
	}
	return map[string]any{
		"id": s.credID(), "rawId": s.credID(), "type": "public-key", "authenticatorAttachment": "platform",
		"response": resp, "clientExtensionResults": map[string]any{},
	}
}
