package webhook

import "slices"

// Events (api.md §1.13). Only the first four are emitted today; the UI
// offers machine.online, and any other name still formats as "owlette Event".
const (
	EventProcessCrashed    = "process.crashed"
	EventProcessRestarted  = "process.restarted" // "Process Start Failed"
	EventMachineOffline    = "machine.offline"
	EventMachineOnline     = "machine.online"
	EventThresholdBreached = "threshold.breached"
)

// style is how an event looks on Slack and Discord.
type style struct {
	title string
	hex   string // Slack attachment colour
	// discord is the embed colour. The values are literals copied from the
	// original, not derived from hex: two of them (process.restarted,
	// default) differ from their hex on purpose (api.md §1.13).
	discord int
}

var styles = map[string]style{
	EventProcessCrashed:    {"Process Crashed", "#dc2626", 14427686},
	EventProcessRestarted:  {"Process Start Failed", "#ea580c", 15358988},
	EventMachineOffline:    {"Machine Offline", "#dc2626", 14427686},
	EventMachineOnline:     {"Machine Online", "#16a34a", 1483594},
	EventThresholdBreached: {"Threshold Alert", "#ca8a04", 13273604},
}

var defaultStyle = style{"owlette Event", "#6366f1", 6526705}

func styleOf(event string) style {
	if s, ok := styles[event]; ok {
		return s
	}
	return defaultStyle
}

// legacyNames are the underscore event names the OpenAPI document, the
// agent's eventType and older dashboards used (DECISIONS §1: accepted,
// stored as the dotted name). connection_failure is delivered as
// machine.offline, as E17 and E43 do.
var legacyNames = map[string]string{
	"process_crash":        EventProcessCrashed,
	"process_crashed":      EventProcessCrashed,
	"process_start_failed": EventProcessRestarted,
	"process_restarted":    EventProcessRestarted,
	"machine_offline":      EventMachineOffline,
	"connection_failure":   EventMachineOffline,
	"machine_online":       EventMachineOnline,
	"threshold_breached":   EventThresholdBreached,
	"deployment_completed": "deployment.completed",
	"deployment_failed":    "deployment.failed",
}

// Canonical returns the dotted name of an event, mapping the underscore
// forms; other names are returned unchanged.
func Canonical(name string) string {
	if c, ok := legacyNames[name]; ok {
		return c
	}
	return name
}

// Aliases lists the names a webhook may be subscribed to an event under:
// the dotted name and its underscore forms (for subscriptions stored
// before names were made canonical).
func Aliases(event string) []string {
	out := []string{event}
	for legacy, c := range legacyNames {
		if c == event {
			out = append(out, legacy)
		}
	}
	slices.Sort(out[1:])
	return out
}
