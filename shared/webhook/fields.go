package webhook

import "strings"

// card is what Slack and Discord show of an event (api.md §1.13 "Field
// extraction"); an empty string means the field is left out.
type card struct {
	style
	machine, process, details string
}

// cardOf extracts the shown fields from data with the original's
// fallbacks: machine = machine.name ?? machine.id, process = process.name ??
// processName, details = errorMessage ?? details, replaced by
// "<metric>: <value> (threshold: <threshold>)" when all three are present at
// the top level. A field whose value is falsy in JavaScript is not shown.
func cardOf(event string, data map[string]any) card {
	machine, _ := data["machine"].(map[string]any)
	process, _ := data["process"].(map[string]any)
	details := coalesce(data["errorMessage"], data["details"])
	if data["metric"] != nil && data["value"] != nil && data["threshold"] != nil {
		details = jsString(data["metric"]) + ": " + jsString(data["value"]) +
			" (threshold: " + jsString(data["threshold"]) + ")"
	}
	return card{
		style:   styleOf(event),
		machine: text(coalesce(machine["name"], machine["id"])),
		process: text(coalesce(process["name"], data["processName"])),
		details: text(details),
	}
}

// summary is the one-line text: title, then the process, then
// "on <machine>", joined by ": " (so "Process Crashed: TD: on PC-1").
func (c card) summary() string {
	parts := []string{c.title}
	if c.process != "" {
		parts = append(parts, c.process)
	}
	if c.machine != "" {
		parts = append(parts, "on "+c.machine)
	}
	return strings.Join(parts, ": ")
}

// coalesce is JavaScript's a ?? b.
func coalesce(a, b any) any {
	if a != nil {
		return a
	}
	return b
}

// text is the shown form of v, "" when v is falsy.
func text(v any) string {
	if !truthy(v) {
		return ""
	}
	return jsString(v)
}

// clip shortens s to at most n characters (code points), marking the cut
// with "…". Slack and Discord reject over-long texts with a 400, which
// would count as a failed delivery every time; texts within the limits are
// sent unchanged.
func clip(s string, n int) string {
	if len(s) <= n { // bytes ≥ code points
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
