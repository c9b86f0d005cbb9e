package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/web"
	"github.com/owlette/server/shared/webhook"
)

// Limits of E45 beyond the original's (which had none).
const (
	MaxNameLength = 100  // characters
	MaxURLBytes   = 2048 // bytes
	MaxEvents     = 20
	MaxEventBytes = 100
)

// validateTimeout bounds the DNS lookups of the target check.
const validateTimeout = 5 * time.Second

// loopbackPrefixes are the plain-http targets local development may use.
var loopbackPrefixes = []string{"http://127.0.0.1", "http://localhost", "http://[::1]"}

type createRequest struct {
	SiteID string   `json:"siteId"`
	Name   string   `json:"name" max:"400"` // MaxNameLength characters of up to 4 bytes
	URL    string   `json:"url" max:"2048"`
	Events []string `json:"events" max:"100"`
}

// check applies the original's rules (required fields, the literal
// https:// prefix, a non-empty events array) and our caps, and returns the
// canonical, de-duplicated event list.
func (q *createRequest) check(allowLoopback bool) ([]string, error) {
	q.Name = strings.TrimSpace(q.Name)
	if q.SiteID == "" || q.Name == "" || q.URL == "" {
		return nil, web.BadRequest("Missing required fields: siteId, name, url")
	}
	if !strings.HasPrefix(q.URL, "https://") && !(allowLoopback && hasAnyPrefix(q.URL, loopbackPrefixes)) {
		return nil, web.BadRequest("Webhook URL must start with https://")
	}
	if len(q.Events) == 0 {
		return nil, web.BadRequest("Field \"events\" must be a non-empty array of event names")
	}
	if utf8.RuneCountInString(q.Name) > MaxNameLength {
		return nil, web.Errorf(http.StatusBadRequest, "Field \"name\" must be at most %d characters", MaxNameLength)
	}
	if len(q.Events) > MaxEvents {
		return nil, web.Errorf(http.StatusBadRequest, "Field \"events\" may list at most %d events", MaxEvents)
	}
	events := make([]string, 0, len(q.Events))
	seen := map[string]bool{}
	for _, e := range q.Events {
		if strings.TrimSpace(e) == "" {
			return nil, web.BadRequest("Field \"events\" must not contain empty names")
		}
		if c := webhook.Canonical(e); !seen[c] {
			seen[c] = true
			events = append(events, c)
		}
	}
	return events, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// create is E45. Order: guard (admin) → body → validation (fields, then the
// target: DNS included) → site → write.
//
// Beyond the original: the target must be a public host (DECISIONS §3), so
// loopback, private, link-local and metadata addresses are refused here
// with the reason; the delivery client checks again when it connects. The
// answer also carries signingSecret (the secret in Standard Webhooks form).
func (h *handlers) create(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	policy := h.policy()
	events, err := req.check(policy.AllowLoopback)
	if err != nil {
		return err
	}
	ctx := r.Context()
	vctx, cancel := context.WithTimeout(ctx, validateTimeout)
	err = webhook.ValidateTarget(vctx, req.URL, policy, nil)
	cancel()
	if err != nil {
		return web.BadRequest(err.Error())
	}
	p, err := guard.Site(r, req.SiteID)
	if err != nil {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return web.Internal(err)
	}
	secret := hex.EncodeToString(raw)
	ref := h.hooks(req.SiteID).NewDoc()
	if _, err := ref.Create(ctx, map[string]any{
		"url": req.URL, "name": req.Name, "events": events, "enabled": true, "secret": secret,
		"createdAt": firestore.ServerTimestamp, "createdBy": p.UID,
		"lastTriggered": nil, "lastStatus": 0, "failCount": 0,
	}); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true, "webhookId": ref.ID, "secret": secret, "signingSecret": webhook.StandardSecret(secret)})
}
