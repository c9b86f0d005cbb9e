package utilities

import (
	"net/http"

	"github.com/owlette/server/shared/apidocs"
	"github.com/owlette/server/shared/openapi"
	"github.com/owlette/server/shared/web"
)

// DocsPath is where the interactive API reference is served.
const DocsPath = "/api/docs"

// openAPI is X14: the OpenAPI 3.1 document of every route, as JSON, public
// and cacheable (the document is embedded: it changes only with a deploy).
func (h handlers) openAPI(w http.ResponseWriter, r *http.Request) error {
	doc, err := openapi.JSON()
	if err != nil {
		return web.Internal(err)
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Cache-Control", "public, max-age=3600")
	hd.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(doc)
	return err
}

// docs serves the interactive reference page and its assets (Swagger UI,
// bundled into the binary: no CDN at run time).
var docs = apidocs.Handler(DocsPath, "/api/openapi")

func (h handlers) docs(w http.ResponseWriter, r *http.Request) error {
	docs.ServeHTTP(w, r)
	return nil
}
