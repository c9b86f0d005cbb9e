package logs

import "github.com/owlette/server/shared/app"

// RegisterWith registers the routes with a simulated missing-index check.
func RegisterWith(indexMissing func(fields []string) bool) app.Register {
	return func(rt *app.Router) { register(rt, indexMissing) }
}
