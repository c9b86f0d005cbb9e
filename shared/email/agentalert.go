package email

import "time"

// Agent alert event types (api.md E17).
const (
	EventConnectionFailure  = "connection_failure"
	EventProcessCrash       = "process_crash"
	EventProcessStartFailed = "process_start_failed"
	EventMachineOffline     = "machine_offline" // E43 only
)

// AgentAlert is an E17 alert for one recipient. EventType process_crash
// and process_start_failed give the process mails; anything else
// (connection_failure, "", unknown) the agent-error mail.
type AgentAlert struct {
	EventType    string
	SiteID       string
	SiteName     string // optional; SiteID when empty
	MachineID    string
	MachineName  string // shown in the subject; MachineID when empty (E17 sends the id)
	ProcessName  string
	ErrorCode    string
	ErrorMessage string
	AgentVersion string
	Time         time.Time // the event time; row omitted when zero
	Timezone     string    // machine_timezone as stored (Windows or IANA name)
	Links
}

// Render builds the mail.
func (a AgentAlert) Render() Mail {
	machine := firstOf(a.MachineName, a.MachineID)
	var v view
	switch a.EventType {
	case EventProcessCrash:
		v = view{
			Subject: "Process crashed: " + a.ProcessName + " on " + machine,
			Accent:  colorRed,
			Title:   "Process crashed",
			Intro:   a.ProcessName + " on " + machine + " stopped unexpectedly.",
		}
	case EventProcessStartFailed:
		v = view{
			Subject: "Process failed to start: " + a.ProcessName + " on " + machine,
			Accent:  colorOrange,
			Title:   "Process failed to start",
			Intro:   "owlette could not start " + a.ProcessName + " on " + machine + ".",
		}
	default:
		v = view{
			Subject: "[ALERT] owlette agent error on " + machine,
			Accent:  colorRed,
			Badge:   "ALERT",
			Title:   "owlette agent error",
			Intro:   "The owlette agent on " + machine + " reported an error.",
		}
	}
	v.Preheader = v.Intro
	v.addRow("Site", siteLabel(a.SiteID, a.SiteName))
	v.addRow("Machine", machineLabel(a.MachineID, a.MachineName))
	v.addRow("Process", a.ProcessName)
	if !isProcessEvent(a.EventType) {
		v.addRow("Error code", a.ErrorCode)
	}
	v.addRow("Agent version", a.AgentVersion)
	v.addRow("Time", timeRow(a.Time, a.Timezone))
	if a.ErrorMessage != "" {
		v.Block = &block{Label: "Error message", Text: a.ErrorMessage}
	}
	v.Footer = "alerts for " + siteLabel(a.SiteID, a.SiteName)
	v.links(a.Links)
	return v.render()
}

func isProcessEvent(t string) bool { return t == EventProcessCrash || t == EventProcessStartFailed }

// firstOf returns the first non-empty value.
func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// machineLabel shows a machine as "name (id)" when both differ.
func machineLabel(id, name string) string {
	if name == "" || name == id {
		return id
	}
	if id == "" {
		return name
	}
	return name + " (" + id + ")"
}

// siteLabel shows a site as "name (id)" when both differ.
func siteLabel(id, name string) string { return machineLabel(id, name) }

// timeRow formats an event time, "" for the zero time (row omitted).
func timeRow(t time.Time, zone string) string {
	if t.IsZero() {
		return ""
	}
	return FormatTime(t, zone)
}
