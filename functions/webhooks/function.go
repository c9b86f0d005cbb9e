// Package webhooks is the "webhooks" Cloud Function: a site's outbound
// webhooks — list, create, delete (E44–E46) — and the synchronous test
// delivery (E47) (api.md §1.13, §2.17). Event deliveries themselves are not
// here: producers queue them (shared/notify) and a trigger sends them.
package webhooks

import (
	"time"

	"net/http"
	"sync"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
	"github.com/owlette/server/shared/webhook"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "webhooks"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/webhooks", "/api/webhooks/test"},
	Timeout: 60 * time.Second,
	Config:  config.Session | config.Webhooks,
}

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := &handlers{d: rt.D}
	rt.Handle("GET /api/admin/webhooks", guard.AdminSite, ratelimit.None, h.list)
	rt.Handle("POST /api/admin/webhooks", guard.AdminSite, ratelimit.None, h.create)
	rt.Handle("DELETE /api/admin/webhooks", guard.AdminSite, ratelimit.None, h.delete)
	rt.Handle("POST /api/webhooks/test", guard.Admin, ratelimit.None, h.test)
}

type handlers struct {
	d *app.Deps

	clientOnce sync.Once
	testClient *http.Client
}

// policy is the SSRF policy of the configuration: public targets only,
// loopback too when local development allows it.
func (h *handlers) policy() webhook.Policy {
	return webhook.Policy{AllowLoopback: h.d.Config.WebhookAllowLoopback}
}

// client is the E47 delivery client, made on first use (it pools
// connections, so one per instance) from the configuration as it is then.
func (h *handlers) client() *http.Client {
	h.clientOnce.Do(func() { h.testClient = webhook.NewClient(h.policy(), webhook.TestTimeout) })
	return h.testClient
}

// hooks is sites/{siteId}/webhooks.
func (h *handlers) hooks(siteID string) *firestore.CollectionRef {
	return h.d.Firestore.Collection("sites").Doc(siteID).Collection("webhooks")
}
