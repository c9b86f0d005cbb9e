package apikeys

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/apikey"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

func (h handlers) userKeys(uid string) *firestore.CollectionRef {
	return apikey.UserKeys(h.d.Firestore, uid)
}

type keyView struct {
	ID         string `json:"id"`
	Name       any    `json:"name"`
	KeyPrefix  any    `json:"keyPrefix"`
	CreatedAt  any    `json:"createdAt"`
	LastUsedAt any    `json:"lastUsedAt"`
}

// list is E48: the caller's own keys, newest first; never the key itself.
func (h handlers) list(w http.ResponseWriter, r *http.Request) error {
	p := guard.Caller(r)
	snaps, err := h.userKeys(p.UID).OrderBy("createdAt", firestore.Desc).Documents(r.Context()).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	keys := make([]keyView, 0, len(snaps))
	for _, s := range snaps {
		d := s.Data()
		var last any
		if ms, ok := store.Millis(d["lastUsedAt"]); ok {
			last = ms
		}
		keys = append(keys, keyView{ID: s.Ref.ID, Name: d["name"], KeyPrefix: d["keyPrefix"], CreatedAt: store.Raw(d["createdAt"]), LastUsedAt: last})
	}
	return web.OK(w, web.M{"success": true, "keys": keys})
}

type createRequest struct {
	Name any `json:"name"`
}

// create is E49: mint a key, store its hash, show the raw key once.
func (h handlers) create(w http.ResponseWriter, r *http.Request) error {
	p := guard.Caller(r)
	var req createRequest
	if err := web.DecodeOptional(w, r, &req); err != nil {
		return err
	}
	name := "API Key"
	switch v := req.Name.(type) {
	case nil:
	case string:
		if v = strings.TrimSpace(v); v != "" {
			name = v
		}
	default:
		return web.BadRequest("Field \"name\" must be a string")
	}
	if len([]rune(name)) > MaxNameLength {
		return web.Errorf(http.StatusBadRequest, "Field \"name\" must be at most %d characters", MaxNameLength)
	}
	ctx := r.Context()
	key, err := apikey.New()
	if err != nil {
		return web.Internal(err)
	}

	fs := h.d.Firestore
	quota := fs.Collection(QuotaCollection).Doc(p.UID)
	err = fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		n, err := h.keyCount(tx, quota, p.UID)
		if err != nil {
			return err
		}
		if n >= MaxKeysPerUser {
			return web.Conflict(fmt.Sprintf("You already have %d API keys: revoke one before creating another", MaxKeysPerUser))
		}
		if err := tx.Set(quota, map[string]any{"count": n + 1}); err != nil {
			return err
		}
		return key.Create(tx, fs, p.UID, name)
	}, firestore.MaxAttempts(maxTxAttempts))
	if err != nil {
		return txError(err)
	}
	h.d.Guards.KeyCreated(key.Hash)
	return web.OK(w, web.M{"success": true, "key": key.Raw, "keyId": key.ID, "name": name})
}

// maxTxAttempts lets a burst of parallel creates by one user serialise on
// the quota document instead of failing.
const maxTxAttempts = 30

// keyCount reads the user's key count inside tx: the quota document, or
// (when it is missing) the number of the user's keys.
func (h handlers) keyCount(tx *firestore.Transaction, quota *firestore.DocumentRef, uid string) (int64, error) {
	snap, err := tx.Get(quota)
	if err != nil && !store.NotFound(err) {
		return 0, err
	}
	if snap != nil && snap.Exists() {
		n, _ := snap.Data()["count"].(int64)
		return max(n, 0), nil
	}
	keys, err := tx.Documents(h.userKeys(uid).Select().Limit(MaxKeysPerUser + 1)).GetAll()
	if err != nil {
		return 0, err
	}
	return int64(len(keys)), nil
}

// txError renders a transaction's failure: our own *web.Error as it is,
// contention as a retryable 503.
func txError(err error) error {
	var we *web.Error
	if errors.As(err, &we) {
		return we
	}
	if status.Code(err) == codes.Aborted {
		return web.Unavailable("Too many changes to your API keys at once: please try again", err)
	}
	return web.Internal(err)
}

type revokeRequest struct {
	KeyID string `json:"keyId"`
}

func (q revokeRequest) Validate() error { return web.Required("keyId", q.KeyID) }

// revoke is E50: delete one of the caller's own keys and its index entry.
func (h handlers) revoke(w http.ResponseWriter, r *http.Request) error {
	p := guard.Caller(r)
	var req revokeRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if !store.ValidID(req.KeyID) {
		return web.NotFound("API key not found")
	}
	ctx := r.Context()
	fs := h.d.Firestore
	ref := h.userKeys(p.UID).Doc(req.KeyID)
	quota := fs.Collection(QuotaCollection).Doc(p.UID)
	err := fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		if store.NotFound(err) {
			return web.NotFound("API key not found")
		}
		if err != nil {
			return err
		}
		n, err := h.keyCount(tx, quota, p.UID)
		if err != nil {
			return err
		}
		hash, _ := snap.Data()["keyHash"].(string)
		if err := tx.Delete(ref); err != nil {
			return err
		}
		if hash != "" {
			if err := tx.Delete(apikey.IndexRef(fs, hash)); err != nil {
				return err
			}
		}
		return tx.Set(quota, map[string]any{"count": max(n-1, 0)})
	}, firestore.MaxAttempts(maxTxAttempts))
	if err != nil {
		return txError(err)
	}
	h.d.Guards.KeyRevoked(p.UID, req.KeyID) // refused from the next request on, on this instance
	return web.OK(w, web.M{"success": true})
}
