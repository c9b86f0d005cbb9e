// Package resendfake is an in-process stand-in for Resend's HTTP API,
// speaking the wire format the official Go SDK (resend-go v3) uses:
// POST /emails, POST /emails/batch, GET /emails, GET /emails/{id}, with
// Bearer auth, Resend's error bodies ({statusCode, name, message}) and
// Idempotency-Key. Tests point email.Sender at URL() and read Messages();
// failures are injected with FailNext.
//
// For people running `make dev`, GET / is an HTML inbox of every caught
// mail (newest first) and GET /view/{id} shows one, its HTML inside a
// sandboxed iframe. The read endpoints need no key, so a browser can use
// them; nothing is ever delivered.
package resendfake
