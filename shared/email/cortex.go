package email

import "time"

// MaxSummary is the escalation summary cap in characters (api.md E55).
const MaxSummary = 2000

// DefaultEscalationSummary stands in for an empty event summary.
const DefaultEscalationSummary = "cortex could not resolve this issue on its own and needs a human to take a look."

// CortexEscalation is the mail of an escalated autonomous investigation
// (E53, E55) for one recipient.
type CortexEscalation struct {
	SiteID      string
	SiteName    string
	MachineID   string
	MachineName string // subject: MachineName ‖ MachineID ‖ "Unknown"
	ProcessName string // subject: ProcessName ‖ "Unknown"
	Summary     string // DefaultEscalationSummary when empty; cut at MaxSummary
	EventID     string // optional, shown for reference
	Time        time.Time
	Timezone    string
	Links
}

// Render builds the mail: subject "cortex escalation: <process> on <machine>".
func (c CortexEscalation) Render() Mail {
	machine := firstOf(c.MachineName, c.MachineID, "Unknown")
	process := firstOf(c.ProcessName, "Unknown")
	v := view{
		Subject: "cortex escalation: " + process + " on " + machine,
		Accent:  colorViolet,
		Badge:   "ESCALATION",
		Title:   "cortex needs a human",
		Intro:   "cortex investigated " + process + " on " + machine + " and could not resolve it on its own.",
		Block:   &block{Label: "Summary", Text: truncate(firstOf(c.Summary, DefaultEscalationSummary), MaxSummary)},
		Footer:  "alerts for " + siteLabel(c.SiteID, c.SiteName),
	}
	v.Preheader = v.Intro
	v.addRow("Site", siteLabel(c.SiteID, c.SiteName))
	v.addRow("Machine", machineLabel(c.MachineID, c.MachineName))
	v.addRow("Process", c.ProcessName)
	v.addRow("Event", c.EventID)
	v.addRow("Time", timeRow(c.Time, c.Timezone))
	v.links(c.Links)
	return v.render()
}

// truncate keeps at most n characters (runes, so no character is split);
// a cut text ends in "…" within the n.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
