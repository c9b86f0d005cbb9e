package guard

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/api/idtoken"

	"github.com/owlette/server/shared/web"
)

// Kinds of internal principals.
const (
	ViaSecret = "secret" // a shared secret header (CORTEX_INTERNAL_SECRET, CRON_SECRET)
	ViaOIDC   = "oidc"   // a Google-signed OIDC token (Cloud Scheduler, Cloud Tasks)
)

// CronSecretHeader carries CRON_SECRET (E63 and the scheduled functions).
const CronSecretHeader = "X-Cron-Secret"

// TokenVerifier validates a Google-signed ID token for an audience.
type TokenVerifier interface {
	Validate(ctx context.Context, token, audience string) (*idtoken.Payload, error)
}

// OIDC says which Google-signed tokens internal and scheduled routes accept:
// tokens for Audience whose verified e-mail is ServiceAccount (the identity
// scripts/deploy gives the Scheduler jobs and task queues). Either empty:
// OIDC is refused and only the shared secrets work.
type OIDC struct {
	ServiceAccount, Audience string
	// Verifier checks signatures; nil means Google's published keys.
	Verifier TokenVerifier

	once sync.Once
	v    TokenVerifier
	err  error
}

// googleIssuers are the iss values of Google-signed ID tokens.
var googleIssuers = map[string]bool{"https://accounts.google.com": true, "accounts.google.com": true}

// verify reports whether tok is an OIDC token of the configured identity.
func (o *OIDC) verify(ctx context.Context, tok string) (bool, error) {
	if o == nil || o.ServiceAccount == "" || o.Audience == "" || tok == "" {
		return false, nil
	}
	o.once.Do(func() {
		o.v = o.Verifier
		if o.v == nil {
			o.v, o.err = idtoken.NewValidator(context.WithoutCancel(ctx))
		}
	})
	if o.err != nil {
		return false, web.Internal(o.err)
	}
	p, err := o.v.Validate(ctx, tok, o.Audience)
	if err != nil {
		return false, nil
	}
	email, _ := p.Claims["email"].(string)
	verified, _ := p.Claims["email_verified"].(bool)
	return googleIssuers[p.Issuer] && verified && strings.EqualFold(email, o.ServiceAccount), nil
}

// secretEqual compares a presented secret with the configured one in
// constant time; an unset secret matches nothing.
func secretEqual(got, want string) bool {
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// internal authenticates a call between functions: the secret header, or
// an OIDC bearer token.
func (s *Service) internal(r *http.Request, header string) (*Principal, error) {
	if got := r.Header.Get(header); got != "" {
		if secretEqual(got, s.Config.CortexSecret) {
			return &Principal{UID: "internal", Via: ViaSecret}, nil
		}
		return nil, ErrInternal
	}
	return s.oidc(r)
}

// cron authenticates a scheduled call: X-Cron-Secret, "Authorization:
// Bearer <CRON_SECRET>" (E56's form; the prefix is optional there, as in the
// original), or an OIDC bearer token.
func (s *Service) cron(r *http.Request) (*Principal, error) {
	if got := r.Header.Get(CronSecretHeader); got != "" {
		if secretEqual(got, s.Config.CronSecret) {
			return &Principal{UID: "scheduler", Via: ViaSecret}, nil
		}
		return nil, ErrInternal
	}
	authz := r.Header.Get("Authorization")
	if secretEqual(strings.TrimPrefix(authz, "Bearer "), s.Config.CronSecret) {
		return &Principal{UID: "scheduler", Via: ViaSecret}, nil
	}
	return s.oidc(r)
}

func (s *Service) oidc(r *http.Request) (*Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, ErrInternal
	}
	good, err := s.OIDC.verify(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	if !good {
		return nil, ErrInternal
	}
	return &Principal{UID: "scheduler", Via: ViaOIDC}, nil
}

// SecondFactor reports whether a Firebase ID token proves a second factor
// (Firebase sets firebase.sign_in_second_factor on MFA sign-ins).
func SecondFactor(claims map[string]any) bool {
	fb, _ := claims["firebase"].(map[string]any)
	f, _ := fb["sign_in_second_factor"].(string)
	return f != ""
}

// checkSecondFactor refuses an ID token of a user with MFA enrolled that
// was issued for a password alone (DECISIONS §3): otherwise a password
// would reach every guarded route through the Bearer header.
func checkSecondFactor(p *Principal) error {
	if p.Via != ViaIDToken || p.User == nil || !p.User.MFAEnrolled || p.Token == nil {
		return nil
	}
	if SecondFactor(p.Token.Claims) {
		return nil
	}
	return ErrMFARequired
}
