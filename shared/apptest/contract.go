package apptest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/owlette/server/shared/openapi"
)

// The contract check: every request a handler test sends through Env.Do,
// and every response it gets, is validated against the OpenAPI document
// (shared/openapi) with kin-openapi. A response must be one the document
// describes for that operation (status and body schema). A request the
// server accepted (2xx) must be one the document allows; requests a test
// sends to see them refused are not held to it. A path the document does
// not know may only be answered 404 or 405.
var (
	contractOnce   sync.Once
	contractRouter routers.Router
	contractErr    error
)

func router() (routers.Router, error) {
	contractOnce.Do(func() {
		doc, err := openapi.Load()
		if err != nil {
			contractErr = err
			return
		}
		contractRouter, contractErr = gorillamux.NewRouter(doc)
	})
	return contractRouter, contractErr
}

// noAuth skips the security check: the tests judge credentials themselves.
func noAuth(context.Context, *openapi3filter.AuthenticationInput) error { return nil }

// checkContract reports where a request and its response disagree with the
// document. reqBody is the body that was sent.
func (e *Env) checkContract(req *http.Request, reqBody []byte, res *Response) {
	e.T.Helper()
	if e.NoContract || !strings.HasPrefix(req.URL.Path, "/api/") || req.Method == http.MethodOptions ||
		// Routes tests register for themselves, and the reference page
		// (a page, not an operation of the API).
		strings.HasPrefix(req.URL.Path, "/api/test/") || strings.HasPrefix(req.URL.Path, "/api/admin/test/") ||
		req.URL.Path == "/api/docs" || strings.HasPrefix(req.URL.Path, "/api/docs/") {
		return
	}
	rt, err := router()
	if err != nil {
		e.T.Errorf("contract: OpenAPI document: %v", err)
		return
	}
	// A copy: the handler consumed the original's body.
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.URL.Host, r.Host = "", ""
	// The server needs no content type (real clients send JSON without
	// one); the document describes the body as JSON.
	if r.Header.Get("Content-Type") == "" && len(reqBody) > 0 {
		r.Header.Set("Content-Type", "application/json")
	}
	route, params, err := rt.FindRoute(r)
	if err != nil {
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			e.T.Errorf("contract: %s %s answered %d but the OpenAPI document has no such operation", req.Method, req.URL.Path, res.StatusCode)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: noAuth, MultiError: true}}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			e.T.Errorf("contract: %s %s was accepted (%d) but the document does not allow the request: %v", req.Method, req.URL.Path, res.StatusCode, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body:    io.NopCloser(bytes.NewReader(res.Raw)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: noAuth},
	}
	if ct := res.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/event-stream") || strings.HasPrefix(ct, "text/plain") {
		out.Options.ExcludeResponseBody = true // streams: the document describes them in prose
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		e.T.Errorf("contract: %s %s answered %d, which the document does not describe: %v\nbody: %.300s", req.Method, req.URL.Path, res.StatusCode, err, res.Raw)
	}
}
