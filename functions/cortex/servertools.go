package cortex

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/tools"
)

// Server-side tools of chat (api.md §2.20 "Execution routing").
const (
	logsDefaultLimit = 50
	logsMaxLimit     = 200
	// logsMaxScan bounds the documents read when a filter combination has
	// no index and is applied in memory.
	logsMaxScan = 1000
	// deployDefaultMinutes is deploy_software's default timeout (40 min).
	deployDefaultMinutes = 40
	// maxDeployTargets keeps a deployment and its commands in one commit.
	maxDeployTargets = 499
	maxPresets       = 200
)

// serverTool runs get_site_logs, get_system_presets or deploy_software.
// Answers the model should see (bad input included) are outputs; err is for
// failures of the server itself.
func (h *handlers) serverTool(ctx context.Context, t target, tool tools.Tool, in map[string]any) (any, error) {
	switch tool.Name {
	case "get_site_logs":
		return h.siteLogs(ctx, t.siteID, in)
	case "get_system_presets":
		presets, err := h.presets(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]map[string]any, 0, len(presets))
		for _, p := range presets {
			out = append(out, p.view())
		}
		return map[string]any{"presets": out, "count": len(out)}, nil
	case "deploy_software":
		return h.deploy(ctx, t, in)
	}
	return nil, fmt.Errorf("tool %s does not run on the server", tool.Name)
}

// siteLogs is get_site_logs: the site's event log, newest first, with the
// optional equality filters action, level (warn and warning match each
// other, as the agent writes "warning") and machineId; limit default 50,
// at most 200. A filter combination without an index is applied in memory
// over the newest logsMaxScan entries.
func (h *handlers) siteLogs(ctx context.Context, siteID string, in map[string]any) (any, error) {
	limit := logsDefaultLimit
	if n, ok := in["limit"].(int64); ok && n > 0 {
		limit = int(min(n, logsMaxLimit))
	} else if f, ok := in["limit"].(float64); ok && f >= 1 {
		limit = int(min(f, logsMaxLimit))
	}
	type filter struct {
		field  string
		values []string
	}
	var filters []filter
	for _, f := range []string{"action", "level", "machineId"} {
		v, _ := in[f].(string)
		if v == "" || len(v) > 1500 {
			continue
		}
		vals := []string{v}
		if f == "level" && (v == "warn" || v == "warning") {
			vals = []string{"warning", "warn"}
		}
		filters = append(filters, filter{f, vals})
	}
	col := h.d.Firestore.Collection("sites").Doc(siteID).Collection("logs")
	q := col.Query
	for _, f := range filters {
		if len(f.values) == 1 {
			q = q.Where(f.field, "==", f.values[0])
		} else {
			q = q.Where(f.field, "in", f.values)
		}
	}
	snaps, err := q.OrderBy("timestamp", firestore.Desc).Limit(limit).Documents(ctx).GetAll()
	if status.Code(err) == codes.FailedPrecondition {
		// No index for this combination: filter the newest entries here.
		all, err2 := col.OrderBy("timestamp", firestore.Desc).Limit(logsMaxScan).Documents(ctx).GetAll()
		if err2 != nil {
			return nil, err2
		}
		snaps, err = nil, nil
		for _, s := range all {
			ok := true
			for _, f := range filters {
				v, _ := s.Data()[f.field].(string)
				if !contains(f.values, v) {
					ok = false
					break
				}
			}
			if ok {
				if snaps = append(snaps, s); len(snaps) == limit {
					break
				}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	logs := make([]map[string]any, 0, len(snaps))
	for _, s := range snaps {
		d := s.Data()
		e := map[string]any{"id": s.Ref.ID, "timestamp": nil}
		if ms, ok := store.Millis(d["timestamp"]); ok {
			e["timestamp"] = store.ISO(time.UnixMilli(ms))
		}
		for _, f := range []string{"action", "level", "machineId", "processName", "details"} {
			if v, ok := d[f]; ok {
				e[f] = v
			}
		}
		logs = append(logs, e)
	}
	return map[string]any{"logs": logs, "count": len(logs)}, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// preset is a system_presets document (datamodel.md §2.20).
type preset struct {
	ID              string
	Name            string `firestore:"name"`
	SoftwareName    string `firestore:"software_name"`
	Category        string `firestore:"category"`
	Description     string `firestore:"description"`
	InstallerName   string `firestore:"installer_name"`
	InstallerURL    string `firestore:"installer_url"`
	SilentFlags     string `firestore:"silent_flags"`
	VerifyPath      string `firestore:"verify_path"`
	CloseProcesses  []any  `firestore:"close_processes"`
	ParallelInstall bool   `firestore:"parallel_install"`
	TimeoutSeconds  any    `firestore:"timeout_seconds"`
	Order           any    `firestore:"order"`
	IsOwletteAgent  bool   `firestore:"is_owlette_agent"`
}

func (p preset) view() map[string]any {
	return map[string]any{
		"id": p.ID, "name": p.Name, "software_name": p.SoftwareName, "category": p.Category,
		"description": p.Description, "installer_name": p.InstallerName, "installer_url": p.InstallerURL,
		"silent_flags": p.SilentFlags, "verify_path": p.VerifyPath,
	}
}

// presets reads the system presets in their display order.
func (h *handlers) presets(ctx context.Context) ([]preset, error) {
	snaps, err := h.d.Firestore.Collection("system_presets").Limit(maxPresets).Documents(ctx).GetAll()
	if err != nil {
		return nil, err
	}
	out := make([]preset, 0, len(snaps))
	for _, s := range snaps {
		var p preset
		if err := s.DataTo(&p); err != nil {
			// A hand-edited field of the wrong type: keep what reads.
			d := s.Data()
			p.Name, _ = d["name"].(string)
			p.SoftwareName, _ = d["software_name"].(string)
			p.InstallerURL, _ = d["installer_url"].(string)
			p.InstallerName, _ = d["installer_name"].(string)
			p.SilentFlags, _ = d["silent_flags"].(string)
		}
		p.ID = s.Ref.ID
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return order(out[i].Order) < order(out[j].Order) })
	return out, nil
}

func order(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 1e18
}

// deploy is deploy_software, mirroring E31 (api.md §2.20): a deployment
// deploy-<ms> with source "cortex" and createdAt in ms, and one
// install_software command per target (timestamp ms, timeout_seconds =
// timeout_minutes·60, default 40 min), written in one commit. The installer
// comes from the input or from the system preset whose software_name or
// name matches; its URL must be https. A TouchDesigner build URL
// (TouchDesigner.<year>.<build>.exe) installs into a folder of its own
// build: /DIR= is set to …\TouchDesigner.<year>.<build> and the agent
// verifies …\bin\TouchDesigner.exe there, so builds install side by side.
func (h *handlers) deploy(ctx context.Context, t target, in map[string]any) (any, error) {
	refuse := func(msg string) (any, error) { return map[string]any{"success": false, "error": msg}, nil }
	name, _ := in["software_name"].(string)
	name = strings.TrimSpace(name)
	presets, err := h.presets(ctx)
	if err != nil {
		return nil, err
	}
	var p preset
	for _, x := range presets {
		if strings.EqualFold(x.SoftwareName, name) || strings.EqualFold(x.Name, name) {
			p = x
			break
		}
	}
	installerURL, _ := in["installer_url"].(string)
	if installerURL = strings.TrimSpace(installerURL); installerURL == "" {
		installerURL = p.InstallerURL
	}
	if installerURL == "" {
		return refuse(fmt.Sprintf("No installer URL for %q: give installer_url, or use the name of a system preset (get_system_presets).", name))
	}
	u, err := url.Parse(installerURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return refuse("installer_url must be an https URL")
	}
	flags, _ := in["silent_flags"].(string)
	if flags == "" {
		flags = p.SilentFlags
	}
	installerName := p.InstallerName
	if base := path.Base(u.Path); p.InstallerURL != installerURL && base != "." && base != "/" {
		installerName = base // an installer of the model's choosing names itself
	}
	if installerName == "" {
		installerName = "installer.exe"
	}
	verify := p.VerifyPath
	if build := tdBuild.FindStringSubmatch(path.Base(u.Path)); build != nil {
		installerName = path.Base(u.Path)
		flags, verify = touchDesignerDir(flags, build[1])
	}
	minutes := float64(deployDefaultMinutes)
	switch v := in["timeout_minutes"].(type) {
	case int64:
		if v > 0 {
			minutes = float64(v)
		}
	case float64:
		if v > 0 {
			minutes = v
		}
	}
	timeoutSeconds := int64(minutes * 60)
	if len(t.machines) > maxDeployTargets {
		return refuse(fmt.Sprintf("A deployment can target at most %d machines", maxDeployTargets))
	}

	ms := h.nextMs()
	targets := make([]any, len(t.machines))
	for i, m := range t.machines {
		targets[i] = map[string]any{"machineId": m, "status": "pending"}
	}
	doc := map[string]any{
		"name": name, "installer_name": installerName, "installer_url": installerURL, "silent_flags": flags,
		"targets": targets, "createdAt": ms, "status": "in_progress", "source": "cortex",
		"timeout_seconds": timeoutSeconds,
	}
	if verify != "" {
		doc["verify_path"] = verify
	}
	fs := h.d.Firestore
	deployments := fs.Collection("sites").Doc(t.siteID).Collection("deployments")
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			ms = h.nextMs()
			doc["createdAt"] = ms
		}
		id := fmt.Sprintf("deploy-%d", ms)
		b := fs.Batch()
		b.Create(deployments.Doc(id), doc)
		for _, m := range t.machines {
			cmd := map[string]any{
				"type": "install_software", "installer_url": installerURL, "installer_name": installerName,
				"silent_flags": flags, "deployment_id": id, "timeout_seconds": timeoutSeconds,
				"timestamp": ms, "status": "pending",
			}
			if verify != "" {
				cmd["verify_path"] = verify
			}
			if len(p.CloseProcesses) > 0 {
				cmd["close_processes"] = p.CloseProcesses
			}
			if p.ParallelInstall {
				cmd["parallel_install"] = true
			}
			cid := fmt.Sprintf("install_%s_%s_%d", underscore(id), underscore(m), ms)
			b.Set(fs.Collection("sites").Doc(t.siteID).Collection("machines").Doc(m).Collection("commands").Doc("pending"),
				map[string]any{cid: cmd}, firestore.Merge(firestore.FieldPath{cid}))
		}
		_, err := b.Commit(ctx)
		if store.AlreadyExists(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{
			"success": true, "deploymentId": id, "machines": t.machines, "installer_url": installerURL,
			"installer_name": installerName, "silent_flags": flags,
			"message": fmt.Sprintf("Deployment %s started on %d machine(s); follow its progress in the dashboard's deployments.", id, len(t.machines)),
		}, nil
	}
	return nil, fmt.Errorf("no free deployment id after 5 attempts")
}

func underscore(s string) string { return strings.ReplaceAll(s, "-", "_") }

// tdBuild matches a TouchDesigner build installer's file name.
var tdBuild = regexp.MustCompile(`(?i)^TouchDesigner[._-](\d{4}\.\d{3,6})\.exe$`)

// dirFlag matches an Inno Setup /DIR= flag, quoted or not.
var dirFlag = regexp.MustCompile(`(?i)/DIR=("[^"]*"|\S+)`)

// touchDesignerDir points flags' /DIR= at a folder named for the build
// (in the same parent folder, C:\Program Files\Derivative by default) and
// returns the executable the agent should find after installing.
func touchDesignerDir(flags, build string) (string, string) {
	parent := `C:\Program Files\Derivative`
	if m := dirFlag.FindStringSubmatch(flags); m != nil {
		dir := strings.Trim(m[1], `"`)
		if i := strings.LastIndexAny(dir, `\/`); i > 0 {
			parent = dir[:i]
		}
	}
	dir := parent + `\TouchDesigner.` + build
	flag := `/DIR="` + dir + `"`
	if dirFlag.MatchString(flags) {
		flags = dirFlag.ReplaceAllLiteralString(flags, flag)
	} else {
		flags = strings.TrimSpace(flags + " " + flag)
	}
	return flags, dir + `\bin\TouchDesigner.exe`
}
