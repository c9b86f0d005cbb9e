package apikeys

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"cloud.google.com/go/firestore"
	"github.com/google/uuid"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

func (h handlers) userKeys(uid string) *firestore.CollectionRef {
	return h.d.Firestore.Collection("users").Doc(uid).Collection("api_keys")
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
	agg, err := h.userKeys(p.UID).NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		return web.Internal(err)
	}
	if n, _ := agg["n"].(interface{ GetIntegerValue() int64 }); n != nil && n.GetIntegerValue() >= MaxKeysPerUser {
		return web.Conflict(fmt.Sprintf("You already have %d API keys: revoke one before creating another", MaxKeysPerUser))
	}

	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return web.Internal(err)
	}
	key := guard.APIKeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	hash := guard.HashKey(key)
	keyID := uuid.NewString()

	b := h.d.Firestore.Batch()
	b.Create(h.userKeys(p.UID).Doc(keyID), map[string]any{
		"name": name, "keyHash": hash, "keyPrefix": key[:11],
		"createdAt": firestore.ServerTimestamp, "lastUsedAt": nil,
	})
	b.Create(h.d.Firestore.Collection("api_keys").Doc(hash), map[string]any{"userId": p.UID, "keyId": keyID})
	if _, err := b.Commit(ctx); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true, "key": key, "keyId": keyID, "name": name})
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
	ref := h.userKeys(p.UID).Doc(req.KeyID)
	snap, err := ref.Get(ctx)
	if store.NotFound(err) {
		return web.NotFound("API key not found")
	}
	if err != nil {
		return web.Internal(err)
	}
	hash, _ := snap.Data()["keyHash"].(string)
	b := h.d.Firestore.Batch()
	b.Delete(ref)
	if hash != "" {
		b.Delete(h.d.Firestore.Collection("api_keys").Doc(hash))
	}
	if _, err := b.Commit(ctx); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true})
}
