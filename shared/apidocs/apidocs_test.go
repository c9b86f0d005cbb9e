package apidocs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

const (
	prefix  = "/api/docs"
	specURL = "/api/openapi"
)

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var refAttr = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

func TestPageAndEveryReferencedAsset(t *testing.T) {
	h := Handler(prefix, specURL)
	for _, p := range []string{prefix, prefix + "/"} {
		w := get(t, h, http.MethodGet, p)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s = %d", p, w.Code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("page Content-Type = %q", ct)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'") {
			t.Errorf("page CSP = %q", csp)
		}
		if w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("page Cache-Control = %q", w.Header().Get("Cache-Control"))
		}
	}
	body := get(t, h, http.MethodGet, prefix).Body.String()
	if !strings.Contains(body, `data-spec-url="/api/openapi"`) {
		t.Error("page does not name the spec URL")
	}
	wantTypes := map[string]string{
		"swagger-ui.css":       "text/css; charset=utf-8",
		"docs.css":             "text/css; charset=utf-8",
		"favicon-32x32.png":    "image/png",
		"favicon-16x16.png":    "image/png",
		"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"init.js":              "text/javascript; charset=utf-8",
	}
	refs := refAttr.FindAllStringSubmatch(body, -1)
	seen := map[string]bool{}
	for _, m := range refs {
		ref := m[1]
		if ref == specURL {
			continue // the noscript link to the document
		}
		if !strings.HasPrefix(ref, prefix+"/assets/") || !strings.Contains(ref, "?v=") {
			t.Errorf("reference %q is not a versioned asset URL", ref)
			continue
		}
		name := strings.TrimPrefix(ref[:strings.Index(ref, "?")], prefix+"/assets/")
		seen[name] = true
		w := get(t, h, http.MethodGet, ref)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s = %d", ref, w.Code)
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != wantTypes[name] {
			t.Errorf("%s Content-Type = %q, want %q", name, ct, wantTypes[name])
		}
		if w.Body.Len() == 0 {
			t.Errorf("%s is empty", name)
		}
		if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("%s Cache-Control = %q", name, cc)
		}
		if w.Header().Get("ETag") == "" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: ETag %q, nosniff %q", name, w.Header().Get("ETag"), w.Header().Get("X-Content-Type-Options"))
		}
	}
	for name := range wantTypes {
		if !seen[name] {
			t.Errorf("page does not reference %s", name)
		}
	}
}

// The page must work offline and under a CSP without inline scripts.
func TestPageIsOfflineAndInlineScriptFree(t *testing.T) {
	body := get(t, Handler(prefix, specURL), http.MethodGet, prefix).Body.String()
	if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(body); m != "" {
		t.Errorf("page references an absolute URL: %q", m)
	}
	for _, m := range regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(body, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script: %q", m[0])
		}
	}
	if regexp.MustCompile(`(?i)\son[a-z]+=`).MatchString(body) {
		t.Error("page has an inline event handler")
	}
	if strings.Contains(body, "<style") || strings.Contains(body, "style=") {
		t.Error("page has inline styles")
	}
	// Swagger UI must not call the public validator, and must get our
	// settings.
	init := string(mustAsset(t, "init.js"))
	for _, want := range []string{"validatorUrl: null", "tryItOutEnabled: true", "persistAuthorization: true", "deepLinking: true", `getAttribute("data-spec-url")`} {
		if !strings.Contains(init, want) {
			t.Errorf("init.js lacks %q", want)
		}
	}
}

func TestUnknownAssetIsJSON404(t *testing.T) {
	h := Handler(prefix, specURL)
	for _, p := range []string{prefix + "/assets/nope.js", prefix + "/assets/", prefix + "/assets/../apidocs.go", prefix + "/other", "/elsewhere"} {
		w := get(t, h, http.MethodGet, p)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, w.Code)
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s Content-Type = %q", p, ct)
		}
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] == "" {
			t.Errorf("GET %s body = %q", p, w.Body.String())
		}
	}
}

func TestMethodsAndConditionalRequests(t *testing.T) {
	h := Handler(prefix+"/", specURL) // a trailing slash on the prefix is tolerated
	w := get(t, h, http.MethodPost, prefix)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" || !json.Valid(w.Body.Bytes()) {
		t.Errorf("POST = %d, Allow %q, body %q", w.Code, w.Header().Get("Allow"), w.Body.String())
	}
	w = get(t, h, http.MethodHead, prefix+"/assets/init.js")
	if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD = %d, %d body bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	etag := w.Header().Get("ETag")
	w = get(t, h, http.MethodGet, prefix+"/assets/init.js", "If-None-Match", etag)
	if w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match = %d, want 304", w.Code)
	}
	page := get(t, h, http.MethodGet, prefix)
	if w := get(t, h, http.MethodGet, prefix, "If-None-Match", page.Header().Get("ETag")); w.Code != http.StatusNotModified {
		t.Errorf("page If-None-Match = %d, want 304", w.Code)
	}
}

func TestSpecURLIsEscaped(t *testing.T) {
	body := get(t, Handler(prefix, `/api/openapi"><script>x</script>`), http.MethodGet, prefix).Body.String()
	if strings.Contains(body, "<script>x") {
		t.Error("spec URL is not escaped")
	}
}

// The vendored files are swagger-ui-dist 5.36.0 as published (npm pack),
// unmodified; the licence files travel with them.
func TestVendoredSwaggerUIUnchanged(t *testing.T) {
	want := map[string]string{
		"LICENSE":                          "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
		"NOTICE":                           "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
		"favicon-16x16.png":                "af24ad604dd7b3bcda8f975ab973075f4a2f70a4087944a12f8ef8b63a3e07c2",
		"favicon-32x32.png":                "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837",
		"swagger-ui-bundle.js":             "b164c5a22535e40dae08c00271674a67e437ec195098c55fcedf8ffac7ac3c88",
		"swagger-ui-bundle.js.LICENSE.txt": "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb",
		"swagger-ui.css":                   "7eb9f5a125e4bc9b3f0b71869b66d1a3d7c501f972f53d44ef91c2ae6c5bda5e",
	}
	for name, sum := range want {
		got := sha256.Sum256(mustAsset(t, name))
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s differs from swagger-ui-dist 5.36.0", name)
		}
	}
	if !strings.Contains(string(mustAsset(t, "swagger-ui-bundle.js")), `"5.36.0"`) {
		t.Error("bundle is not version 5.36.0")
	}
	// Every embedded file is either vendored or ours.
	ours := map[string]bool{"init.js": true, "docs.css": true}
	_ = fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			name := strings.TrimPrefix(p, "assets/")
			if want[name] == "" && !ours[name] {
				t.Errorf("unexpected embedded file %s", name)
			}
		}
		return err
	})
}

func mustAsset(t *testing.T, name string) []byte {
	t.Helper()
	b, err := embedded.ReadFile("assets/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
