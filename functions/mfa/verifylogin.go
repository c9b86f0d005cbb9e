package mfa

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/secretbox"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

type verifyLoginRequest struct {
	UserID       string `json:"userId"`
	Code         string `json:"code"`
	IsBackupCode bool   `json:"isBackupCode"`
}

func (q verifyLoginRequest) Validate() error {
	if err := validUserID(q.UserID); err != nil {
		return err
	}
	if q.Code == "" {
		return web.BadRequest("Invalid code: expected a non-empty string")
	}
	if !q.IsBackupCode && utf8.RuneCountInString(q.Code) != Digits {
		return web.BadRequest("Invalid code: expected the 6-digit code from your authenticator app")
	}
	return nil
}

// verifyLogin is E06, the second sign-in step. Order: body → guard (a
// pending session is accepted) → failed attempts → user doc → enrolled →
// verify. Every attempt is counted before the code is checked; success marks
// the session MFA-complete and gives the attempt back; a wrong code, and a
// replayed TOTP code, stay counted.
func (h handlers) verifyLogin(w http.ResponseWriter, r *http.Request) error {
	var req verifyLoginRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	p, err := guard.SelfUser(r, req.UserID)
	if err != nil {
		return err
	}
	attempt, err := h.reserveAttempt(w, r, req.UserID)
	if err != nil {
		return err
	}
	ctx := r.Context()
	fs := h.d.Firestore
	userRef := fs.Collection("users").Doc(req.UserID)
	snap, err := userRef.Get(ctx)
	if err != nil && !store.NotFound(err) {
		return web.Internal(err)
	}
	if snap == nil || !snap.Exists() {
		return errNoUser
	}
	data := snap.Data()
	if len(data) == 0 {
		return web.BadRequest("User data is empty")
	}
	if !store.Truthy(data["mfaEnrolled"]) {
		return web.BadRequest("MFA is not enabled for this account")
	}

	if req.IsBackupCode {
		hash := HashCode(strings.ToUpper(strings.TrimSpace(req.Code)))
		err = fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			u, err := tx.Get(userRef)
			if err != nil {
				return err
			}
			codes, _ := u.Data()["backupCodes"].([]any)
			for _, c := range codes {
				if c == hash {
					return tx.Update(userRef, []firestore.Update{{Path: "backupCodes", Value: firestore.ArrayRemove(hash)}})
				}
			}
			return errWrongBcode
		})
	} else {
		err = h.verifyTOTP(ctx, req.UserID, req.Code, data)
	}
	if err != nil {
		// A wrong or replayed code keeps its reserved attempt counted.
		var we *web.Error
		if errors.As(err, &we) {
			return we
		}
		return web.Internal(err)
	}
	if pl := h.d.Sessions.Read(r); !p.Session.MFADone() || (pl != nil && pl.Pending()) {
		if pl == nil {
			return guard.ErrNoCredential
		}
		if err := h.d.Sessions.CompleteMFA(ctx, w, pl.UserID, pl.SID, pl.ExpiresAt); err != nil {
			if store.NotFound(err) {
				return guard.ErrNoCredential // signed out meanwhile
			}
			return web.Internal(err)
		}
	}
	release(ctx, attempt)
	return web.OK(w, web.M{"success": true, "backupCodeUsed": req.IsBackupCode})
}

// verifyTOTP checks code against the user's secret (encrypted, or legacy
// plaintext without ":") and records its time step, once.
func (h handlers) verifyTOTP(ctx context.Context, uid, code string, user map[string]any) error {
	stored, _ := user["mfaSecret"].(string)
	if stored == "" {
		return web.BadRequest("MFA secret not found for this account")
	}
	secret := stored
	if secretbox.IsEncrypted(stored) {
		key := h.d.Config.MFAEncryptionKey
		if key == "" {
			return web.Internal(errors.New("MFA_ENCRYPTION_KEY is not configured"))
		}
		var err error
		if secret, err = secretbox.Decrypt(key, stored); err != nil {
			return web.Internal(err)
		}
	}
	now := h.d.Now()
	step, ok, err := MatchStep(secret, code, now)
	if err != nil {
		return web.Internal(err)
	}
	if !ok {
		return errWrongCode
	}
	fs := h.d.Firestore
	return fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		return acceptStep(tx, fs.Collection(StateCollection).Doc(uid), step, now, false)
	})
}
