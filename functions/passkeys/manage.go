package passkeys

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

type passkeyView struct {
	CredentialID string `json:"credentialId"`
	FriendlyName any    `json:"friendlyName"`
	DeviceType   any    `json:"deviceType"`
	BackedUp     any    `json:"backedUp"`
	CreatedAt    any    `json:"createdAt"`
	LastUsedAt   any    `json:"lastUsedAt"`
}

// list is E11: the caller's passkeys in document-id order, without keys.
func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	uid := r.URL.Query().Get("userId")
	if err := validUserID(uid); err != nil {
		return err
	}
	if _, err := guard.SelfUser(r, uid); err != nil {
		return err
	}
	snaps, err := h.passkeys(uid).Documents(r.Context()).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	out := make([]passkeyView, 0, len(snaps))
	for _, s := range snaps {
		d := s.Data()
		out = append(out, passkeyView{
			CredentialID: s.Ref.ID, FriendlyName: d["friendlyName"], DeviceType: d["deviceType"], BackedUp: d["backedUp"],
			CreatedAt: store.ISOOrNil(d["createdAt"]), LastUsedAt: store.ISOOrNil(d["lastUsedAt"]),
		})
	}
	return web.OK(w, web.M{"passkeys": out})
}

type renameRequest struct {
	UserID       string  `json:"userId"`
	FriendlyName *string `json:"friendlyName"`
}

func (q renameRequest) Validate() error {
	if err := validUserID(q.UserID); err != nil {
		return err
	}
	if q.FriendlyName == nil || strings.TrimSpace(*q.FriendlyName) == "" {
		return web.BadRequest("Invalid friendly name: expected a non-empty string")
	}
	if utf8.RuneCountInString(*q.FriendlyName) > MaxNameLength {
		return web.Errorf(http.StatusBadRequest, "Invalid friendly name: at most %d characters", MaxNameLength)
	}
	return nil
}

var errNoPasskey = web.NotFound("Passkey not found")

// rename is E12. Order: body → guard → update (404 when the passkey does
// not exist; the original answered 500).
func (h *handlers) rename(w http.ResponseWriter, r *http.Request) error {
	var req renameRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.SelfUser(r, req.UserID); err != nil {
		return err
	}
	id := r.PathValue("credentialId")
	if !store.ValidID(id) {
		return errNoPasskey
	}
	_, err := h.passkeys(req.UserID).Doc(id).Update(r.Context(), []firestore.Update{{Path: "friendlyName", Value: strings.TrimSpace(*req.FriendlyName)}})
	if err != nil {
		if store.NotFound(err) {
			return errNoPasskey
		}
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true})
}

// remove is E13: idempotent; clears users/{uid}.passkeyEnrolled when the last
// passkey goes.
func (h *handlers) remove(w http.ResponseWriter, r *http.Request) error {
	uid := r.URL.Query().Get("userId")
	if err := validUserID(uid); err != nil {
		return err
	}
	if _, err := guard.SelfUser(r, uid); err != nil {
		return err
	}
	ctx := r.Context()
	if id := r.PathValue("credentialId"); store.ValidID(id) {
		if _, err := h.passkeys(uid).Doc(id).Delete(ctx); err != nil {
			return web.Internal(err)
		}
	}
	left, err := h.passkeys(uid).Limit(1).Select().Documents(ctx).GetAll()
	if err != nil {
		return web.Internal(err)
	}
	if len(left) == 0 {
		_, err := h.d.Firestore.Collection("users").Doc(uid).Update(ctx, []firestore.Update{{Path: "passkeyEnrolled", Value: false}})
		if err != nil && !store.NotFound(err) {
			return web.Internal(err)
		}
		if err != nil {
			logging.From(ctx).Info("passkey removed for a user without a users document", "uid", uid)
		}
	}
	return web.OK(w, web.M{"success": true})
}
