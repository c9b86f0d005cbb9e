// Package apikey mints owlette API keys and stores them as api.md §1.7
// says: the raw key "owk_" + base64url(32 random bytes), shown once; the
// caller's users/{uid}/api_keys/{keyId} = {name, keyHash, keyPrefix,
// createdAt, lastUsedAt: null}; the index api_keys/{keyHash} = {userId,
// keyId}, where keyHash is the SHA-256 hex of the raw key and keyId a random
// UUID. E49 creates keys with it, and so do the dev seed, the tests and the
// benchmarks, so every key is stored the same way. Looking a key up is the
// guard's (shared/guard).
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"cloud.google.com/go/firestore"
	"github.com/google/uuid"
)

// Prefix marks owlette API keys.
const Prefix = "owk_"

// DisplayLen is how much of a raw key is stored and shown as its keyPrefix
// ("owk_" and 7 characters).
const DisplayLen = 11

// IndexCollection holds one document per key, named by its hash.
const IndexCollection = "api_keys"

// Key is a freshly minted key.
type Key struct {
	Raw  string // owk_…: shown once, never stored
	Hash string // SHA-256 hex of Raw: the index document's id
	ID   string // keyId: the user's key document's id
}

// New mints a key.
func New() (Key, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Key{}, err
	}
	raw := Prefix + base64.RawURLEncoding.EncodeToString(b)
	return Key{Raw: raw, Hash: Hash(raw), ID: uuid.NewString()}, nil
}

// Hash is the SHA-256 hex under which a raw key is indexed.
func Hash(raw string) string {
	s := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(s[:])
}

// UserKeys is users/{uid}/api_keys.
func UserKeys(fs *firestore.Client, uid string) *firestore.CollectionRef {
	return fs.Collection("users").Doc(uid).Collection("api_keys")
}

// IndexRef is api_keys/{hash}.
func IndexRef(fs *firestore.Client, hash string) *firestore.DocumentRef {
	return fs.Collection(IndexCollection).Doc(hash)
}

// doc is one of the documents a key is stored as.
type doc struct {
	ref  *firestore.DocumentRef
	data map[string]any
}

// docs are k's two documents, for uid under name.
func (k Key) docs(fs *firestore.Client, uid, name string) [2]doc {
	return [2]doc{
		{UserKeys(fs, uid).Doc(k.ID), map[string]any{
			"name": name, "keyHash": k.Hash, "keyPrefix": k.Raw[:DisplayLen],
			"createdAt": firestore.ServerTimestamp, "lastUsedAt": nil,
		}},
		{IndexRef(fs, k.Hash), map[string]any{"userId": uid, "keyId": k.ID}},
	}
}

// Create writes k's two documents in tx (E49 counts the user's keys in the
// same transaction).
func (k Key) Create(tx *firestore.Transaction, fs *firestore.Client, uid, name string) error {
	for _, d := range k.docs(fs, uid, name) {
		if err := tx.Create(d.ref, d.data); err != nil {
			return err
		}
	}
	return nil
}

// Add adds k's two documents to b.
func (k Key) Add(b *firestore.WriteBatch, fs *firestore.Client, uid, name string) {
	for _, d := range k.docs(fs, uid, name) {
		b.Create(d.ref, d.data)
	}
}

// Mint mints a key for uid and stores it in one batch.
func Mint(ctx context.Context, fs *firestore.Client, uid, name string) (Key, error) {
	k, err := New()
	if err != nil {
		return Key{}, err
	}
	b := fs.Batch()
	k.Add(b, fs, uid, name)
	if _, err := b.Commit(ctx); err != nil {
		return Key{}, err
	}
	return k, nil
}
