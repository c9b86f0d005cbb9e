package utilities

import (
	"net/http"
	"sync"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/email"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/web"
)

// mailHandlers are the routes that send e-mail synchronously (E64, E65):
// the admin waits for Resend's answer, so these two are not queued.
type mailHandlers struct {
	d *app.Deps

	mu     sync.Mutex
	sender *email.Sender
}

func newMailHandlers(d *app.Deps) *mailHandlers { return &mailHandlers{d: d} }

// Errors of the e-mail routes when e-mail cannot be sent at all (500, as
// in the original; details say what to set).
var (
	ErrNoResend = web.Errorf(http.StatusInternalServerError, "Email service not configured").
			With("details", "RESEND_API_KEY is not set")
	ErrNoAdminEmail = web.Errorf(http.StatusInternalServerError, "Admin email not configured").
			With("details", "ADMIN_EMAIL_PROD (production) or ADMIN_EMAIL_DEV is not set")
)

// configured returns ErrNoResend or ErrNoAdminEmail, or nil.
func (m *mailHandlers) configured() *web.Error {
	cfg := m.d.Config
	if !notify.EmailConfigured(cfg) {
		return ErrNoResend
	}
	if cfg.AdminEmail == "" {
		return ErrNoAdminEmail
	}
	return nil
}

// mailer returns the instance's Resend client, made on first use from the
// configuration as it is then (one per instance: it pools connections).
// A configuration it cannot use is not remembered, so it is retried.
func (m *mailHandlers) mailer() (*email.Sender, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sender == nil {
		cfg := m.d.Config
		s, err := email.NewSender(cfg.ResendAPIKey, cfg.ResendFrom, cfg.ResendBaseURL, nil)
		if err != nil {
			return nil, err
		}
		m.sender = s
	}
	return m.sender, nil
}

// dashboardURL is the button target of the mails: the dashboard at the
// configured BASE_URL, else at the request's origin.
func dashboardURL(d *app.Deps, r *http.Request) string {
	return notify.Origin(d.Config, r) + "/dashboard"
}
