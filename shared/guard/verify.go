package guard

import (
	"context"
	"errors"

	"firebase.google.com/go/v4/auth"
	"firebase.google.com/go/v4/errorutils"

	"github.com/owlette/server/shared/web"
)

// ErrVerifyUnavailable answers a Firebase ID token that could not be checked
// because a dependency is down: Google's public keys could not be fetched,
// or (emulator mode, revocation checks) the Auth service did not answer.
var ErrVerifyUnavailable = web.Unavailable("Token verification is temporarily unavailable, please retry", nil)

// verifyError is the answer to a failed VerifyIDToken: the credential's own
// 401 when the token is bad (malformed, expired, revoked, another project's),
// but 503 when it could not be verified at all, so that a valid credential
// is never told it is invalid because Auth is away (DECISIONS §3: agents
// drop their credentials on 401/403).
func verifyError(invalid *web.Error, err error) error {
	if auth.IsCertificateFetchFailed(err) || errorutils.IsUnavailable(err) || errorutils.IsDeadlineExceeded(err) ||
		errorutils.IsUnknown(err) || errorutils.IsInternal(err) || errors.Is(err, context.DeadlineExceeded) {
		return ErrVerifyUnavailable.Wrap(err)
	}
	return invalid.Wrap(err)
}
