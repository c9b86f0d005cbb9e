package agenttoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"firebase.google.com/go/v4/errorutils"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/web"
)

// Error is a failure to mint an agent token.
type Error struct {
	// Op says what failed ("set agent claims", "exchange custom token", …).
	Op string
	// Status and Code are the Identity Toolkit's HTTP status and error code,
	// when it answered.
	Status int
	Code   string
	Err    error
}

func (e *Error) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Transient reports whether err is a failure worth retrying: network errors,
// timeouts, cancellations, 5xx/429 answers, and the Auth and Firestore codes
// for unavailable, aborted, exhausted, internal or unknown.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var te *Error
	if errors.As(err, &te) && te.Status != 0 {
		return te.Status >= 500 || te.Status == http.StatusTooManyRequests || te.Status == http.StatusRequestTimeout
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) {
		return true
	}
	// The Admin SDK's errors are not wrapped, so test every link of the chain.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errorutils.IsUnavailable(e) || errorutils.IsDeadlineExceeded(e) || errorutils.IsInternal(e) ||
			errorutils.IsUnknown(e) || errorutils.IsResourceExhausted(e) || errorutils.IsAborted(e) || errorutils.IsCancelled(e) {
			return true
		}
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted,
			codes.Internal, codes.Unknown, codes.Canceled:
			return true
		}
	}
	return false
}

// HTTPError turns a failure while issuing or checking agent credentials into
// the response: a *web.Error passes through unchanged; a transient failure is
// 503 (the agent keeps its credentials and retries), anything else 500 with
// what failed. It never yields 401 or 403.
func HTTPError(what string, err error) *web.Error {
	var we *web.Error
	if errors.As(err, &we) {
		return we
	}
	if Transient(err) {
		return web.Unavailable("Token service temporarily unavailable, please retry", err)
	}
	msg := "Failed to " + what
	var te *Error
	if errors.As(err, &te) && te.Status != 0 {
		msg += fmt.Sprintf(": Identity Toolkit answered %d", te.Status)
		if te.Code != "" {
			msg += " " + te.Code
		}
	}
	return &web.Error{Status: http.StatusInternalServerError, Message: msg, Cause: err}
}
