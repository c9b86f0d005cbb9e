package email

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrInvalidMessage means a Message cannot be sent as it is (no recipient,
// no subject, no body, a header with a line break): retrying cannot help.
var ErrInvalidMessage = errors.New("email: invalid message")

// Error is a failed Send. Status is the HTTP status Resend answered, or 0
// when no answer arrived (network error, timeout, cancelled context).
type Error struct {
	Status  int
	Message string // Resend's message, without the SDK's "[ERROR]: " prefix
	Err     error  // the SDK's or the transport's error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "email: send failed: " + e.Message
	}
	return fmt.Sprintf("email: resend answered %d: %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether retrying the same send cannot succeed: an
// invalid message, or a 4xx answer other than 408 (timeout), 409 (a
// concurrent request with the same idempotency key) and 429 (rate limit).
// 5xx answers, timeouts and network errors are transient; so is nil.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}
