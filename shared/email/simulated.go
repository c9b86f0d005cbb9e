package email

import "time"

// Simulated is the E43 mail: one message to every recipient (to + cc
// lists), no unsubscribe link.
type Simulated struct {
	Env          string // PRODUCTION | DEVELOPMENT
	Event        string // process_crash | machine_offline | connection_failure
	SiteID       string
	SiteName     string
	MachineID    string
	MachineName  string
	ProcessName  string
	ErrorMessage string
	Time         time.Time
	Timezone     string // optional; E43 reads no machine document (UTC)
	DashboardURL string
}

// Render builds the mail. Subjects, after "[<ENV>] [SIMULATED] ":
//
//	process_crash       Process crashed: <process> on <machine>
//	machine_offline     Machine offline: <machine>
//	connection_failure  Connection failure on <machine>
//
// with machine = MachineName ‖ MachineID.
func (s Simulated) Render() Mail {
	machine := firstOf(s.MachineName, s.MachineID)
	v := view{Badge: "SIMULATED", Accent: colorRed}
	var tail string
	switch s.Event {
	case EventProcessCrash:
		tail = "Process crashed: " + s.ProcessName + " on " + machine
		v.Title = "Process crashed (simulated)"
		v.Intro = "A simulated crash of " + s.ProcessName + " on " + machine + "."
	case EventMachineOffline:
		tail = "Machine offline: " + machine
		v.Title = "Machine offline (simulated)"
		v.Intro = "A simulated offline event for " + machine + "."
	default:
		tail = "Connection failure on " + machine
		v.Title = "Connection failure (simulated)"
		v.Intro = "A simulated agent connection failure on " + machine + "."
	}
	v.Subject = "[" + s.Env + "] [SIMULATED] " + tail
	v.Intro += " Nothing happened on the machine: an admin triggered this test event to check alert delivery."
	v.Preheader = v.Intro
	v.addRow("Event", s.Event)
	v.addRow("Site", siteLabel(s.SiteID, s.SiteName))
	v.addRow("Machine", machineLabel(s.MachineID, s.MachineName))
	v.addRow("Process", s.ProcessName)
	v.addRow("Environment", s.Env)
	v.addRow("Time", timeRow(s.Time, s.Timezone))
	if s.ErrorMessage != "" {
		v.Block = &block{Label: "Error message", Text: s.ErrorMessage}
	}
	v.Footer = "simulated event for " + siteLabel(s.SiteID, s.SiteName)
	v.links(Links{DashboardURL: s.DashboardURL})
	return v.render()
}
