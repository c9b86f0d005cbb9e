package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

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
	Pattern  string
	Guard    guard.Guard
	Limit    ratelimit.Class
	Deadline time.Duration
}

// Routes lists the endpoints registered so far, in registration order.
func (rt *Router) Routes() []Route { return append([]Route(nil), rt.routes...) }

// Register adds a route group's endpoints to a router.
type Register func(*Router)

// NewRouter returns an empty router over d.
func NewRouter(d *Deps) *Router { return &Router{D: d, mux: http.NewServeMux()} }

// Option adjusts one route.
type Option func(*routeOptions)

type routeOptions struct {
	deadline      time.Duration
	addressFactor int
}

// WithDeadline sets the route's request deadline (web.DefaultDeadline
// otherwise): for routes that wait for an agent or stream.
func WithDeadline(d time.Duration) Option { return func(o *routeOptions) { o.deadline = d } }

// AddressCeiling multiplies the per-address budget kept in memory, for
// routes whose handler charges the real limit per token or machine
// (ratelimit.Gate.ChargeKey); the address then counts failed requests only,
// so that many agents behind one address work.
func AddressCeiling(factor int) Option { return func(o *routeOptions) { o.addressFactor = factor } }

// Gate returns the rate-limit gate of the request's route (nil when the
// route has no limit), for handlers that charge a budget themselves.
func Gate(r *http.Request) *ratelimit.Gate {
	g, _ := r.Context().Value(gateKey{}).(*ratelimit.Gate)
	return g
}

type gateKey struct{}

// Handle registers h for pattern ("METHOD /api/path") behind limit and g.
// Every request passes, in order: the route's deadline (every Firestore
// call carries it; no request goes unanswered), the client address's budget
// in memory, the check of its URL (ids and query values Firestore could not
// take), the guard (whose authenticated callers are charged the shared
// budget), then h. h may only answer successfully once g's check has
// completed.
func (rt *Router) Handle(pattern string, g guard.Guard, limit ratelimit.Class, h web.HandlerFunc, opts ...Option) {
	o := routeOptions{deadline: web.DefaultDeadline, addressFactor: 1}
	for _, opt := range opts {
		opt(&o)
	}
	gate := rt.D.Limiter.Gate(limit, o.addressFactor)
	wildcards := web.Wildcards(pattern)
	inner := web.Handle(func(w http.ResponseWriter, r *http.Request) error {
		ip := web.ClientIP(r)
		if err := gate.Enter(w, ip); err != nil {
			return err
		}
		if err := web.CheckInput(r, wildcards); err != nil {
			return err
		}
		var authenticated atomic.Bool
		charge := func(p *guard.Principal) error {
			authenticated.Store(true)
			return gate.Charge(r.Context(), w, ip, p.UID)
		}
		r = r.WithContext(context.WithValue(r.Context(), gateKey{}, gate))
		r, checked, err := guard.Bind(r, rt.D.Guards, g, charge)
		if rec, ok := w.(*web.Recorder); ok {
			rec.BeforeWrite = func(status int) int {
				if status < 400 && !checked() {
					logging.From(r.Context()).Error("authorization check missing: response blocked", "guard", g.String(), "pattern", pattern)
					return http.StatusInternalServerError
				}
				if status >= 400 && status < 500 && status != http.StatusTooManyRequests {
					gate.Failed(r.Context(), ip, authenticated.Load())
				}
				return status
			}
		}
		if err != nil {
			return err
		}
		return h(w, r)
	})
	rt.mux.Handle(pattern, web.Deadline(o.deadline, inner))
	rt.routes = append(rt.routes, Route{Pattern: pattern, Guard: g, Limit: limit, Deadline: o.deadline})
}

// Handler returns the group's http.Handler with the shared middleware.
// Unknown paths and methods get JSON 404/405 answers.
func (rt *Router) Handler() http.Handler {
	return web.Middleware(rt.D.Log, rt.D.WebOptions(), http.HandlerFunc(rt.serve))
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
