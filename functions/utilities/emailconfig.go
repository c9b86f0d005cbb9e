package utilities

import (
	"net/http"

	"github.com/owlette/server/shared/email"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/web"
)

// emailConfig is X08: which provider, sender and admin address are
// configured; never the key itself.
func (h handlers) emailConfig(w http.ResponseWriter, r *http.Request) error {
	cfg := h.d.Config
	from := cfg.ResendFrom
	if from == "" {
		from = email.DefaultFrom
	}
	var admin any
	if cfg.AdminEmail != "" {
		admin = cfg.AdminEmail
	}
	return web.OK(w, web.M{
		"provider": "Resend", "fromEmail": from, "adminEmail": admin, "environment": notify.EnvLabel(cfg),
		"apiKeyConfigured": notify.EmailConfigured(cfg), "adminEmailConfigured": cfg.AdminEmail != "",
	})
}
