// Package setup is the "setup" Cloud Function: a signed-in site member mints
// an agent registration code from the setup page (api.md §2.19, E51).
package setup

import (
	"time"

	"net/http"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/agenttoken"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "setup"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/setup/**"},
	Timeout: 30 * time.Second,
	Config:  config.Session,
}

// CodeTTL is how long a registration code stays redeemable.
const CodeTTL = agenttoken.RegistrationCodeTTL

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := handlers{rt.D}
	rt.Handle("POST /api/setup/generate-token", guard.SessionSite, ratelimit.API, h.generate)
}

type handlers struct{ d *app.Deps }

type generateRequest struct {
	SiteID string `json:"siteId"`
}

func (q generateRequest) Validate() error {
	if err := web.Required("siteId", q.SiteID); err != nil {
		return err
	}
	if !store.ValidID(q.SiteID) {
		return web.BadRequest("Field \"siteId\" is not a valid site id")
	}
	return nil
}

// generate is E51. Order: body → session → site access.
func (h handlers) generate(w http.ResponseWriter, r *http.Request) error {
	var req generateRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	p, err := guard.Site(r, req.SiteID)
	if err != nil {
		return err
	}
	code, err := NewRegistrationCode()
	if err != nil {
		return web.Internal(err)
	}
	_, err = h.d.Firestore.Collection("agent_tokens").Doc(code).Create(r.Context(), map[string]any{
		"siteId":    req.SiteID,
		"createdBy": p.UID,
		"createdAt": firestore.ServerTimestamp,
		"expiresAt": h.d.Now().Add(CodeTTL),
		"used":      false,
	})
	if err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"token": code, "siteId": req.SiteID, "userId": p.UID})
}

// NewRegistrationCode returns 32 random bytes, base64url (43 characters). It
// is agenttoken.NewRegistrationCode, shared with E16 (generate-installer).
func NewRegistrationCode() (string, error) { return agenttoken.NewRegistrationCode() }
