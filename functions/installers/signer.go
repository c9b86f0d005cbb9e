package installers

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"cloud.google.com/go/storage"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
)

// The variables that configure signing (package documentation), read by
// shared/config into the Storage group.
const (
	EnvSigningKeyFile = config.EnvStorageSigningKeyFile
	EnvSigningAccount = config.EnvStorageSigningAccount
)

// Signer signs Cloud Storage URLs.
type Signer struct {
	// GoogleAccessID is the service-account e-mail the URLs name. Empty
	// (production only) lets the storage client find the runtime account.
	GoogleAccessID string
	// SignBytes signs with RSA-SHA256 (PKCS #1 v1.5). nil (production
	// only) signs through the IAM Credentials signBlob API.
	SignBytes func([]byte) ([]byte, error)
}

// KeySigner signs with an RSA private key.
func KeySigner(accessID string, key *rsa.PrivateKey) *Signer {
	return &Signer{GoogleAccessID: accessID, SignBytes: func(b []byte) ([]byte, error) {
		sum := sha256.Sum256(b)
		return rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	}}
}

// ParseKey reads an RSA private key from PEM (PKCS #1 or PKCS #8) or from a
// service-account JSON key, returning the key and the JSON's client_email
// (if any).
func ParseKey(data []byte) (*rsa.PrivateKey, string, error) {
	email := ""
	if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "{") {
		var sa struct {
			PrivateKey  string `json:"private_key"`
			ClientEmail string `json:"client_email"`
		}
		if err := json.Unmarshal(data, &sa); err != nil {
			return nil, "", fmt.Errorf("service-account key: %w", err)
		}
		if sa.PrivateKey == "" {
			return nil, "", errors.New("service-account key has no private_key")
		}
		data, email = []byte(sa.PrivateKey), sa.ClientEmail
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", errors.New("no PEM block found")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, email, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("parse private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, "", fmt.Errorf("private key is %T, not RSA", k)
	}
	return rk, email, nil
}

// signerSource resolves the instance's signer once, on first use.
type signerSource struct {
	once     sync.Once
	build    func() (*Signer, error)
	s        *Signer
	err      error
	emulated bool
}

func (s *signerSource) get() (*Signer, error) {
	s.once.Do(func() { s.s, s.err = s.build() })
	return s.s, s.err
}

// emulated reports whether Storage is fake-gcs-server (the storage client
// follows STORAGE_EMULATOR_HOST, which the configuration records).
func emulated(d *app.Deps) bool {
	return d.Config.Emulators["STORAGE_EMULATOR_HOST"] != ""
}

// newSignerSource picks the signer: injected, key file, throw-away key
// under the emulator, or IAM signBlob (package documentation). A key is read
// or made on first use.
func newSignerSource(injected *Signer, d *app.Deps) *signerSource {
	src := &signerSource{emulated: emulated(d)}
	if injected != nil {
		src.build = func() (*Signer, error) { return injected, nil }
		return src
	}
	keyFile, account := d.Config.StorageSigningKeyFile, d.Config.StorageSigningAccount
	localAccount := "owlette-local-signer@" + d.Config.ProjectID + ".iam.gserviceaccount.com"
	src.build = func() (*Signer, error) {
		switch {
		case keyFile != "":
			data, err := os.ReadFile(keyFile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", EnvSigningKeyFile, err)
			}
			key, email, err := ParseKey(data)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", EnvSigningKeyFile, keyFile, err)
			}
			return KeySigner(firstOf(account, email, localAccount), key), nil
		case src.emulated:
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return nil, err
			}
			d.Log.Info("installers: signing storage URLs with a throw-away key (storage emulator; set " + EnvSigningKeyFile + " to use a fixed one)")
			return KeySigner(firstOf(account, localAccount), key), nil
		}
		return &Signer{GoogleAccessID: account}, nil
	}
	return src
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// signURL signs a URL for object in the default bucket. Under the emulator
// it refuses to sign without a local key (never reaching for credentials)
// and returns an http URL to fake-gcs-server.
func (h *handlers) signURL(ctx context.Context, object string, opts storage.SignedURLOptions) (string, error) {
	s, err := h.signer.get()
	if err != nil {
		return "", fmt.Errorf("url signer: %w", err)
	}
	if h.signer.emulated && (s.SignBytes == nil || s.GoogleAccessID == "") {
		return "", errors.New("url signer: the storage emulator needs a local signing key")
	}
	gcs, err := h.d.Storage(ctx)
	if err != nil {
		return "", fmt.Errorf("storage client: %w", err)
	}
	opts.GoogleAccessID, opts.SignBytes = s.GoogleAccessID, s.SignBytes
	if h.signer.emulated {
		opts.Insecure = true // V4 only; V2 URLs are rewritten below
	}
	u, err := gcs.Bucket(h.d.Config.StorageBucket).SignedURL(object, &opts)
	if err != nil {
		return "", err
	}
	if h.signer.emulated && strings.HasPrefix(u, "https://") {
		u = "http://" + strings.TrimPrefix(u, "https://")
	}
	return u, nil
}
