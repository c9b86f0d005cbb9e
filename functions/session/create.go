package session

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/session"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

const day = 24 * time.Hour

type createRequest struct {
	IDToken      any             `json:"idToken"`
	UserID       any             `json:"userId"`
	DurationDays json.RawMessage `json:"durationDays"`
}

// duration applies E01's rules: absent ⇒ 7 days; truthy ⇒ a number in
// [1, 30] (fractions allowed); any other falsy value ⇒ an already-expired
// session, as the original does.
func (c createRequest) duration() (float64, error) {
	raw := bytes.TrimSpace(c.DurationDays)
	if len(raw) == 0 {
		return 7, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, web.BadRequest("durationDays must be a number between 1 and 30")
	}
	switch x := v.(type) {
	case nil:
		return 0, nil
	case bool:
		if !x {
			return 0, nil
		}
	case string:
		if x == "" {
			return 0, nil
		}
	case float64:
		if x == 0 {
			return 0, nil
		}
		if x >= 1 && x <= 30 {
			return x, nil
		}
	}
	return 0, web.BadRequest("durationDays must be a number between 1 and 30")
}

// create is E01: exchange a Firebase ID token for a session cookie.
func (h handlers) create(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	idToken, ok := req.IDToken.(string)
	if !ok || idToken == "" {
		return web.BadRequest("Missing or invalid idToken: expected a non-empty string")
	}
	ctx := r.Context()
	tok, err := h.d.Auth.VerifyIDToken(ctx, idToken)
	if err != nil {
		return web.Unauthorized("Invalid or expired ID token").Wrap(err)
	}
	if uid, _ := req.UserID.(string); store.Truthy(req.UserID) && uid != tok.UID {
		return web.Forbidden("User ID does not match the ID token")
	}
	days, err := req.duration()
	if err != nil {
		return err
	}
	// A verified ID token does not spend the address's auth budget (that is
	// for failed attempts: the dashboard posts here on every page load, an
	// office shares one address); it spends the user's own, far larger one.
	if err := app.Gate(r).ChargeUser(ctx, w, tok.UID); err != nil {
		return err
	}

	// The MFA state is decided here, server-side: a user with MFA enrolled
	// holds a pending session until the code is verified.
	mfa := session.MFAComplete
	snap, err := h.d.Firestore.Collection("users").Doc(tok.UID).Get(ctx)
	if err != nil && !store.NotFound(err) {
		return web.Internal(err)
	}
	if snap != nil && snap.Exists() {
		if enrolled, _ := snap.Data()["mfaEnrolled"].(bool); enrolled {
			mfa = session.MFAPending
		}
	}
	expiresAt := h.d.Now().Add(time.Duration(days * float64(day)))
	if _, err := h.d.Sessions.Create(ctx, w, tok.UID, expiresAt, mfa, "idToken"); err != nil {
		return web.Internal(err)
	}
	body := web.M{"success": true, "message": "Session created", "expiresIn": days * 86400}
	if mfa == session.MFAPending {
		body["mfaRequired"] = true
	}
	return web.OK(w, body)
}
