package app

import (
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/web"
)

// Router registers a route group's endpoints. Every route names its guard
// and rate-limit class where it is registered.
type Router struct {
	D      *Deps
	mux    *http.ServeMux
	routes []Route
}

// Route is one registered endpoint, as declared to Handle.
type Route struct {
	Pattern string
	Guard   guard.Guard
	Limit   ratelimit.Class
}

// Routes lists the endpoints registered so far, in registration order.
func (rt *Router) Routes() []Route { return append([]Route(nil), rt.routes...) }

// Register adds a route group's endpoints to a router.
type Register func(*Router)

// NewRouter returns an empty router over d.
func NewRouter(d *Deps) *Router { return &Router{D: d, mux: http.NewServeMux()} }

// Handle registers h for pattern ("METHOD /api/path") behind limit and g.
// The handler may only answer successfully once g's check has completed.
func (rt *Router) Handle(pattern string, g guard.Guard, limit ratelimit.Class, h web.HandlerFunc) {
	inner := web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		r, checked, err := guard.Bind(r, rt.D.Guards, g)
		if rec, ok := w.(*web.Recorder); ok {
			rec.BeforeWrite = func(status int) int {
				if status < 400 && !checked() {
					logging.From(r.Context()).Error("authorization check missing: response blocked", "guard", g.String(), "pattern", pattern)
					return http.StatusInternalServerError
				}
				return status
			}
		}
		if err != nil {
			return err
		}
		return h(w, r)
	})
	rt.mux.Handle(pattern, rt.D.Limiter.Middleware(limit, inner))
	rt.routes = append(rt.routes, Route{Pattern: pattern, Guard: g, Limit: limit})
}

// Handler returns the group's http.Handler with the shared middleware.
// Unknown paths and methods get JSON 404/405 answers.
func (rt *Router) Handler() http.Handler {
	return web.Middleware(rt.D.Log, rt.D.Config.ProjectID, http.HandlerFunc(rt.serve))
}

func (rt *Router) serve(w http.ResponseWriter, r *http.Request) {
	if _, pattern := rt.mux.Handler(r); pattern == "" {
		// Let the mux decide between 404 and 405 (and its Allow header),
		// then answer in JSON.
		probe := httptest.NewRecorder()
		rt.mux.ServeHTTP(probe, r)
		if a := probe.Header().Get("Allow"); a != "" {
			w.Header().Set("Allow", a)
		}
		msg := "Not found"
		if probe.Code == http.StatusMethodNotAllowed {
			msg = "Method not allowed"
		}
		_ = web.JSON(w, probe.Code, web.M{"error": msg})
		return
	}
	rt.mux.ServeHTTP(w, r)
}

// Build returns the handler of the given route groups over d.
func Build(d *Deps, groups ...Register) http.Handler {
	rt := NewRouter(d)
	for _, g := range groups {
		g(rt)
	}
	return rt.Handler()
}

// Function adapts a route group to a functions-framework HTTP function. The
// instance's Deps are built on the first request and reused; configuration
// errors were already fatal at cold start on Cloud Run (MustStartOnCloudRun).
func Function(group Register) func(http.ResponseWriter, *http.Request) {
	var (
		once    sync.Once
		h       http.Handler
		initErr error
	)
	return func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			d, err := Default()
			if err != nil {
				initErr = err
				return
			}
			h = Build(d, group)
		})
		if initErr != nil {
			logging.Default().Error("function not configured", "error", initErr.Error())
			_ = web.JSON(w, http.StatusInternalServerError, web.M{"error": "Server is not configured"})
			return
		}
		h.ServeHTTP(w, r)
	}
}
