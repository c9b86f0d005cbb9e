// Package openapi holds the OpenAPI 3.1 description of every /api route
// (api.md E01–E66 and X01–X14, as the server behaves, DECISIONS.md included)
// and gives it to the server: Load for code that inspects it, JSON for GET
// /api/openapi (X14), Operations for tests that hold routes and document
// together.
//
// The document is hand-written YAML (openapi.yaml, embedded): it says what
// handlers cannot (order of checks, side effects, wire quirks), so it is not
// generated from them. Tests keep it honest: it must validate as OpenAPI 3.1
// with kin-openapi, list exactly the 80 operations of api.md, and carry the
// guards and rate-limit classes the spec and the registered routes declare.
package openapi

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"
)

//go:embed openapi.yaml
var document []byte

// YAML returns the document as written (a copy).
func YAML() []byte { return bytes.Clone(document) }

var load = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	// Every $ref is local; never read files or URLs at run time.
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(document)
	if err != nil {
		return nil, fmt.Errorf("openapi: load: %w", err)
	}
	if err := restoreResponseDescriptions(doc); err != nil {
		return nil, err
	}
	// Validate switches to JSON Schema 2020-12 rules itself because the
	// document says "openapi: 3.1.0"; the option makes that explicit.
	if err := doc.Validate(context.Background(), openapi3.IsOpenAPI31OrLater()); err != nil {
		return nil, fmt.Errorf("openapi: validate: %w", err)
	}
	return doc, nil
})

// Load parses and validates the embedded document once and returns it. The
// result is shared: treat it as read-only.
//
// An operation's response that references a shared one with its own
// description (an OpenAPI 3.1 Reference Object sibling) keeps that text in
// ResponseRef.Description; ResponseRef.Value is the shared component.
func Load() (*openapi3.T, error) { return load() }

// restoreResponseDescriptions undoes a kin-openapi v0.153.0 side effect: when
// it resolves a response $ref that has a sibling description, it writes that
// description into the shared component, so every component response ends
// up with the text of the last operation that referenced it.
func restoreResponseDescriptions(doc *openapi3.T) error {
	var raw struct {
		Components struct {
			Responses map[string]struct {
				Description string `yaml:"description"`
			} `yaml:"responses"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(document, &raw); err != nil {
		return fmt.Errorf("openapi: load: %w", err)
	}
	for name, r := range raw.Components.Responses {
		if ref := doc.Components.Responses[name]; ref != nil && ref.Value != nil {
			d := r.Description
			ref.Value.Description = &d
		}
	}
	return nil
}

var jsonDoc = sync.OnceValues(func() ([]byte, error) {
	// Only a document that loads and validates is served.
	if _, err := Load(); err != nil {
		return nil, err
	}
	// Converted from the YAML itself, not from kin-openapi's model: the JSON
	// says exactly what the file says (keys in the file's order, anchors and
	// merge keys expanded), whatever the library keeps or drops.
	var root yaml.Node
	if err := yaml.Unmarshal(document, &root); err != nil {
		return nil, fmt.Errorf("openapi: json: %w", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &root); err != nil {
		return nil, fmt.Errorf("openapi: json: %w", err)
	}
	return buf.Bytes(), nil
})

// JSON returns the document as JSON: what GET /api/openapi serves. The bytes
// are shared: do not modify them.
func JSON() ([]byte, error) { return jsonDoc() }

// Operation is one method+path of the document.
type Operation struct {
	Method      string // upper case, e.g. "POST"
	Path        string // template, e.g. "/api/passkeys/{credentialId}"
	OperationID string
	ID          string // x-owlette-id: "E01"…"E66", "X01"…"X14"
	Tag         string // route group: the HTTP function serving it (functions/registry)
	// Guard is x-owlette-guard: the api.md §1.5 guard ("G-ADMIN-SITE"), or
	// the secret check of an internal endpoint ("G-CRON").
	Guard string
	// RateLimit is x-owlette-rate-limit: the shared/ratelimit class name
	// ("api"), or "" when the route is not limited.
	RateLimit string
	// Security lists the security scheme names any of which is accepted, in
	// document order; empty for public routes.
	Security []string
}

// Pattern is the route as net/http and shared/app register it
// ("POST /api/auth/session").
func (o Operation) Pattern() string { return o.Method + " " + o.Path }

// Operations lists every operation, sorted by path then method.
func Operations() ([]Operation, error) {
	doc, err := Load()
	if err != nil {
		return nil, err
	}
	var out []Operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			o := Operation{
				Method:      strings.ToUpper(method),
				Path:        path,
				OperationID: op.OperationID,
				ID:          extString(op.Extensions, "x-owlette-id"),
				Guard:       extString(op.Extensions, "x-owlette-guard"),
				RateLimit:   extString(op.Extensions, "x-owlette-rate-limit"),
			}
			if len(op.Tags) > 0 {
				o.Tag = op.Tags[0]
			}
			if op.Security != nil {
				for _, req := range *op.Security {
					names := make([]string, 0, len(req))
					for name := range req {
						names = append(names, name)
					}
					slices.Sort(names) // one scheme per requirement in this document
					for _, n := range names {
						if !slices.Contains(o.Security, n) {
							o.Security = append(o.Security, n)
						}
					}
				}
			}
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Operation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return out, nil
}

func extString(ext map[string]any, key string) string {
	s, _ := ext[key].(string)
	return s
}
