package apikey_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/google/uuid"

	"github.com/owlette/server/shared/apikey"
	"github.com/owlette/server/shared/testenv"
)

// A key has the format of api.md §1.7: owk_ + base64url(32 bytes), 47
// characters; its hash is the SHA-256 hex of the whole key; its id a UUID v4.
func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		k, err := apikey.New()
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^owk_[A-Za-z0-9_-]{43}$`).MatchString(k.Raw) {
			t.Fatalf("raw key %q", k.Raw)
		}
		if id, err := uuid.Parse(k.ID); err != nil || id.Version() != 4 {
			t.Fatalf("key id %q: %v", k.ID, err)
		}
		if k.Hash != apikey.Hash(k.Raw) || len(k.Hash) != 64 || seen[k.Raw] {
			t.Fatalf("hash %q of %q (or a repeated key)", k.Hash, k.Raw)
		}
		seen[k.Raw] = true
	}
	// echo -n owk_test | sha256sum
	if h := apikey.Hash("owk_test"); h != "8f61f1bd4e5c2e84c9a29f375f0aff294f43e9ee340f00f92f310b5404e0ed5f" {
		t.Fatal(h)
	}
}

// Mint stores the two documents with exactly the fields of §1.7.
func TestMint(t *testing.T) {
	fs, _ := testenv.Firestore(t)
	ctx := context.Background()
	k, err := apikey.Mint(ctx, fs, "u1", "CI")
	if err != nil {
		t.Fatal(err)
	}
	user, err := apikey.UserKeys(fs, "u1").Doc(k.ID).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := user.Data()
	if len(d) != 5 || d["name"] != "CI" || d["keyHash"] != k.Hash || d["keyPrefix"] != k.Raw[:11] || d["lastUsedAt"] != nil {
		t.Errorf("user key document %v", d)
	}
	if _, ok := d["createdAt"].(time.Time); !ok {
		t.Errorf("createdAt %T, want a timestamp", d["createdAt"])
	}
	index, err := fs.Collection("api_keys").Doc(k.Hash).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := index.Data(); len(d) != 2 || d["userId"] != "u1" || d["keyId"] != k.ID {
		t.Errorf("index document %v", d)
	}
	// In a transaction, as E49 does; a second create of the same key fails.
	err = fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error { return k.Create(tx, fs, "u1", "CI") })
	if err == nil {
		t.Error("creating an existing key succeeded")
	}
}
