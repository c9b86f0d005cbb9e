// Package llmsettings is the "llmsettings" Cloud Function: the LLM provider
// keys cortex uses, per user and per site, and the provider model lists of
// the settings page (api.md §2.21, E57–E62, X12, X13). Keys are stored
// sealed (shared/llmconfig, api.md §1.9) and never returned.
//
//   - E57–E59 /api/settings/llm-key: the caller's own key (session only).
//   - E60–E62 /api/settings/site-llm-key: a site's key (admins, by session,
//     API key or ID token), used by site-wide and autonomous cortex.
//   - X12 GET /api/settings/llm-models: the models the caller's stored key
//     can use; X13 POST the same for a key in the body, stored nowhere.
//
// Provider answers are mapped so the user learns what happened and a bad
// key is never a server error: the provider refusing the key (its 400, 401
// or 403) is 400 "The provider refused the key: …"; any other provider
// failure is 502 with the provider's message; no answer in time is 504.
package llmsettings

import (
	"net/http"
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "llmsettings"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/settings/**"},
	Timeout: 60 * time.Second,
	Config:  config.Session | config.LLM,
}

// Field limits (the request types' max tags repeat them; a test keeps them
// equal). Provider keys are about 100–200 ASCII characters: 512 bytes
// leaves room without letting the field carry anything else.
const (
	MaxAPIKeyBytes = 512
	MaxModelBytes  = 200
)

// ProviderTimeout bounds one model-list call to a provider, well inside the
// route's deadline so a hanging provider is answered 504 with a clear
// message.
const ProviderTimeout = 20 * time.Second

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	// One client per instance: provider connections are reused across
	// requests.
	h := handlers{d: rt.D, client: &http.Client{Timeout: ProviderTimeout}}
	rt.Handle("POST /api/settings/llm-key", guard.Session, ratelimit.Auth, h.setUserKey)
	rt.Handle("GET /api/settings/llm-key", guard.Session, ratelimit.Auth, h.userKeyStatus)
	rt.Handle("DELETE /api/settings/llm-key", guard.Session, ratelimit.Auth, h.deleteUserKey)
	rt.Handle("POST /api/settings/site-llm-key", guard.Admin, ratelimit.API, h.setSiteKey)
	rt.Handle("GET /api/settings/site-llm-key", guard.Admin, ratelimit.API, h.siteKeyStatus)
	rt.Handle("DELETE /api/settings/site-llm-key", guard.Admin, ratelimit.API, h.deleteSiteKey)
	rt.Handle("GET /api/settings/llm-models", guard.Session, ratelimit.Auth, h.storedKeyModels)
	rt.Handle("POST /api/settings/llm-models", guard.Session, ratelimit.Auth, h.suppliedKeyModels)
}

type handlers struct {
	d      *app.Deps
	client *http.Client
}
