package llmsettings

import (
	"errors"
	"net/http"
	"strings"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/llmconfig"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// errEncryptionUnset answers E57/E60 (and X12) when no encryption key is
// configured: the operator's problem, named so they can fix it.
var errEncryptionUnset = web.Errorf(http.StatusInternalServerError,
	"LLM key encryption is not configured on the server (LLM_ENCRYPTION_KEY or MFA_ENCRYPTION_KEY)")

// keyFields are the fields E57 and E60 share.
type keyFields struct {
	Provider string  `json:"provider"`
	APIKey   string  `json:"apiKey" max:"512"`
	Model    *string `json:"model" max:"200"`
}

// Validate checks the fields and trims the key and model (a pasted key
// often brings a newline along; no provider key contains whitespace).
func (q *keyFields) Validate() error {
	if err := validProvider(q.Provider); err != nil {
		return err
	}
	var err error
	if q.APIKey, err = cleanKey(q.APIKey); err != nil {
		return err
	}
	if q.Model != nil {
		m := strings.TrimSpace(*q.Model)
		q.Model = &m
	}
	return nil
}

func (q *keyFields) model() string {
	if q.Model == nil {
		return ""
	}
	return *q.Model
}

func validProvider(p string) error {
	if p == "" {
		return web.BadRequest("Missing required field: provider")
	}
	if !llmconfig.ValidProvider(p) {
		return web.BadRequest(`Invalid provider: expected "anthropic" or "openai"`)
	}
	return nil
}

// cleanKey trims an API key and refuses what cannot be a provider key: it
// travels in an HTTP header, where control characters, spaces and non-ASCII
// bytes would make every call fail.
func cleanKey(k string) (string, error) {
	k = strings.TrimSpace(k)
	if k == "" {
		return "", web.BadRequest("Missing required field: apiKey")
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x21 || c > 0x7e {
			return "", web.BadRequest("Invalid apiKey: expected the provider's key, printable ASCII characters without spaces")
		}
	}
	return k, nil
}

func validSiteID(id string) error {
	if id == "" {
		return web.BadRequest("Missing required field: siteId")
	}
	if !store.ValidID(id) {
		return web.BadRequest("Invalid siteId: not a valid site id")
	}
	return nil
}

// saveError renders a failed llmconfig.Save.
func saveError(err error) error {
	if errors.Is(err, llmconfig.ErrEncryptionUnset) {
		return errEncryptionUnset
	}
	return web.Internal(err)
}

// keyStatus is the E58/E61 answer: whether a key is stored, and with what
// provider and model; never the key.
func keyStatus(s *llmconfig.Settings) web.M {
	if s == nil {
		return web.M{"configured": false}
	}
	var model, updated any
	if s.Model != "" {
		model = s.Model
	}
	if !s.UpdatedAt.IsZero() {
		updated = store.ISO(s.UpdatedAt)
	}
	return web.M{"configured": true, "provider": s.Provider, "model": model, "updatedAt": updated}
}

// setUserKey is E57. Order: session → encryption configured → body.
func (h handlers) setUserKey(w http.ResponseWriter, r *http.Request) error {
	p := guard.Caller(r)
	if llmconfig.Key(h.d.Config) == "" {
		return errEncryptionUnset
	}
	var req keyFields
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	ref := llmconfig.UserSettings(h.d.Firestore, p.UID)
	if err := llmconfig.Save(r.Context(), ref, h.d.Config, req.Provider, req.APIKey, req.model()); err != nil {
		return saveError(err)
	}
	return web.OK(w, web.M{"success": true})
}

// userKeyStatus is E58.
func (h handlers) userKeyStatus(w http.ResponseWriter, r *http.Request) error {
	s, err := llmconfig.Read(r.Context(), llmconfig.UserSettings(h.d.Firestore, guard.Caller(r).UID))
	if err != nil {
		return web.Internal(err)
	}
	return web.OK(w, keyStatus(s))
}

// deleteUserKey is E59: idempotent.
func (h handlers) deleteUserKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := llmconfig.UserSettings(h.d.Firestore, guard.Caller(r).UID).Delete(r.Context()); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true})
}

// siteKeyRequest repeats keyFields' fields rather than embedding them: the
// decoder's size checks (max tags) only see exported fields.
type siteKeyRequest struct {
	SiteID   string  `json:"siteId"`
	Provider string  `json:"provider"`
	APIKey   string  `json:"apiKey" max:"512"`
	Model    *string `json:"model" max:"200"`
}

func (q *siteKeyRequest) Validate() error {
	if err := validSiteID(q.SiteID); err != nil {
		return err
	}
	k := q.key()
	if err := k.Validate(); err != nil {
		return err
	}
	q.APIKey, q.Model = k.APIKey, k.Model
	return nil
}

func (q *siteKeyRequest) key() *keyFields {
	return &keyFields{Provider: q.Provider, APIKey: q.APIKey, Model: q.Model}
}

// setSiteKey is E60. Order: admin → encryption configured → body. As in the
// original there is no site existence check (admins may prepare a key for
// a site before it exists); the id must only be able to name a document.
func (h handlers) setSiteKey(w http.ResponseWriter, r *http.Request) error {
	if llmconfig.Key(h.d.Config) == "" {
		return errEncryptionUnset
	}
	var req siteKeyRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	ref := llmconfig.SiteSettings(h.d.Firestore, req.SiteID)
	if err := llmconfig.Save(r.Context(), ref, h.d.Config, req.Provider, req.APIKey, req.key().model()); err != nil {
		return saveError(err)
	}
	return web.OK(w, web.M{"success": true})
}

// siteKeyStatus is E61: ?siteId=.
func (h handlers) siteKeyStatus(w http.ResponseWriter, r *http.Request) error {
	siteID := r.URL.Query().Get("siteId")
	if err := validSiteID(siteID); err != nil {
		return err
	}
	s, err := llmconfig.Read(r.Context(), llmconfig.SiteSettings(h.d.Firestore, siteID))
	if err != nil {
		return web.Internal(err)
	}
	return web.OK(w, keyStatus(s))
}

type siteRequest struct {
	SiteID string `json:"siteId"`
}

func (q siteRequest) Validate() error { return validSiteID(q.SiteID) }

// deleteSiteKey is E62: siteId in a JSON body (not the query); idempotent.
func (h handlers) deleteSiteKey(w http.ResponseWriter, r *http.Request) error {
	var req siteRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := llmconfig.SiteSettings(h.d.Firestore, req.SiteID).Delete(r.Context()); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true})
}
