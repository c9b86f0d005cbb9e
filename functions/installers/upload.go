package installers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/storage"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

var versionPattern = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

// Documented errors of E37/E38.
var (
	ErrVersion        = web.BadRequest("Invalid version format: expected X.Y.Z (e.g. 2.5.0)")
	ErrFileName       = web.BadRequest("fileName must end with .exe")
	ErrUploadNotFound = web.NotFound("Upload not found")
	ErrUploadExpired  = web.Errorf(http.StatusGone, "Upload expired: request a new upload URL")
	ErrObjectMissing  = web.NotFound("Uploaded file not found in storage: PUT the installer to uploadUrl before finalizing")
)

type initiateRequest struct {
	Version      string `json:"version"`
	FileName     string `json:"fileName"`
	ContentType  string `json:"contentType"`
	ReleaseNotes string `json:"releaseNotes" max:"200000"` // MaxReleaseNotes characters of up to 4 bytes
	// SetAsLatest is true unless it is the literal false.
	SetAsLatest any `json:"setAsLatest"`
}

func (q initiateRequest) Validate() error {
	if err := web.Required("version", q.Version); err != nil {
		return err
	}
	if err := web.Required("fileName", q.FileName); err != nil {
		return err
	}
	if !versionPattern.MatchString(q.Version) || len(q.Version) > 64 {
		return ErrVersion
	}
	if !strings.HasSuffix(strings.ToLower(q.FileName), ".exe") {
		return ErrFileName
	}
	// The content type is signed into the URL and sent back as a header.
	if len(q.ContentType) > 200 || strings.ContainsFunc(q.ContentType, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return web.BadRequest("contentType must be a printable ASCII media type")
	}
	if utf8.RuneCountInString(q.ReleaseNotes) > MaxReleaseNotes {
		return web.Errorf(http.StatusBadRequest, "releaseNotes must be at most %d characters", MaxReleaseNotes)
	}
	return nil
}

// initiate is E37. Order: guard (router) → body → validation → URL →
// upload record.
func (h *handlers) initiate(w http.ResponseWriter, r *http.Request) error {
	p := guard.Caller(r)
	var req initiateRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	contentType := req.ContentType
	if contentType == "" {
		contentType = DefaultContentType
	}
	ctx := r.Context()
	path := ObjectPath(req.Version)
	now := h.d.Now()
	expiresAt := now.Add(UploadURLTTL)
	uploadURL, err := h.signURL(ctx, path, storage.SignedURLOptions{
		Scheme:      storage.SigningSchemeV4,
		Method:      http.MethodPut,
		ContentType: contentType,
		// Cloud Storage measures the URL against its own clock (so does
		// the library when it signs): real time, not the injected one.
		Expires: time.Now().Add(UploadURLTTL),
	})
	if err != nil {
		return web.Internal(err)
	}
	var notes any
	if req.ReleaseNotes != "" {
		notes = req.ReleaseNotes
	}
	uploadID := uuid.NewString()
	_, err = h.d.Firestore.Collection(UploadsCollection).Doc(uploadID).Create(ctx, map[string]any{
		"version":      req.Version,
		"fileName":     req.FileName,
		"storagePath":  path,
		"userId":       p.UID,
		"releaseNotes": notes,
		"setAsLatest":  req.SetAsLatest != false,
		"status":       "pending",
		"createdAt":    firestore.ServerTimestamp,
		"expiresAt":    expiresAt,
	})
	if err != nil {
		return web.Internal(err)
	}
	// signedUrl is the published reference's name for uploadUrl (api.md
	// §4 row 27): both are sent (DECISIONS §1).
	return web.OK(w, web.M{
		"success":     true,
		"uploadUrl":   uploadURL,
		"signedUrl":   uploadURL,
		"uploadId":    uploadID,
		"storagePath": path,
		"expiresAt":   store.ISO(expiresAt),
	})
}

type finalizeRequest struct {
	UploadID string `json:"uploadId"`
	// Checksum is the client's SHA-256 hex; not validated (api.md E38).
	Checksum string `json:"checksum_sha256"`
}

func (q finalizeRequest) Validate() error { return web.Required("uploadId", q.UploadID) }

// finalize is E38. Order: guard (router) → body → upload record (404) →
// status (409) → expiry (410, recorded) → object (404) → size and
// checksum → download URL → writes.
//
// The writes (version, latest, upload record) are one commit, conditional
// on the upload record being unchanged since it was read: of two
// concurrent finalizations one wins and the other gets the 409.
func (h *handlers) finalize(w http.ResponseWriter, r *http.Request) error {
	p := guard.Caller(r)
	var req finalizeRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if !store.ValidID(req.UploadID) {
		return ErrUploadNotFound
	}
	ctx := r.Context()
	fs := h.d.Firestore
	ref := fs.Collection(UploadsCollection).Doc(req.UploadID)
	snap, err := ref.Get(ctx)
	if store.NotFound(err) {
		return ErrUploadNotFound
	}
	if err != nil {
		return web.Internal(err)
	}
	up := snap.Data()
	if st, _ := up["status"].(string); st != "pending" {
		return web.Conflict(fmt.Sprintf("Upload already %s", st))
	}
	now := h.d.Now()
	// Only this function writes the record; one without a readable expiry
	// is treated as expired.
	if exp, ok := store.Millis(up["expiresAt"]); !ok || now.UnixMilli() > exp {
		_, err := ref.Update(ctx, []firestore.Update{{Path: "status", Value: "expired"}}, firestore.LastUpdateTime(snap.UpdateTime))
		if err != nil && status.Code(err) != codes.FailedPrecondition {
			return web.Internal(err)
		}
		return ErrUploadExpired
	}
	version, _ := up["version"].(string)
	path, _ := up["storagePath"].(string)
	if version == "" || path == "" {
		return web.Internal(errors.New("upload record without version or storagePath"))
	}
	gcs, err := h.d.Storage(ctx)
	if err != nil {
		return web.Internal(fmt.Errorf("storage client: %w", err))
	}
	obj := gcs.Bucket(h.d.Config.StorageBucket).Object(path)
	attrs, err := obj.Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return ErrObjectMissing
	}
	if err != nil {
		return web.Internal(fmt.Errorf("object attributes: %w", err))
	}
	size := attrs.Size
	checksum := req.Checksum
	if checksum == "" {
		// Pin the generation that was measured, so size and checksum
		// describe the same bytes even if the object is replaced meanwhile.
		rd, err := obj.Generation(attrs.Generation).NewReader(ctx)
		if err != nil {
			return web.Internal(fmt.Errorf("read object: %w", err))
		}
		sum := sha256.New()
		_, err = io.Copy(sum, rd)
		rd.Close()
		if err != nil {
			return web.Internal(fmt.Errorf("read object: %w", err))
		}
		checksum = hex.EncodeToString(sum.Sum(nil))
	}
	expiry := DownloadURLExpiry
	if expiry.Before(now.AddDate(1, 0, 0)) {
		// Only once 2029 is here: keep download links useful for years.
		expiry = now.AddDate(10, 0, 0)
	}
	downloadURL, err := h.signURL(ctx, path, storage.SignedURLOptions{
		Scheme: storage.SigningSchemeV2, Method: http.MethodGet, Expires: expiry,
	})
	if err != nil {
		return web.Internal(err)
	}
	notes := up["releaseNotes"]
	if !store.Truthy(notes) {
		notes = nil
	}
	meta := map[string]any{
		"version":         version,
		"download_url":    downloadURL,
		"checksum_sha256": checksum,
		"release_notes":   notes,
		"file_size":       size,
		"uploaded_at":     now.UnixMilli(),
		"uploaded_by":     p.UID,
	}
	b := fs.Batch()
	b.Set(fs.Collection(VersionsPath).Doc(version), meta)
	if up["setAsLatest"] != false {
		latest := make(map[string]any, len(meta)+1)
		for k, v := range meta {
			latest[k] = v
		}
		latest["release_date"] = store.ISO(now)
		b.Set(fs.Doc(LatestDoc), latest)
	}
	b.Update(ref, []firestore.Update{
		{Path: "status", Value: "completed"},
		{Path: "completedAt", Value: now.UnixMilli()},
		{Path: "file_size", Value: size},
	}, firestore.LastUpdateTime(snap.UpdateTime))
	if _, err := b.Commit(ctx); err != nil {
		if status.Code(err) == codes.FailedPrecondition {
			return web.Conflict("Upload already finalized")
		}
		return web.Internal(err)
	}
	return web.OK(w, web.M{
		"success":         true,
		"version":         version,
		"download_url":    downloadURL,
		"checksum_sha256": checksum,
		"file_size":       size,
	})
}
