// Package installers is the "installers" Cloud Function: the agent installer
// releases — latest, versions, and the two-step upload (api.md §2.12,
// E35–E38). All routes are G-ADMIN.
//
// Upload: E37 returns a V4 signed PUT URL (15 minutes) for
// agent-installers/versions/<v>/Owlette-Installer-v<v>.exe in the default
// bucket, and records installer_uploads/{uuid}; the client PUTs the bytes
// straight to Cloud Storage (with the Content-Type it declared, which is
// part of the signature); E38 checks the object, computes its SHA-256 when
// the client did not send one, signs a long-lived download URL and records
// installer_metadata/data/versions/{v} (and installer_metadata/latest).
//
// # Signing
//
// URLs are signed by a Signer (see signer.go), chosen at cold start:
//
//   - STORAGE_SIGNING_KEY_FILE names a PEM RSA private key (PKCS #1 or #8)
//     or a service-account JSON key; STORAGE_SIGNING_ACCOUNT the e-mail the
//     URLs name (default: the key file's client_email, else
//     owlette-local-signer@<project>.iam.gserviceaccount.com).
//   - Else, under STORAGE_EMULATOR_HOST (local, tests): a throw-away RSA key
//     made on first use. fake-gcs-server does not check signatures, and no
//     credential detection (GCE metadata) is ever attempted.
//   - Else (production): the runtime service account signs through the IAM
//     Credentials signBlob API (the storage client's default). Its e-mail is
//     STORAGE_SIGNING_ACCOUNT, or found by the client from the metadata
//     server. The account needs roles/iam.serviceAccountTokenCreator on
//     itself (iam.serviceAccounts.signBlob).
//
// The download URL, as in the original, is V2-signed and expires on
// 2030-01-01 (V4 cannot exceed 7 days). It is a signed URL rather than the
// object's public URL because installer objects are not public. Under the
// emulator both URLs point at fake-gcs-server with http
// (http://127.0.0.1:N/<bucket>/<object>?X-Goog-…): fake-gcs accepts a PUT
// of the bytes to the path-style V4 URL and a GET of the V2 URL, without
// checking signatures, provided it runs with -public-host set to the
// emulator's host (127.0.0.1:N, or 127.0.0.1), as scripts/stack starts it.
// With its default public host (storage.googleapis.com) it reads
// "127.0.0.1:N" as a bucket name and answers the PUT with 404.
//
// In production a browser that PUTs to the upload URL needs a CORS rule on
// the bucket (method PUT, header Content-Type), as for the original.
package installers

import (
	"time"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/config"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

// Name is the function's entry point and service name (its Spec in functions/registry).
const Name = "installers"

// Spec is the function's deployment (functions/registry).
var Spec = fn.Spec{
	Name: Name, Kind: fn.HTTP, Register: Register,
	Paths:   []string{"/api/admin/installer/**"},
	Timeout: 60 * time.Second,
	Config:  config.Session | config.Storage,
}

const (
	// UploadURLTTL is the lifetime of the signed upload URL and of the
	// upload record (api.md E37).
	UploadURLTTL = 15 * time.Minute
	// DefaultContentType is the upload's Content-Type unless the client
	// names one.
	DefaultContentType = "application/octet-stream"
	// MaxReleaseNotes bounds the release notes (characters); the original
	// had no bound, ours keeps the documents within Firestore's limits.
	MaxReleaseNotes = 50_000
	// DefaultLimit and MaxLimit bound the versions list (api.md E36).
	DefaultLimit = 20
	MaxLimit     = 100
)

// DownloadURLExpiry is when the signed download URLs expire (api.md E38).
var DownloadURLExpiry = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Collections and documents (datamodel.md §2.19, §2.20).
const (
	UploadsCollection = "installer_uploads"
	LatestDoc         = "installer_metadata/latest"
	VersionsPath      = "installer_metadata/data/versions"
)

// ObjectPath is the storage object of an installer version (api.md E37).
func ObjectPath(version string) string {
	return "agent-installers/versions/" + version + "/Owlette-Installer-v" + version + ".exe"
}

func init() { Spec.Serve() }

// Options configures the group; the zero value is the production setup.
type Options struct {
	// Signer signs the storage URLs; nil chooses one from the environment
	// (see the package documentation).
	Signer *Signer
}

// Register adds the group's routes.
func Register(rt *app.Router) { RegisterWith(Options{})(rt) }

// RegisterWith returns the group's registration with options (tests inject
// their signer here).
func RegisterWith(o Options) app.Register {
	return func(rt *app.Router) {
		h := &handlers{d: rt.D, signer: newSignerSource(o.Signer, rt.D)}
		rt.Handle("GET /api/admin/installer/latest", guard.Admin, ratelimit.API, h.latest)
		rt.Handle("GET /api/admin/installer/versions", guard.Admin, ratelimit.API, h.versions)
		rt.Handle("POST /api/admin/installer/upload", guard.Admin, ratelimit.Upload, h.initiate)
		rt.Handle("PUT /api/admin/installer/upload", guard.Admin, ratelimit.Upload, h.finalize)
	}
}

type handlers struct {
	d      *app.Deps
	signer *signerSource
}
