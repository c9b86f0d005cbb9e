package sim

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// commandLoop polls commands/pending (2 s, ×1.3 while nothing changes, up
// to 5 s; 5–60 s after errors) and dispatches each key not seen before.
func (a *Agent) commandLoop(ctx context.Context) {
	minI, maxI := a.cfg.scaled(a.cfg.CommandPollMin), a.cfg.scaled(a.cfg.CommandPollMax)
	interval, errWait := minI, a.cfg.scaled(a.cfg.ListenerBackoffMin)
	last := ""
	for {
		doc, err := a.fs.Get(ctx, "get-pending", a.pendingPath())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.failed("command poll", err)
			if sleep(ctx, errWait) != nil {
				return
			}
			errWait = min(errWait*2, a.cfg.scaled(a.cfg.ListenerBackoffMax))
			continue
		}
		errWait = a.cfg.scaled(a.cfg.ListenerBackoffMin)
		fields := map[string]any{}
		if doc != nil {
			fields = doc.Fields
		}
		if h := hashJSON(fields); h != last {
			last = h
			interval = minI
			a.onPending(ctx, fields)
		} else {
			interval = min(time.Duration(float64(interval)*1.3), maxI)
		}
		if sleep(ctx, interval) != nil {
			return
		}
	}
}

func (a *Agent) onPending(ctx context.Context, fields map[string]any) {
	for k := range a.seen {
		if _, ok := fields[k]; !ok {
			delete(a.seen, k)
		}
	}
	if len(a.seen) > 1000 {
		drop := len(a.seen) - 500
		for k := range a.seen {
			if drop == 0 {
				break
			}
			if _, pending := fields[k]; !pending {
				delete(a.seen, k)
				drop--
			}
		}
	}
	ids := make([]string, 0, len(fields))
	for k := range fields {
		if !a.seen[k] {
			ids = append(ids, k)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		a.seen[id] = true
		cmd, ok := fields[id].(map[string]any)
		if !ok {
			a.log.Error("pending entry is not a map: ignored", "command", id)
			continue
		}
		a.dispatch(ctx, id, cmd)
	}
}

// dispatch applies the same-type gap and picks the lane: mcp_tool_call,
// capture_screenshot and parallel installs run at once; the rest go through
// the serial worker (queue of 50).
func (a *Agent) dispatch(ctx context.Context, id string, cmd map[string]any) {
	typ, _ := cmd["type"].(string)
	if typ == "" {
		typ = "None"
	}
	a.log.Info("command received", "command", id, "type", typ)
	now := time.Now()
	a.runMu.Lock()
	last, ran := a.lastRun[typ]
	limited := ran && now.Sub(last) < a.cfg.scaled(a.cfg.SameTypeGap)
	if !limited {
		a.lastRun[typ] = now
	}
	a.runMu.Unlock()
	j := job{id: id, typ: typ, cmd: cmd}
	if limited {
		go a.finish(ctx, j, "completed", fmt.Sprintf("Rate limited: %s executed too recently, try again in a few seconds", typ))
		return
	}
	parallel, _ := cmd["parallel_install"].(bool)
	switch {
	case typ == "mcp_tool_call" || typ == "capture_screenshot" || (typ == "install_software" && parallel):
		go a.execute(ctx, j)
	default:
		select {
		case a.queue <- j:
		default:
			go a.finish(ctx, j, "failed", "Command queue full — too many pending installs")
		}
	}
}

func (a *Agent) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-a.queue:
			a.execute(ctx, j)
		}
	}
}

// execute runs a handler and records its terminal entry.
func (a *Agent) execute(ctx context.Context, j job) {
	status, text := func() (status, text string) {
		defer func() {
			if r := recover(); r != nil {
				status, text = "failed", fmt.Sprint(r)
			}
		}()
		text = a.handle(ctx, j)
		switch {
		case j.typ == "cancel_installation":
			return "cancelled", text
		case len(text) >= 6 && text[:6] == "Error:":
			return "failed", text
		default:
			return "completed", text
		}
	}()
	if ctx.Err() != nil {
		return
	}
	a.finish(ctx, j, status, text)
}

// finish writes the terminal entry into `completed` (merge: status,
// result|error, completedAt, type, deployment_id), then removes the key
// from `pending` (masked field delete), then uploads metrics.
func (a *Agent) finish(ctx context.Context, j job, status, text string) {
	entry := map[string]any{"status": status, "type": j.typ}
	if status == "failed" {
		entry["error"] = text
	} else {
		entry["result"] = text
	}
	depID, _ := j.cmd["deployment_id"].(string)
	if depID != "" && j.typ != "distribute_project" {
		entry["deployment_id"] = depID
	}
	ups := append(Leaves(FieldPath{j.id}, entry), Update{FieldPath{j.id, "completedAt"}, ServerTimestamp})
	if err := a.fs.Commit(ctx, "complete", a.fs.MergeWrite(a.completedPath(), ups)); err != nil {
		a.failed("write completed "+j.id, err)
		return
	}
	if err := a.fs.DeleteFields(ctx, "delete-pending", a.pendingPath(), []string{FieldPath{j.id}.String()}); err != nil {
		a.failed("delete pending "+j.id, err)
	}
	a.log.Info("command done", "command", j.id, "type", j.typ, "status", status, "result", text)
	if depID != "" && a.cfg.EventLog && (j.typ == "install_software" || j.typ == "uninstall_software" || j.typ == "update_owlette") {
		action, level := "deployment_completed", "info"
		if status == "failed" {
			action, level = "deployment_failed", "error"
		}
		name, _ := j.cmd["installer_name"].(string)
		if j.typ == "uninstall_software" {
			name, _ = j.cmd["software_name"].(string)
		}
		if err := a.logEvent(ctx, action, level, name, text); err != nil {
			a.failed("log "+action, err)
		}
	}
	a.cfg.emit(Event{Kind: EventCommand, Detail: j.id, Status: status})
	a.Heartbeat()
}

// progress merges an intermediate status into `completed` (no `type`).
func (a *Agent) progress(ctx context.Context, j job, status string, pct int, depID string) error {
	entry := map[string]any{"status": status}
	if depID != "" {
		entry["deployment_id"] = depID
	}
	if pct >= 0 {
		entry["progress"] = pct
	}
	ups := append(Leaves(FieldPath{j.id}, entry), Update{FieldPath{j.id, "updatedAt"}, ServerTimestamp})
	err := a.fs.Commit(ctx, "progress", a.fs.MergeWrite(a.completedPath(), ups))
	if err != nil {
		a.failed("progress "+j.id, err)
	}
	return err
}
