package openapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// The served JSON says what the YAML says: same values, anchors and merge
// keys expanded as a YAML library expands them.
func TestJSONEqualsYAML(t *testing.T) {
	raw, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON any
	if err := json.Unmarshal(raw, &fromJSON); err != nil {
		t.Fatal(err)
	}
	var fromYAML any
	if err := yaml.Unmarshal(YAML(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	// Normalise the YAML value through encoding/json (numbers, map types).
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, want) {
		t.Error("JSON() differs from the YAML document")
	}
	// Keys keep the file's order (readable JSON, Swagger UI lists
	// operations in api.md order).
	if !bytes.HasPrefix(raw, []byte(`{"openapi":"3.1.0","info":`)) {
		t.Errorf("JSON starts %q", raw[:40])
	}
	if i, j := bytes.Index(raw, []byte(`"/api/auth/session":`)), bytes.Index(raw, []byte(`"/api/openapi":`)); i < 0 || j < i {
		t.Error("paths are not in the file's order")
	}
	// The merge key is expanded, never served.
	if bytes.Contains(raw, []byte(`"<<"`)) {
		t.Error("JSON contains a YAML merge key")
	}
}

// kin-openapi writes $ref sibling descriptions into the shared component;
// Load undoes that, so components keep their own text.
func TestComponentResponseDescriptionsIntact(t *testing.T) {
	doc := mustLoad(t)
	for name, prefix := range map[string]string{
		"BadRequest":   "Invalid request",
		"Unauthorized": "No valid credential",
		"Forbidden":    "The credential is valid",
		"NotFound":     "The named resource",
	} {
		r := doc.Components.Responses[name]
		if r == nil || r.Value.Description == nil || !strings.HasPrefix(*r.Value.Description, prefix) {
			t.Errorf("components.responses.%s description = %v", name, r.Value.Description)
		}
	}
	// The operation's own text is on the reference.
	r := operation(t, doc, "POST", "/api/auth/session").Responses.Value("401")
	if r.Description == nil || *r.Description != "Invalid or expired ID token." {
		t.Errorf("E01 401 description = %v", r.Description)
	}
}

// An API key in the query string is refused with 400 on every route that
// accepts API keys, so they all document a 400.
func TestAPIKeyRoutesDocument400(t *testing.T) {
	doc := mustLoad(t)
	for _, o := range mustOperations(t) {
		for _, s := range o.Security {
			if s == "apiKey" && operation(t, doc, o.Method, o.Path).Responses.Value("400") == nil {
				t.Errorf("%s accepts API keys but documents no 400", o.Pattern())
			}
		}
	}
}
