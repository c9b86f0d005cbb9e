// Package deploystatus holds the deployment status rules shared by the
// status trigger and the sweeper (datamodel.md §2.9, §7.1, §7.2): which
// target and deployment statuses are terminal, how a command's completion
// maps onto a target, and how targets roll up into the deployment's status.
package deploystatus

import (
	"time"

	"cloud.google.com/go/firestore"
)

// Target and deployment statuses.
const (
	Pending          = "pending"
	InProgress       = "in_progress"
	ClosingProcesses = "closing_processes"
	Downloading      = "downloading"
	Installing       = "installing"
	Uninstalling     = "uninstalling"
	Completed        = "completed"
	Failed           = "failed"
	Cancelled        = "cancelled"
	Uninstalled      = "uninstalled"
	Partial          = "partial"
)

// TargetTerminal reports whether a target status is final: completed,
// failed, cancelled or uninstalled.
func TargetTerminal(s string) bool {
	switch s {
	case Completed, Failed, Cancelled, Uninstalled:
		return true
	}
	return false
}

// DeploymentTerminal reports whether a deployment status is final:
// completed, failed, partial, cancelled or uninstalled.
func DeploymentTerminal(s string) bool {
	return TargetTerminal(s) || s == Partial
}

// FromCommand maps a completed-entry status (and the command type, present on
// terminal entries) to a target status: completed becomes uninstalled for
// uninstall_software; everything else passes through unchanged (failed,
// cancelled, downloading, installing, uninstalling, and also
// closing_processes, extracting or any other value).
func FromCommand(status, commandType string) string {
	if status == Completed && commandType == "uninstall_software" {
		return Uninstalled
	}
	return status
}

// StampField is the target field stamped when a target reaches a terminal
// status: cancelledAt, uninstalledAt, else completedAt.
func StampField(status string) string {
	switch status {
	case Cancelled:
		return "cancelledAt"
	case Uninstalled:
		return "uninstalledAt"
	}
	return "completedAt"
}

// Targets returns the target maps of a deployment's targets array. Elements
// that are not maps (nothing writes those, but the dashboard writes this
// array too) are kept in the array and ignored by the rules.
func Targets(v any) []any {
	arr, _ := v.([]any)
	return arr
}

// TargetStatus is a target element's status ("" when absent or not a map).
func TargetStatus(t any) string {
	m, _ := t.(map[string]any)
	s, _ := m["status"].(string)
	return s
}

// Aggregate rolls target statuses up into the deployment status (§7.1): no
// targets → pending; any non-terminal target → in_progress; all the same
// terminal status → that status; mixed terminal statuses → partial.
func Aggregate(targets []any) string {
	first, mixed, n := "", false, 0
	for _, t := range targets {
		if _, ok := t.(map[string]any); !ok {
			continue
		}
		s := TargetStatus(t)
		if !TargetTerminal(s) {
			return InProgress
		}
		if n == 0 {
			first = s
		} else if s != first {
			mixed = true
		}
		n++
	}
	switch {
	case n == 0:
		return Pending
	case mixed:
		return Partial
	default:
		return first
	}
}

// Rollup returns the deployment-level writes for the given (possibly
// updated) targets: targets itself when targetsChanged, the aggregated
// status when it differs from the stored one, completedAt the first time the
// deployment is terminal (the doc has none yet), and updatedAt whenever
// anything is written. It returns nil when nothing needs writing, so a
// deployment whose stored roll-up (by this server or the dashboard) already
// matches its targets is left alone.
func Rollup(doc map[string]any, targets []any, targetsChanged bool, now time.Time) []firestore.Update {
	var ups []firestore.Update
	if targetsChanged {
		ups = append(ups, firestore.Update{Path: "targets", Value: targets})
	}
	status := Aggregate(targets)
	if cur, _ := doc["status"].(string); cur != status {
		ups = append(ups, firestore.Update{Path: "status", Value: status})
	}
	if DeploymentTerminal(status) && doc["completedAt"] == nil {
		ups = append(ups, firestore.Update{Path: "completedAt", Value: now})
	}
	if len(ups) == 0 {
		return nil
	}
	return append(ups, firestore.Update{Path: "updatedAt", Value: now})
}
