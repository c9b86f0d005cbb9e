package email

import "time"

// E64 test-email templates.
const (
	SampleTest               = "test"
	SampleProcessCrash       = "process_crash"
	SampleProcessStartFailed = "process_start_failed"
	SampleAgentAlert         = "agent_alert"
	SampleThresholdAlert     = "threshold_alert"
	SampleMachinesOffline    = "machines_offline"
	SampleCortexEscalation   = "cortex_escalation"
	SampleWelcome            = "welcome"
	SampleUserSignup         = "user_signup"
)

// SampleTemplates lists the E64 templates in the order the API documents.
var SampleTemplates = []string{
	SampleTest, SampleProcessCrash, SampleProcessStartFailed, SampleAgentAlert, SampleThresholdAlert,
	SampleMachinesOffline, SampleCortexEscalation, SampleWelcome, SampleUserSignup,
}

// SampleOptions are what an E64 preview takes from the request.
type SampleOptions struct {
	Env          string    // PRODUCTION | DEVELOPMENT
	Now          time.Time // the send time; sample events happen just before it
	DashboardURL string    // optional button target
}

// Canned sample data: a media-server machine in Los Angeles whose agent
// writes a Windows zone name, so previews show the zone mapping at work.
const (
	sampleSite     = "demo-site"
	sampleSiteName = "Demo Site"
	sampleMachine  = "MEDIA-SERVER-01"
	sampleProcess  = "TouchDesigner"
	sampleZone     = "Pacific Standard Time"
	sampleVersion  = "2.4.2"
)

// Sample renders an E64 template with canned data and returns it with the
// template actually used: an unknown or empty name gives the generic test
// mail ("test"). Alert previews are the real templates with "[TEST] "
// before their subject and no unsubscribe link.
func Sample(template string, o SampleOptions) (Mail, string) {
	at := o.Now.Add(-2 * time.Minute)
	links := Links{DashboardURL: o.DashboardURL}
	var m Mail
	switch template {
	case SampleProcessCrash, SampleProcessStartFailed:
		msg := "Process exited unexpectedly (exit code -1073741819)"
		if template == SampleProcessStartFailed {
			msg = `The system cannot find the file specified: C:\Shows\main.toe`
		}
		m = AgentAlert{
			EventType: template, SiteID: sampleSite, SiteName: sampleSiteName,
			MachineID: sampleMachine, MachineName: sampleMachine, ProcessName: sampleProcess,
			ErrorMessage: msg, AgentVersion: sampleVersion, Time: at, Timezone: sampleZone, Links: links,
		}.Render()
	case SampleAgentAlert:
		m = AgentAlert{
			EventType: EventConnectionFailure, SiteID: sampleSite, SiteName: sampleSiteName,
			MachineID: sampleMachine, MachineName: sampleMachine, ErrorCode: "FIRESTORE_UNREACHABLE",
			ErrorMessage: "Could not reach Firestore after 3 attempts: connection timed out", AgentVersion: sampleVersion,
			Time: at, Timezone: sampleZone, Links: links,
		}.Render()
	case SampleThresholdAlert:
		m = ThresholdAlert{
			SiteID: sampleSite, SiteName: sampleSiteName, MachineID: sampleMachine, MachineName: sampleMachine,
			RuleName: "High GPU temperature", Metric: "gpu_temp", Operator: ">", Severity: "critical",
			Value: 91.5, Threshold: 85, Time: at, Timezone: sampleZone, Links: links,
		}.Render()
	case SampleMachinesOffline:
		m = MachinesOffline{
			SiteID: sampleSite, SiteName: sampleSiteName, CheckedAt: o.Now, Timezone: sampleZone, Links: links,
			Machines: []OfflineMachine{
				{ID: sampleMachine, LastHeartbeat: o.Now.Add(-7 * time.Minute)},
				{ID: "LOBBY-WALL-02", LastHeartbeat: o.Now.Add(-42 * time.Minute)},
			},
		}.Render()
	case SampleCortexEscalation:
		m = CortexEscalation{
			SiteID: sampleSite, SiteName: sampleSiteName, MachineID: sampleMachine, MachineName: sampleMachine,
			ProcessName: sampleProcess, EventID: "evt_sample",
			Summary: "TouchDesigner crashed three times in 10 minutes. The GPU driver reset each time (event log: " +
				"Display driver nvlddmkm stopped responding). Restarting the process did not help. " +
				"ESCALATION NEEDED: update or roll back the GPU driver on this machine.",
			Time: at, Timezone: sampleZone, Links: links,
		}.Render()
	case SampleWelcome:
		m = Welcome{DisplayName: "Alex Example", DashboardURL: o.DashboardURL}.Render()
	case SampleUserSignup:
		m = Signup{
			Env: o.Env, Email: "alex@example.com", DisplayName: "Alex Example", AuthMethod: "google",
			CreatedAt: at.UTC().Format(time.RFC3339Nano), DashboardURL: o.DashboardURL,
		}.Render()
	default:
		return testMail(o), SampleTest
	}
	m.Subject = "[TEST] " + m.Subject
	return m, template
}

// testMail is the generic E64 test mail.
func testMail(o SampleOptions) Mail {
	v := view{
		Subject: "[" + o.Env + "] owlette test email",
		Accent:  colorGreen,
		Badge:   "TEST",
		Title:   "E-mail delivery works",
		Intro:   "This is a test e-mail from owlette. If you can read it, alert e-mails will reach you.",
		Footer:  "test e-mail",
	}
	v.Preheader = v.Intro
	v.addRow("Environment", o.Env)
	v.addRow("Sent at", NewYorkTimestamp(o.Now))
	v.links(Links{DashboardURL: o.DashboardURL})
	return v.render()
}
