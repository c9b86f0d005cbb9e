package main

import (
	"net/http"

	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/web"
)

// NewRouter dispatches each request to its function's handler, chosen by
// the Hosting rewrite table (every HTTP function of functions/registry).
// Each function gets its own router, as each is its own service in
// production.
func NewRouter(d *app.Deps) http.Handler {
	handlers := map[string]http.Handler{}
	for _, s := range registry.Of(fn.HTTP) {
		handlers[s.Name] = app.Build(d, s.Register)
	}
	notFound := web.Middleware(d.Log, d.WebOptions(), web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return web.NotFound("Not found")
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := registry.Lookup(r.URL.Path)
		if !ok {
			notFound.ServeHTTP(w, r)
			return
		}
		handlers[s.Name].ServeHTTP(w, r)
	})
}
