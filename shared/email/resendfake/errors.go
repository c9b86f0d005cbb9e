package resendfake

import (
	"encoding/json"
	"net/http"
)

// apiError is Resend's error body; the SDK reads message (and, for 400
// and 422, statusCode and name).
type apiError struct {
	StatusCode int    `json:"statusCode"`
	Name       string `json:"name"`
	Message    string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, name, message string) {
	writeJSON(w, status, apiError{StatusCode: status, Name: name, Message: message})
}

// Resend's messages for the errors the fake produces.
const (
	msgMissingKey  = "Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY"
	msgInvalidKey  = "API key is invalid"
	msgIdemKey     = "Idempotency keys, if present, must have between 1 and 256 characters."
	msgIdemReuse   = "Same idempotency key used with a different request payload."
	msgRateLimited = "Too many requests. You can only make 2 requests per second. See rate limit response headers for more information. Or contact support to increase rate limit."
)

// injected writes the answer of an injected failure: Resend's error name
// for the status, rate-limit headers on 429.
func injected(w http.ResponseWriter, status int) {
	name, msg := "application_error", "Internal server error. We are unable to process your request right now, please try again later."
	switch status {
	case http.StatusBadRequest:
		name, msg = "validation_error", "We found an error with one or more fields in the request."
	case http.StatusUnauthorized:
		name, msg = "missing_api_key", msgMissingKey
	case http.StatusForbidden:
		name, msg = "invalid_api_key", msgInvalidKey
	case http.StatusNotFound:
		name, msg = "not_found", "The requested endpoint does not exist."
	case http.StatusRequestTimeout:
		name, msg = "request_timeout", "The request timed out."
	case http.StatusConflict:
		name, msg = "concurrent_idempotent_requests", "Same idempotency key used while original request is still in progress."
	case http.StatusUnprocessableEntity:
		name, msg = "validation_error", "We found an error with one or more fields in the request."
	case http.StatusTooManyRequests:
		name, msg = "rate_limit_exceeded", msgRateLimited
		h := w.Header()
		h.Set("ratelimit-limit", "2")
		h.Set("ratelimit-remaining", "0")
		h.Set("ratelimit-reset", "1")
		h.Set("retry-after", "1")
	case http.StatusUnavailableForLegalReasons:
		name, msg = "security_error", "We may have found a security issue with the request."
	}
	writeError(w, status, name, msg)
}
