package deployments

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// Messages of the documented 400s of E31.
var (
	ErrMachineIDs = web.BadRequest("machineIds must be a non-empty array of machine ids")
	ErrBadURL     = web.BadRequest("installer_url must be a valid URL")
	ErrNotHTTPS   = web.BadRequest("installer_url must use HTTPS protocol")
)

type createRequest struct {
	SiteID        string   `json:"siteId"`
	Name          string   `json:"name"`
	InstallerName string   `json:"installer_name"`
	InstallerURL  string   `json:"installer_url"`
	SilentFlags   string   `json:"silent_flags"`
	MachineIDs    []string `json:"machineIds"`
	VerifyPath    string   `json:"verify_path"`
	// ParallelInstall is stored as true when truthy (any JSON type).
	ParallelInstall any `json:"parallel_install"`
}

// Validate is E31's body check: required fields (truthy strings; an empty
// silent_flags is refused too), machineIds, then the URL.
func (q *createRequest) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"siteId", q.SiteID}, {"name", q.Name}, {"installer_name", q.InstallerName},
		{"installer_url", q.InstallerURL}, {"silent_flags", q.SilentFlags},
	} {
		if f.v == "" {
			return web.Errorf(http.StatusBadRequest, "Missing required field: %s", f.name)
		}
	}
	if len(q.MachineIDs) == 0 {
		return ErrMachineIDs
	}
	if len(q.MachineIDs) > MaxTargets {
		return web.Errorf(http.StatusBadRequest, "machineIds may name at most %d machines", MaxTargets)
	}
	// The original validated no element (a non-string one failed with a
	// 500 after the deployment was written). Each id names a document.
	// Repeated ids are dropped: a machine is one target.
	seen := make(map[string]bool, len(q.MachineIDs))
	ids := q.MachineIDs[:0]
	for _, m := range q.MachineIDs {
		if !store.ValidID(m) {
			return web.Errorf(http.StatusBadRequest, "machineIds contains an invalid machine id: %q", truncate(m, 100))
		}
		if !seen[m] {
			seen[m] = true
			ids = append(ids, m)
		}
	}
	q.MachineIDs = ids
	return CheckInstallerURL(q.InstallerURL)
}

// CheckInstallerURL accepts absolute https URLs only (api.md E31): any
// other scheme (http, ftp, file, javascript, data, …) is refused with the
// documented "must use HTTPS protocol", text that is no absolute URL with
// "must be a valid URL". An https URL must name a host (WHATWG would read
// "https:host" as https://host/; the agent would not).
func CheckInstallerURL(raw string) error {
	s := strings.Trim(raw, " \t\n\r\f\v\x00")
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return ErrBadURL
	}
	if u.Scheme != "https" {
		return ErrNotHTTPS
	}
	if u.Host == "" || u.Hostname() == "" {
		return ErrBadURL
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// DeploymentID is the id of a deployment created at ms (api.md E31).
func DeploymentID(ms int64) string { return "deploy-" + strconv.FormatInt(ms, 10) }

// InstallCommandID is the pending-command id of a deployment's install
// command for one machine (api.md §1.12).
func InstallCommandID(deploymentID, machineID string, ms int64) string {
	return fmt.Sprintf("install_%s_%s_%d", underscore(deploymentID), underscore(machineID), ms)
}

// CancelCommandID is the pending-command id of a cancel (api.md §1.12).
func CancelCommandID(machineID string, ms int64) string {
	return fmt.Sprintf("cancel_%d_%s", ms, underscore(machineID))
}

func underscore(s string) string { return strings.ReplaceAll(s, "-", "_") }

// create is E31. Order: body → URL → guard → writes.
//
// The deployment document and every target's install_software command are
// written in one commit (chunked only past maxWritesPerCommit targets), so
// an agent never sees a command whose deployment does not exist, and a
// create that fails leaves nothing behind. The original wrote the document
// as "pending", then the commands, then "in_progress"; the single commit
// writes the final state directly.
//
// Ids: deploy-<ms> as in the original, but created only if absent; when
// another create took that millisecond the next one is tried (DECISIONS §2,
// 5.16).
func (h *handlers) create(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	if _, err := guard.Site(r, req.SiteID); err != nil {
		return err
	}
	ctx := r.Context()
	ms := h.nextMs(h.d.Now().UnixMilli())

	targets := make([]any, len(req.MachineIDs))
	for i, m := range req.MachineIDs {
		targets[i] = map[string]any{"machineId": m, "status": StatusPending}
	}
	chunked := 1+len(req.MachineIDs) > maxWritesPerCommit
	doc := map[string]any{
		"name":           req.Name,
		"installer_name": req.InstallerName,
		"installer_url":  req.InstallerURL,
		"silent_flags":   req.SilentFlags,
		"targets":        targets,
		"createdAt":      firestore.ServerTimestamp,
		"status":         StatusInProgress,
	}
	if chunked {
		doc["status"] = StatusPending // until every command is queued
	}
	if req.VerifyPath != "" {
		doc["verify_path"] = req.VerifyPath
	}
	parallel := store.Truthy(req.ParallelInstall)
	if parallel {
		doc["parallel_install"] = true
	}
	command := func(depID string) map[string]any {
		c := map[string]any{
			"type":           TypeInstall,
			"installer_url":  req.InstallerURL,
			"installer_name": req.InstallerName,
			"silent_flags":   req.SilentFlags,
			"deployment_id":  depID,
			"timestamp":      firestore.ServerTimestamp,
			"status":         StatusPending,
		}
		if req.VerifyPath != "" {
			c["verify_path"] = req.VerifyPath
		}
		if parallel {
			c["parallel_install"] = true
		}
		return c
	}
	// queue adds the install commands of machines to b.
	queue := func(b *firestore.WriteBatch, depID string, machines []string) {
		for _, m := range machines {
			id := InstallCommandID(depID, m, ms)
			// One literal field (single-segment path: machine ids may
			// contain dots) merged into the pending document, which is
			// created if missing — nothing checks the machine exists.
			b.Set(h.pendingRef(req.SiteID, m), map[string]any{id: command(depID)}, firestore.Merge([]string{id}))
		}
	}

	first := req.MachineIDs[:min(len(req.MachineIDs), maxWritesPerCommit-1)]
	rest := req.MachineIDs[len(first):]
	var depID string
	for attempt := 0; ; attempt++ {
		if attempt == maxIDAttempts {
			return web.Unavailable("Could not allocate a deployment id, please retry", fmt.Errorf("%d deploy ids taken from %d", maxIDAttempts, ms))
		}
		if attempt > 0 {
			// Taken by another instance: move on, and remember it.
			ms = h.nextMs(ms + 1)
		}
		id := DeploymentID(ms)
		b := h.d.Firestore.Batch()
		b.Create(h.deployments(req.SiteID).Doc(id), doc)
		queue(b, id, first)
		_, err := b.Commit(ctx)
		if store.AlreadyExists(err) {
			continue
		}
		if err != nil {
			return web.Internal(err)
		}
		depID = id
		break
	}
	for len(rest) > 0 {
		n := min(len(rest), maxWritesPerCommit-1)
		b := h.d.Firestore.Batch()
		queue(b, depID, rest[:n])
		rest = rest[n:]
		if len(rest) == 0 {
			b.Update(h.deployments(req.SiteID).Doc(depID), []firestore.Update{{Path: "status", Value: StatusInProgress}})
		}
		if _, err := b.Commit(ctx); err != nil {
			// The deployment stays "pending"; the sweeper fails its
			// unqueued targets after 15 minutes (datamodel.md §7.2).
			logging.From(ctx).Error("deployment partly queued", "deploymentId", depID, "error", err.Error())
			return web.Internal(err)
		}
	}
	return web.OK(w, web.M{"success": true, "deploymentId": depID})
}

// nextMs is now, or one past the last id this instance allocated when that
// is later (several creates in one millisecond, or a clock that stepped
// back): ids keep the deploy-<ms> format and stay unique per instance;
// other instances' ids are handled by create-if-absent.
func (h *handlers) nextMs(now int64) int64 {
	for {
		last := h.lastMs.Load()
		ms := max(now, last+1)
		if h.lastMs.CompareAndSwap(last, ms) {
			return ms
		}
	}
}
