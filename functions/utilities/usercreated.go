package utilities

import (
	"net/http"
	"sync"

	"github.com/owlette/server/shared/email"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// ErrSignupEmailMismatch: the body's e-mail is not the caller's.
var ErrSignupEmailMismatch = web.Forbidden("Forbidden: email does not match the signed-in user")

type userCreatedRequest struct {
	Email       string `json:"email"`
	DisplayName string `json:"displayName"`
	AuthMethod  string `json:"authMethod"`
	CreatedAt   string `json:"createdAt"` // ISO, for display only
}

func (q *userCreatedRequest) Validate() error {
	if q.Email == "" || q.DisplayName == "" || q.AuthMethod == "" {
		return web.BadRequest("Missing required fields: email, displayName, authMethod")
	}
	return nil
}

// userCreated is E65, called by the browser after registration. Order:
// guard (session or Bearer ID token) → body → users/{uid}.email must be the
// body's email (403, also without a user document) → e-mail and admin
// address configured (500) → the admin mail and, with SEND_WELCOME_EMAIL,
// the welcome mail, sent in parallel before the answer.
//
// A failed send is reported in its flag (adminEmailSent, welcomeEmailSent)
// and logged, not as an error: the account exists either way. Not
// idempotent: every call sends again, as in the original.
func (m *mailHandlers) userCreated(w http.ResponseWriter, r *http.Request) error {
	p := guard.Caller(r)
	var req userCreatedRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	mine, err := m.accountEmail(r, p)
	if err != nil {
		return err
	}
	if mine == "" || mine != req.Email {
		return ErrSignupEmailMismatch
	}
	if err := m.configured(); err != nil {
		return err
	}
	sender, err := m.mailer()
	if err != nil {
		return web.Internal(err)
	}
	cfg := m.d.Config
	env := notify.EnvLabel(cfg)
	dash := dashboardURL(m.d, r)
	signup := email.Signup{
		Env: env, Email: req.Email, DisplayName: req.DisplayName, AuthMethod: req.AuthMethod,
		UID: p.UID, CreatedAt: req.CreatedAt, DashboardURL: dash,
	}.Render()

	var (
		wg               sync.WaitGroup
		adminErr, welErr error
	)
	wg.Go(func() { _, adminErr = sender.Send(ctx, signup.Message([]string{cfg.AdminEmail}, nil, "")) })
	if cfg.SendWelcomeEmail {
		welcome := email.Welcome{DisplayName: req.DisplayName, DashboardURL: dash}.Render()
		wg.Go(func() { _, welErr = sender.Send(ctx, welcome.Message([]string{req.Email}, nil, "")) })
	}
	wg.Wait()
	log := logging.From(ctx)
	if adminErr != nil {
		log.Error("signup notification: admin mail failed", "uid", p.UID, "error", adminErr.Error())
	}
	if welErr != nil {
		log.Error("signup notification: welcome mail failed", "uid", p.UID, "error", welErr.Error())
	}
	return web.OK(w, web.M{
		"success": true, "adminEmailSent": adminErr == nil,
		"welcomeEmailSent": cfg.SendWelcomeEmail && welErr == nil, "environment": env,
	})
}

// accountEmail is users/{uid}.email: from the guard's read when it made
// one (ID-token callers), else one read; "" without a document.
func (m *mailHandlers) accountEmail(r *http.Request, p *guard.Principal) (string, error) {
	if p.User != nil {
		return p.User.Email, nil
	}
	if !store.ValidID(p.UID) {
		return "", nil
	}
	snap, err := m.d.Firestore.Collection("users").Doc(p.UID).Get(r.Context())
	if store.NotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", web.Internal(err)
	}
	e, _ := snap.Data()["email"].(string)
	return e, nil
}
