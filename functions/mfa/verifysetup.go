package mfa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/secretbox"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// MaxBackupCodes bounds the backup codes one enrolment may store.
const MaxBackupCodes = 100

type verifySetupRequest struct {
	UserID      string   `json:"userId"`
	Code        string   `json:"code"`
	BackupCodes []string `json:"backupCodes"`
}

func (q verifySetupRequest) Validate() error {
	if err := validUserID(q.UserID); err != nil {
		return err
	}
	if utf8.RuneCountInString(q.Code) != Digits {
		return web.BadRequest("Invalid code: expected the 6-digit code from your authenticator app")
	}
	if len(q.BackupCodes) == 0 {
		return web.BadRequest("Backup codes are required: expected a non-empty array of strings")
	}
	if len(q.BackupCodes) > MaxBackupCodes {
		return web.Errorf(http.StatusBadRequest, "Too many backup codes: at most %d", MaxBackupCodes)
	}
	for _, c := range q.BackupCodes {
		if c == "" {
			return web.BadRequest("Backup codes must be non-empty strings")
		}
	}
	return nil
}

// HashCode is how backup codes are stored: SHA-256 hex of the string.
func HashCode(code string) string {
	s := sha256.Sum256([]byte(code))
	return hex.EncodeToString(s[:])
}

var errNoUser = web.NotFound("User not found")

// verifySetup is E05. Order: body → guard → encryption configured → attempt
// reserved → pending doc → expiry → TOTP → write. Enrolling revokes the
// user's other sessions; this one stays (it just proved the second factor).
func (h handlers) verifySetup(w http.ResponseWriter, r *http.Request) error {
	var req verifySetupRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	p, err := guard.SelfUser(r, req.UserID)
	if err != nil {
		return err
	}
	key := h.d.Config.MFAEncryptionKey
	if key == "" {
		return web.Internal(errors.New("MFA_ENCRYPTION_KEY is not configured"))
	}
	attempt, err := h.reserveAttempt(w, r, req.UserID)
	if err != nil {
		return err
	}
	ctx := r.Context()
	fs := h.d.Firestore
	pendingRef := fs.Collection(PendingCollection).Doc(req.UserID)
	snap, err := pendingRef.Get(ctx)
	if err != nil && !store.NotFound(err) {
		return web.Internal(err)
	}
	if snap == nil || !snap.Exists() {
		return web.BadRequest("No MFA setup in progress: start the setup again")
	}
	data := snap.Data()
	stored, _ := data["secret"].(string)
	if stored == "" {
		return web.BadRequest("The MFA setup is incomplete: start the setup again")
	}
	now := h.d.Now()
	if exp, ok := data["expiresAt"].(time.Time); !ok || !now.Before(exp) {
		if _, err := pendingRef.Delete(ctx); err != nil {
			logging.From(ctx).Warn("expired MFA setup not deleted", "error", err.Error())
		}
		return web.BadRequest("The MFA setup has expired: start the setup again")
	}
	secret := stored
	if secretbox.IsEncrypted(stored) {
		if secret, err = secretbox.Decrypt(key, stored); err != nil {
			return web.Internal(err)
		}
	}
	step, ok, err := MatchStep(secret, req.Code, now)
	if err != nil {
		return web.Internal(err)
	}
	if !ok {
		return errWrongCode // the reserved attempt stays counted
	}
	sealed, err := secretbox.Encrypt(key, secret)
	if err != nil {
		return web.Internal(err)
	}
	hashes := make([]string, len(req.BackupCodes))
	for i, c := range req.BackupCodes {
		hashes[i] = HashCode(c)
	}
	userRef := fs.Collection("users").Doc(req.UserID)
	err = fs.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		u, err := tx.Get(userRef)
		if err != nil {
			if u != nil && !u.Exists() {
				return errNoUser
			}
			return err
		}
		// Read everything before writing: the pending doc must still be there
		// (a concurrent verify-setup may have consumed it).
		pend, err := tx.Get(pendingRef)
		if err != nil {
			if pend != nil && !pend.Exists() {
				return web.BadRequest("No MFA setup in progress: start the setup again")
			}
			return err
		}
		if err := acceptStep(tx, fs.Collection(StateCollection).Doc(req.UserID), step, now, true); err != nil {
			return err
		}
		if err := tx.Update(userRef, []firestore.Update{
			{Path: "mfaEnrolled", Value: true},
			{Path: "mfaSecret", Value: sealed},
			{Path: "backupCodes", Value: hashes},
			{Path: "mfaEnrolledAt", Value: firestore.ServerTimestamp},
			{Path: "requiresMfaSetup", Value: false},
		}); err != nil {
			return err
		}
		return tx.Delete(pendingRef)
	})
	if err != nil {
		var we *web.Error
		if errors.As(err, &we) {
			return we
		}
		return web.Internal(err)
	}
	// Enabling MFA ends every other session of the user (DECISIONS §3).
	if err := h.d.Sessions.RevokeOthers(ctx, req.UserID, p.SID); err != nil {
		return web.Internal(err)
	}
	release(ctx, attempt)
	return web.OK(w, web.M{"success": true})
}
