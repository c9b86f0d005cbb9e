package deploystatus

import (
	"testing"
	"time"
)

func ts(statuses ...string) []any {
	out := []any{}
	for i, s := range statuses {
		out = append(out, map[string]any{"machineId": string(rune('A' + i)), "status": s})
	}
	return out
}

func TestAggregate(t *testing.T) {
	for _, c := range []struct {
		targets []any
		want    string
	}{
		{nil, Pending},
		{[]any{"junk"}, Pending},
		{ts("pending"), InProgress},
		{ts("completed", "downloading"), InProgress},
		{ts("completed", "closing_processes"), InProgress},
		{ts("completed", "extracting"), InProgress},
		{ts("completed", "weird-status"), InProgress},
		{ts("completed", "completed"), Completed},
		{ts("failed"), Failed},
		{ts("cancelled", "cancelled"), Cancelled}, // the dashboard would say failed (§12.18)
		{ts("uninstalled"), Uninstalled},
		{ts("completed", "failed"), Partial},
		{ts("completed", "cancelled", "uninstalled"), Partial},
		{append(ts("completed"), "junk", map[string]any{"machineId": "X"}), InProgress}, // a map without status is not terminal
	} {
		if got := Aggregate(c.targets); got != c.want {
			t.Errorf("Aggregate(%v) = %s, want %s", c.targets, got, c.want)
		}
	}
}

func TestMappingAndSets(t *testing.T) {
	for _, c := range []struct{ status, typ, want string }{
		{"completed", "install_software", Completed},
		{"completed", "uninstall_software", Uninstalled},
		{"completed", "", Completed},
		{"failed", "uninstall_software", Failed},
		{"cancelled", "cancel_installation", Cancelled},
		{"downloading", "", Downloading},
		{"closing_processes", "", ClosingProcesses},
		{"extracting", "", "extracting"},
	} {
		if got := FromCommand(c.status, c.typ); got != c.want {
			t.Errorf("FromCommand(%s, %s) = %s, want %s", c.status, c.typ, got, c.want)
		}
	}
	for s, want := range map[string]bool{Completed: true, Failed: true, Cancelled: true, Uninstalled: true, Partial: false, Pending: false, InProgress: false, Installing: false} {
		if TargetTerminal(s) != want {
			t.Errorf("TargetTerminal(%s) = %v", s, !want)
		}
	}
	if !DeploymentTerminal(Partial) || DeploymentTerminal(InProgress) {
		t.Error("DeploymentTerminal")
	}
	for s, want := range map[string]string{Cancelled: "cancelledAt", Uninstalled: "uninstalledAt", Completed: "completedAt", Failed: "completedAt"} {
		if StampField(s) != want {
			t.Errorf("StampField(%s) = %s", s, StampField(s))
		}
	}
}

func TestRollup(t *testing.T) {
	now := time.Unix(1700000000, 0)
	paths := func(doc map[string]any, targets []any, changed bool) map[string]any {
		out := map[string]any{}
		for _, u := range Rollup(doc, targets, changed, now) {
			out[u.Path] = u.Value
		}
		return out
	}
	if got := paths(map[string]any{"status": "in_progress"}, ts("downloading"), false); len(got) != 0 {
		t.Errorf("matching roll-up rewritten: %v", got)
	}
	got := paths(map[string]any{"status": "in_progress"}, ts("completed"), true)
	if got["status"] != Completed || got["completedAt"] != now || got["updatedAt"] != now || got["targets"] == nil {
		t.Errorf("first terminal: %v", got)
	}
	got = paths(map[string]any{"status": "failed", "completedAt": now.Add(-time.Hour)}, ts("cancelled"), false)
	if got["status"] != Cancelled || got["completedAt"] != nil || got["targets"] != nil || got["updatedAt"] != now {
		t.Errorf("dashboard roll-up corrected: %v", got)
	}
	got = paths(map[string]any{"status": "in_progress"}, ts("installing"), true)
	if got["status"] != nil || got["completedAt"] != nil || got["targets"] == nil {
		t.Errorf("progress only: %v", got)
	}
}
