// Package web holds the HTTP plumbing every function shares: handlers that
// return errors, the one error renderer, the one JSON decoder, JSON responses
// and the request middleware (request ids, panic recovery, logging, security
// headers, CORS).
package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/store"
)

// Error is an error with a public message and status for the client and a
// private cause that is only logged.
type Error struct {
	Status  int
	Message string
	// Fields are extra top-level body fields (e.g. "success": false).
	Fields map[string]any
	Cause  error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// With returns a copy of e that also carries the extra body field k.
func (e *Error) With(k string, v any) *Error {
	c := *e
	c.Fields = map[string]any{}
	for fk, fv := range e.Fields {
		c.Fields[fk] = fv
	}
	c.Fields[k] = v
	return &c
}

// Wrap returns a copy of e carrying a private cause.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// Errorf builds an *Error with a formatted public message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

func BadRequest(msg string) *Error   { return &Error{Status: http.StatusBadRequest, Message: msg} }
func Unauthorized(msg string) *Error { return &Error{Status: http.StatusUnauthorized, Message: msg} }
func Forbidden(msg string) *Error    { return &Error{Status: http.StatusForbidden, Message: msg} }
func NotFound(msg string) *Error     { return &Error{Status: http.StatusNotFound, Message: msg} }
func Conflict(msg string) *Error     { return &Error{Status: http.StatusConflict, Message: msg} }

// Internal hides cause behind a generic 500 message.
func Internal(cause error) *Error {
	return &Error{Status: http.StatusInternalServerError, Message: "Internal server error", Cause: cause}
}

// Unavailable is a 503 for transient upstream failures.
func Unavailable(msg string, cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Message: msg, Cause: cause}
}

// AsError converts any error into the *Error that will be rendered. An
// internal error caused by a deadline, an unavailable backend or a value
// too large for Firestore is rendered as what it is (504, 503, 400), so a
// slow dependency or an oversized input never reads as a server bug.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Status == http.StatusInternalServerError && e.Cause != nil {
			if c := classify(e.Cause); c != nil {
				return c
			}
		}
		return e
	}
	if c := classify(err); c != nil {
		return c
	}
	return Internal(err)
}

// Public errors for causes that are not the server's fault.
var (
	ErrTimeout     = Errorf(http.StatusGatewayTimeout, "The request took too long: please try again")
	ErrBackend     = Errorf(http.StatusServiceUnavailable, "The service is temporarily unavailable: please try again")
	ErrTooLarge    = BadRequest("The request would store a value larger than the database allows (documents are limited to 1 MiB, indexed values to 1,500 bytes)")
	ErrBodyTimeout = Errorf(http.StatusRequestTimeout, "The request body was not received in time")
)

func classify(cause error) *Error {
	switch {
	case errors.Is(cause, context.DeadlineExceeded), status.Code(cause) == codes.DeadlineExceeded:
		return ErrTimeout.Wrap(cause)
	case errors.Is(cause, context.Canceled), status.Code(cause) == codes.Canceled:
		// The client went away; nobody reads this answer.
		return ErrBackend.Wrap(cause)
	case status.Code(cause) == codes.Unavailable, status.Code(cause) == codes.ResourceExhausted:
		return ErrBackend.Wrap(cause)
	case store.TooLarge(cause):
		return ErrTooLarge.Wrap(cause)
	}
	return nil
}
