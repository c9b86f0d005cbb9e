package agentauth

import (
	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

type siteRequest struct {
	SiteID string `json:"siteId"`
}

func (q siteRequest) Validate() error {
	if err := web.Required("siteId", q.SiteID); err != nil {
		return err
	}
	if !store.ValidID(q.SiteID) {
		return web.BadRequest("Field \"siteId\" is not a valid site id")
	}
	return nil
}

// generateInstaller is E16. Order: body siteId → session → site access.
// Same code as E51 (agenttoken.NewRegistrationCode), plus status "pending".
func (h *handlers) generateInstaller(w http.ResponseWriter, r *http.Request) error {
	var req siteRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	p, err := guard.Site(r, req.SiteID)
	if err != nil {
		return err
	}
	code, err := agenttoken.NewRegistrationCode()
	if err != nil {
		return web.Internal(err)
	}
	expiresAt := h.d.Now().Add(agenttoken.RegistrationCodeTTL)
	_, err = h.d.Firestore.Collection(agenttoken.RegistrationCodes).Doc(code).Create(r.Context(), map[string]any{
		"siteId":    req.SiteID,
		"createdBy": p.UID,
		"createdAt": firestore.ServerTimestamp,
		"expiresAt": expiresAt,
		"used":      false,
		"status":    "pending",
	})
	if err != nil {
		return fail(w, "store the registration code", err)
	}
	secret(w)
	return web.OK(w, web.M{"registrationCode": code, "expiresAt": store.ISO(expiresAt), "siteId": req.SiteID})
}
