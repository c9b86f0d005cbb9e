package utilities

import (
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/email"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// ErrUnsubscribeToken answers a token that does not verify.
var ErrUnsubscribeToken = web.BadRequest("Invalid unsubscribe token")

// unsubscribe is E66, the link in alert e-mails: the token's HMAC is the
// credential (api.md §1.14). It sets users/{uid}.preferences.healthAlerts
// to false — only that field, creating the document if needed; process
// alerts stay — and redirects (307) to the dashboard's unsubscribe page.
// Without CRON_SECRET no token verifies (no public fallback key, DECISIONS
// §2 5.13).
func (h handlers) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if token == "" {
		return web.BadRequest("Missing token")
	}
	ctx := r.Context()
	u, err := email.NewUnsubscriber(h.d.Config.CronSecret)
	if err != nil {
		logging.From(ctx).Warn("unsubscribe refused: CRON_SECRET is not set")
		return ErrUnsubscribeToken
	}
	uid, err := u.Verify(token)
	if err != nil || !store.ValidID(uid) {
		return ErrUnsubscribeToken
	}
	_, err = h.d.Firestore.Collection("users").Doc(uid).Set(ctx,
		map[string]any{"preferences": map[string]any{notify.PrefHealthAlerts: false}},
		firestore.Merge(firestore.FieldPath{"preferences", notify.PrefHealthAlerts}))
	if err != nil {
		return web.Internal(err)
	}
	http.Redirect(w, r, notify.Origin(h.d.Config, r)+"/unsubscribe?success=true", http.StatusTemporaryRedirect)
	return nil
}
