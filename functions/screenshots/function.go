// Package screenshots is the "screenshots" Cloud Function: agents upload the
// screen of their machine (api.md §2.6, E18) and admins delete a machine's
// screenshot history (api.md §3, X06).
//
// Storage layout (datamodel.md §1): screenshots/{siteId}/{machineId}/latest.jpg
// and screenshots/{siteId}/{machineId}/history/{ms}.jpg, both public and
// addressed as https://storage.googleapis.com/{bucket}/{path}. Firestore:
// lastScreenshot on the machine doc and the screenshots subcollection, kept
// to the newest MaxHistory documents.
package screenshots

import (
	"time"

	"sync/atomic"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "screenshots"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/agent/screenshot", "/api/admin/screenshots"},
	Timeout: 60 * time.Second,
	Config:  config.Session | config.Storage,
}

const (
	// MaxSizeKB is the largest decoded screenshot accepted, in KB (413 above).
	MaxSizeKB = 10240
	// MaxBody caps the request body: a MaxSizeKB image in base64 (4/3) with
	// line breaks, a data: prefix and the JSON around it fits well below.
	MaxBody = 15 << 20
	// MaxHistory is how many history screenshots a machine keeps.
	MaxHistory = 20
	// Cache-Control of the two objects (datamodel.md §10).
	CacheLatest  = "public, max-age=60"
	CacheHistory = "public, max-age=31536000"
	// PublicBase prefixes every object URL, also under the emulator (the
	// stored URLs must have the production form).
	PublicBase = "https://storage.googleapis.com/"
)

func init() { Spec.Serve() }

// Register adds the group's routes.
func Register(rt *app.Router) {
	h := &handlers{d: rt.D}
	rt.Handle("POST /api/agent/screenshot", guard.Agent, ratelimit.API, h.upload)
	rt.Handle("DELETE /api/admin/screenshots", guard.AdminSite, ratelimit.None, h.remove)
}

type handlers struct {
	d *app.Deps
	// noACL is set once the bucket refused object ACLs (uniform
	// bucket-level access), so later uploads skip them.
	noACL atomic.Bool
}
