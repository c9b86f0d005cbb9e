// Package apidocs serves the interactive API reference (Swagger UI) for the
// OpenAPI document, entirely from the binary: no CDN and no third-party call
// at run time, so the page works offline and under a strict
// Content-Security-Policy (no inline script; Swagger UI is started by a
// same-origin file and finds the document's URL in a data attribute).
//
// assets/ holds files of the npm package swagger-ui-dist 5.36.0, unchanged
// (swagger-ui-bundle.js, its third-party licence list, swagger-ui.css, the
// favicons, LICENSE and NOTICE; Apache-2.0), plus our init.js and docs.css.
// To update: `npm pack swagger-ui-dist@<version>`, copy the same files over,
// and update the checksums in apidocs_test.go.
package apidocs

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var embedded embed.FS

// CSP is the policy the page is served with; it also fits Swagger UI's
// needs (inline styles and data: images of its own).
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"

// assetCache: asset URLs carry a content hash (?v=), so a new build gets
// new URLs and the browser may keep the old ones for a year.
const assetCache = "public, max-age=31536000, immutable"

var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
	"":      "text/plain; charset=utf-8", // LICENSE, NOTICE
	".html": "text/html; charset=utf-8",
}

type asset struct {
	body        []byte
	etag        string
	contentType string
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>owlette API reference</title>
<link rel="stylesheet" href="{{call .URL "swagger-ui.css"}}">
<link rel="stylesheet" href="{{call .URL "docs.css"}}">
<link rel="icon" type="image/png" sizes="32x32" href="{{call .URL "favicon-32x32.png"}}">
<link rel="icon" type="image/png" sizes="16x16" href="{{call .URL "favicon-16x16.png"}}">
</head>
<body>
<noscript><p>This page needs JavaScript. The API description itself is at <a href="{{.SpecURL}}">{{.SpecURL}}</a>.</p></noscript>
<div id="swagger-ui" data-spec-url="{{.SpecURL}}"></div>
<script src="{{call .URL "swagger-ui-bundle.js"}}"></script>
<script src="{{call .URL "init.js"}}"></script>
</body>
</html>
`))

type handler struct {
	prefix string // without trailing slash, e.g. "/api/docs"
	assets map[string]asset
	page   asset
}

// Handler serves the reference page at prefix (and prefix + "/") and its
// files under prefix + "/assets/"; the page loads the OpenAPI document from
// specURL (e.g. "/api/openapi"). It expects the full request path, so mount
// it on both prefix and prefix + "/" without stripping. Only GET and HEAD
// are served; anything else under prefix is a JSON 404 or 405.
func Handler(prefix, specURL string) http.Handler {
	h := &handler{prefix: strings.TrimRight(prefix, "/"), assets: map[string]asset{}}
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, name)
		if err != nil {
			return err
		}
		h.assets[name] = newAsset(b, contentTypes[path.Ext(name)])
		return nil
	})
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	data := struct {
		SpecURL string
		URL     func(name string) string
	}{
		SpecURL: specURL,
		URL: func(name string) string {
			a, ok := h.assets[name]
			if !ok {
				panic("apidocs: page references missing asset " + name)
			}
			return h.prefix + "/assets/" + name + "?v=" + strings.Trim(a.etag, `"`)
		},
	}
	if err := page.Execute(&buf, data); err != nil {
		panic(err)
	}
	h.page = newAsset(buf.Bytes(), contentTypes[".html"])
	return h
}

func newAsset(b []byte, contentType string) asset {
	sum := sha256.Sum256(b)
	return asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: contentType}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a asset
	var cache string
	switch p := r.URL.Path; {
	case p == h.prefix || p == h.prefix+"/":
		a, cache = h.page, "no-cache"
		w.Header().Set("Content-Security-Policy", CSP)
	case strings.HasPrefix(p, h.prefix+"/assets/"):
		var ok bool
		if a, ok = h.assets[strings.TrimPrefix(p, h.prefix+"/assets/")]; !ok {
			writeError(w, http.StatusNotFound, "Not found")
			return
		}
		cache = assetCache
	default:
		writeError(w, http.StatusNotFound, "Not found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", a.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match with 304, ranges and HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
