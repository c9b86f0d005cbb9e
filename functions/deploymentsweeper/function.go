// Package deploymentsweeper is the "deploymentsweeper" Cloud Function, the
// original's sweepStaleDeployments (datamodel.md §7.2): called by Cloud
// Scheduler every 5 minutes (shared/background), it fails deployment targets
// that are stuck: still pending 15 minutes after the deployment was created
// (the agent never started) or still downloading, installing or
// uninstalling after 30 minutes, and re-aggregates the deployment's status.
//
// It is an HTTP function of its own, not an /api route: Scheduler calls its
// URL directly. Callers authenticate (DECISIONS §3, "never nothing") with
// either
//   - the Cloud Scheduler job's OIDC token (Authorization: Bearer), signed by
//     Google for the audience SCHEDULER_AUDIENCE and issued to the service
//     account SCHEDULER_SERVICE_ACCOUNT (scripts/deploy sets both), or
//   - the shared secret: X-Cron-Secret: $CRON_SECRET (the local scheduler,
//     manual runs).
//
// Anything else gets 401 {"error":"Unauthorized"}. A successful sweep
// answers 200 {"success":true, "sitesScanned", "deploymentsChecked",
// "deploymentsUpdated", "targetsTimedOut", "deploymentsWithoutCreatedAt"}.
package deploymentsweeper

import (
	"context"
	"crypto/subtle"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"google.golang.org/api/idtoken"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/background"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/web"
)

// Name is the function's entry point, service name and scheduler job id
// (shared/background).
const Name = "deploymentsweeper"

// CronSecretHeader carries CRON_SECRET.
const CronSecretHeader = "X-Cron-Secret"

// deadline leaves room inside the 60 s function timeout.
const deadline = 50 * time.Second

func init() {
	app.MustStartOnCloudRun()
	functions.HTTP(Name, app.Function(Register))
}

// Register serves the sweep with the OIDC settings from the environment.
func Register(rt *app.Router) {
	Options{ServiceAccount: os.Getenv(background.EnvServiceAccount), Audience: os.Getenv(background.EnvAudience)}.Register(rt)
}

// TokenVerifier validates a Google-signed ID token for an audience.
type TokenVerifier interface {
	Validate(ctx context.Context, token, audience string) (*idtoken.Payload, error)
}

// Options configure the sweep endpoint.
type Options struct {
	// ServiceAccount and Audience enable OIDC: a Bearer token must be a
	// Google ID token for Audience whose verified email is ServiceAccount.
	// Either empty: OIDC is refused and only the cron secret works.
	ServiceAccount, Audience string
	// Verifier checks token signatures (nil: Google's published keys).
	Verifier TokenVerifier
}

// Register adds the sweep route: any path, GET or POST.
func (o Options) Register(rt *app.Router) {
	h := &handler{d: rt.D, o: o}
	rt.Handle("GET /", guard.Public, ratelimit.None, h.sweep)
	rt.Handle("POST /", guard.Public, ratelimit.None, h.sweep)
}

type handler struct {
	d *app.Deps
	o Options

	once     sync.Once
	verifier TokenVerifier
	vErr     error
}

var errUnauthorized = web.Unauthorized("Unauthorized")

// googleIssuers are the iss values of Google-signed ID tokens.
var googleIssuers = map[string]bool{"https://accounts.google.com": true, "accounts.google.com": true}

// authorize accepts the cron secret or the scheduler's OIDC token.
func (h *handler) authorize(r *http.Request) (string, error) {
	if got := r.Header.Get(CronSecretHeader); got != "" {
		secret := h.d.Config.CronSecret
		if secret != "" && subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1 {
			return "cron-secret", nil
		}
		return "", errUnauthorized
	}
	authz := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok || tok == "" || h.o.ServiceAccount == "" || h.o.Audience == "" {
		return "", errUnauthorized
	}
	h.once.Do(func() {
		h.verifier = h.o.Verifier
		if h.verifier == nil {
			h.verifier, h.vErr = idtoken.NewValidator(context.WithoutCancel(r.Context()))
		}
	})
	if h.vErr != nil {
		return "", web.Internal(h.vErr)
	}
	p, err := h.verifier.Validate(r.Context(), tok, h.o.Audience)
	if err != nil {
		return "", errUnauthorized.Wrap(err)
	}
	email, _ := p.Claims["email"].(string)
	verified, _ := p.Claims["email_verified"].(bool)
	if !googleIssuers[p.Issuer] || !verified || !strings.EqualFold(email, h.o.ServiceAccount) {
		return "", errUnauthorized
	}
	return "oidc", nil
}

func (h *handler) sweep(w http.ResponseWriter, r *http.Request) error {
	via, err := h.authorize(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), deadline)
	defer cancel()
	logging.From(ctx).Debug("sweep authorized", "via", via)
	res, err := Sweep(ctx, h.d, h.d.Now())
	if err != nil {
		// Partial progress is kept; the next run retries the rest.
		return web.Internal(err)
	}
	return web.OK(w, map[string]any{
		"success": true, "sitesScanned": res.Sites, "deploymentsChecked": res.Checked,
		"deploymentsUpdated": res.Updated, "targetsTimedOut": res.TimedOut,
		"deploymentsWithoutCreatedAt": res.Unparseable,
	})
}
