package email

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var at = utc("2026-01-15T23:04:05Z")

const unsubURL = "https://owlette.app/api/unsubscribe?token=abc"

// contains fails the test for every want missing from got.
func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

func lacks(t *testing.T, what, got string, bads ...string) {
	t.Helper()
	for _, b := range bads {
		if strings.Contains(got, b) {
			t.Errorf("%s contains %q", what, b)
		}
	}
}

func TestSubjects(t *testing.T) {
	for _, c := range []struct {
		name string
		mail Mail
		want string
	}{
		{"agent error", AgentAlert{EventType: "connection_failure", MachineID: "PC-1", MachineName: "PC-1", ErrorCode: "E"}.Render(),
			"[ALERT] owlette agent error on PC-1"},
		{"agent error, empty type", AgentAlert{MachineID: "PC-1"}.Render(), "[ALERT] owlette agent error on PC-1"},
		{"agent error, unknown type", AgentAlert{EventType: "disk_full", MachineID: "PC-1"}.Render(), "[ALERT] owlette agent error on PC-1"},
		{"process crash", AgentAlert{EventType: "process_crash", MachineID: "PC-1", ProcessName: "TouchDesigner"}.Render(),
			"Process crashed: TouchDesigner on PC-1"},
		{"start failed", AgentAlert{EventType: "process_start_failed", MachineID: "PC-1", MachineName: "Lobby", ProcessName: "vvvv"}.Render(),
			"Process failed to start: vvvv on Lobby"},
		{"offline", MachinesOffline{SiteID: "site-1", SiteName: "Museum", Machines: []OfflineMachine{{ID: "a"}, {ID: "b"}}}.Render(),
			"2 machine(s) offline in site-1"},
		{"offline, one", MachinesOffline{SiteID: "site-1", Machines: []OfflineMachine{{ID: "a"}}}.Render(), "1 machine(s) offline in site-1"},
		{"threshold", ThresholdAlert{RuleName: "Hot GPU", MachineID: "PC-1", Severity: "critical", Metric: "gpu_temp"}.Render(),
			"[CRITICAL] Hot GPU — PC-1"},
		{"threshold, unknown severity", ThresholdAlert{RuleName: "R", MachineID: "PC-1", Severity: "severe"}.Render(), "[SEVERE] R — PC-1"},
		{"escalation", CortexEscalation{MachineName: "PC-1", MachineID: "id-1", ProcessName: "TouchDesigner"}.Render(),
			"cortex escalation: TouchDesigner on PC-1"},
		{"escalation, id fallback", CortexEscalation{MachineID: "id-1"}.Render(), "cortex escalation: Unknown on id-1"},
		{"escalation, nothing", CortexEscalation{}.Render(), "cortex escalation: Unknown on Unknown"},
		{"simulated crash", Simulated{Env: "DEVELOPMENT", Event: "process_crash", MachineID: "test-machine", MachineName: "Test Machine", ProcessName: "p.exe"}.Render(),
			"[DEVELOPMENT] [SIMULATED] Process crashed: p.exe on Test Machine"},
		{"simulated offline", Simulated{Env: "PRODUCTION", Event: "machine_offline", MachineID: "test-machine"}.Render(),
			"[PRODUCTION] [SIMULATED] Machine offline: test-machine"},
		{"simulated connection", Simulated{Env: "PRODUCTION", Event: "connection_failure", MachineName: "Test Machine"}.Render(),
			"[PRODUCTION] [SIMULATED] Connection failure on Test Machine"},
		{"signup", Signup{Env: "PRODUCTION", Email: "a@b.c"}.Render(), "[PRODUCTION] new owlette user signup"},
		{"welcome", Welcome{DisplayName: "Alex"}.Render(), "welcome to owlette"},
		{"feedback", Feedback{Env: "DEVELOPMENT", Category: "bug", Title: "Button broken"}.Render(),
			"[DEVELOPMENT] feedback: bug — Button broken"},
	} {
		if c.mail.Subject != c.want {
			t.Errorf("%s: subject %q, want %q", c.name, c.mail.Subject, c.want)
		}
		if !strings.Contains(c.mail.HTML, "<title>") || c.mail.Text == "" {
			t.Errorf("%s: HTML or text part missing", c.name)
		}
	}
}

func TestAgentAlertBody(t *testing.T) {
	m := AgentAlert{
		EventType: "connection_failure", SiteID: "site-1", SiteName: "Museum", MachineID: "PC-1",
		ErrorCode: "FIRESTORE_UNREACHABLE", ErrorMessage: "line one\nline two", AgentVersion: "2.4.2",
		Time: at, Timezone: "Pacific Standard Time",
		Links: Links{UnsubscribeURL: unsubURL, DashboardURL: "https://owlette.app/dashboard"},
	}.Render()
	for what, part := range map[string]string{"html": m.HTML, "text": m.Text} {
		contains(t, what, part, "Museum (site-1)", "PC-1", "FIRESTORE_UNREACHABLE", "2.4.2",
			"1/15/2026, 3:04:05 PM PST", "line one", "line two", "https://owlette.app/dashboard")
	}
	contains(t, "html", m.HTML, "line one<br>line two", `href="https://owlette.app/api/unsubscribe?token=abc"`)
	contains(t, "text", m.Text, "Unsubscribe from health alert e-mails: "+unsubURL)
	if m.UnsubscribeURL != unsubURL {
		t.Errorf("UnsubscribeURL = %q", m.UnsubscribeURL)
	}
	// A process alert shows the process, not the connection error code.
	p := AgentAlert{EventType: "process_crash", MachineID: "PC-1", ProcessName: "TouchDesigner", ErrorCode: "IGNORED"}.Render()
	contains(t, "process html", p.HTML, "TouchDesigner")
	lacks(t, "process html", p.HTML, "IGNORED")
}

func TestAdminFallbackHasNoUnsubscribe(t *testing.T) {
	for name, m := range map[string]Mail{
		"agent":      AgentAlert{MachineID: "PC-1"}.Render(),
		"offline":    MachinesOffline{SiteID: "s", Machines: []OfflineMachine{{ID: "a"}}}.Render(),
		"threshold":  ThresholdAlert{RuleName: "r", MachineID: "m"}.Render(),
		"escalation": CortexEscalation{}.Render(),
		"simulated":  Simulated{Event: "process_crash"}.Render(),
		"feedback":   Feedback{Title: "t"}.Render(),
	} {
		lacks(t, name+" html", m.HTML, "nsubscribe")
		lacks(t, name+" text", m.Text, "nsubscribe")
		if m.UnsubscribeURL != "" || m.Message([]string{"a@b.c"}, nil, "").Headers != nil {
			t.Errorf("%s: unsubscribe link or header without a URL", name)
		}
	}
}

func TestListUnsubscribeHeader(t *testing.T) {
	m := AgentAlert{MachineID: "PC-1", Links: Links{UnsubscribeURL: unsubURL}}.Render()
	msg := m.Message([]string{"a@b.c"}, []string{"c@d.e"}, "key-1")
	if msg.Headers["List-Unsubscribe"] != "<"+unsubURL+">" {
		t.Errorf("List-Unsubscribe = %q", msg.Headers["List-Unsubscribe"])
	}
	if msg.Subject != m.Subject || msg.HTML != m.HTML || msg.Text != m.Text || msg.IdempotencyKey != "key-1" ||
		len(msg.To) != 1 || len(msg.CC) != 1 {
		t.Errorf("Message = %+v", msg)
	}
}

func TestLinksMustBeHTTP(t *testing.T) {
	for _, bad := range []string{"javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,hi", "/relative", "//evil.example", "vbscript:x", "https://a.b/\r\nx"} {
		m := AgentAlert{MachineID: "PC-1", Links: Links{DashboardURL: bad, UnsubscribeURL: bad}}.Render()
		lacks(t, "html for "+bad, m.HTML, "Open dashboard", "nsubscribe", "javascript", "JAVASCRIPT", "data:", "vbscript")
		lacks(t, "text for "+bad, m.Text, "Open dashboard", "nsubscribe")
	}
	m := AgentAlert{MachineID: "PC-1", Links: Links{DashboardURL: "http://localhost:3000/dashboard?site=a&m=b"}}.Render()
	contains(t, "html", m.HTML, `href="http://localhost:3000/dashboard?site=a&amp;m=b"`)
}

func TestMachinesOfflineBody(t *testing.T) {
	now := at
	m := MachinesOffline{
		SiteID: "site-1", SiteName: "Museum", CheckedAt: now, Timezone: "Eastern Standard Time",
		Machines: []OfflineMachine{
			{ID: "PC-7", LastHeartbeat: now.Add(-7*time.Minute - 59*time.Second)},
			{ID: "PC-42", LastHeartbeat: now.Add(-42 * time.Minute)},
			{ID: "PC-NEVER"},
		},
		Links: Links{UnsubscribeURL: unsubURL},
	}.Render()
	contains(t, "html", m.HTML, "<td style=\"padding:8px;border-bottom:1px solid #f4f4f5;word-break:break-word;\">PC-7</td><td style=\"padding:8px;border-bottom:1px solid #f4f4f5;word-break:break-word;\">7</td>",
		">PC-42</td>", ">42</td>", ">PC-NEVER</td>", ">never</td>", "Minutes since last heartbeat",
		"Checked at 1/15/2026, 6:04:05 PM EST", "Museum (site-1)")
	contains(t, "text", m.Text, "PC-7 | 7\n", "PC-42 | 42\n", "PC-NEVER | never\n", "Checked at 1/15/2026, 6:04:05 PM EST")
}

func TestThresholdMetricsAndUnits(t *testing.T) {
	for _, c := range []struct {
		metric       string
		value, limit any
		label        string
		wantValue    string
		wantLimit    string
	}{
		{"cpu_percent", 93.456, 90, "CPU usage", "93.46%", "> 90%"},
		{"memory_percent", 88.0, 85.5, "Memory usage", "88%", "> 85.5%"},
		{"disk_percent", 97, 95, "Disk usage", "97%", "> 95%"},
		{"gpu_percent", 99.9, 95, "GPU usage", "99.9%", "> 95%"},
		{"cpu_temp", 91.5, 85, "CPU temperature", "91.5°C", "> 85°C"},
		{"gpu_temp", 88, 80, "GPU temperature", "88°C", "> 80°C"},
		{"network_latency", 250.0, 100, "Network latency", "250 ms", "> 100 ms"},
		{"network_packet_loss", 12.5, 5, "Packet loss", "12.5%", "> 5%"},
		{"fan_rpm", 1200, 1000, "fan_rpm", "1200", "> 1000"},
		{"cpu_percent", "n/a", nil, "CPU usage", "n/a", "> —"},
	} {
		m := ThresholdAlert{
			RuleName: "Rule", MachineID: "PC-1", Metric: c.metric, Operator: ">", Severity: "warning",
			Value: c.value, Threshold: c.limit, Time: at, Timezone: "Tokyo Standard Time",
		}.Render()
		contains(t, c.metric+" text", m.Text, c.label, c.wantValue, c.wantLimit, "1/16/2026, 8:04:05 AM JST")
		contains(t, c.metric+" html", m.HTML, c.label, c.wantValue, strings.ReplaceAll(c.wantLimit, ">", "&gt;"))
	}
}

func TestThresholdSeverityColours(t *testing.T) {
	for sev, colour := range map[string]string{
		"info": colorBlue, "warning": colorAmber, "critical": colorRed, "CRITICAL": colorRed,
		"unknown": colorAmber, "": colorAmber,
	} {
		m := ThresholdAlert{RuleName: "R", MachineID: "m", Severity: sev}.Render()
		contains(t, "severity "+sev, m.HTML, "background-color:"+colour+";")
		for _, other := range []string{colorBlue, colorAmber, colorRed} {
			if other != colour && strings.Contains(m.HTML, other) {
				t.Errorf("severity %q also uses %s", sev, other)
			}
		}
	}
}

func TestEscalationSummaryTruncated(t *testing.T) {
	long := strings.Repeat("é", 5000)
	m := CortexEscalation{MachineID: "m", ProcessName: "p", Summary: long}.Render()
	cut := strings.Repeat("é", MaxSummary-1) + "…"
	contains(t, "html", m.HTML, cut)
	contains(t, "text", m.Text, "Summary:\n"+cut+"\n")
	lacks(t, "html", m.HTML, strings.Repeat("é", MaxSummary))
	if n := utf8.RuneCountInString(truncate(long, MaxSummary)); n != MaxSummary {
		t.Errorf("truncated to %d characters", n)
	}
	exact := strings.Repeat("x", MaxSummary)
	if truncate(exact, MaxSummary) != exact {
		t.Error("a summary of exactly the limit was cut")
	}
	d := CortexEscalation{}.Render()
	contains(t, "default summary", d.Text, DefaultEscalationSummary)
}

func TestSignupAndWelcome(t *testing.T) {
	s := Signup{Env: "DEVELOPMENT", Email: "new@example.com", DisplayName: "New User", AuthMethod: "google",
		CreatedAt: "2026-01-15T23:04:05.123Z"}.Render()
	contains(t, "signup text", s.Text, "new@example.com", "New User", "google", "1/15/2026, 11:04:05 PM UTC", "DEVELOPMENT")
	bad := Signup{Env: "DEVELOPMENT", Email: "a@b.c", CreatedAt: "yesterday"}.Render()
	contains(t, "signup text", bad.Text, "Invalid Date")

	w := Welcome{DisplayName: "Alex", DashboardURL: "https://owlette.app/dashboard"}.Render()
	contains(t, "welcome text", w.Text, "Hi Alex", "https://owlette.app/dashboard")
}

func TestFeedbackBody(t *testing.T) {
	f := Feedback{
		Env: "PRODUCTION", ReportID: "r1", Source: "web", Category: "feature_request", Title: "Dark mode",
		Description: "please\n\nthanks", UserID: "u1", UserEmail: "u@example.com", BrowserUA: "Mozilla/5.0",
		PageURL: "javascript:alert(1)", AppVersion: "2.4.2",
	}.Render()
	contains(t, "text", f.Text, "Dark mode", "please\n\nthanks", "u@example.com", "r1", "feature_request", "javascript:alert(1)")
	// The page URL is shown as text, never as a link.
	lacks(t, "html", f.HTML, `href="javascript`)
	contains(t, "html", f.HTML, "please<br><br>thanks")
}

func TestCleanSubject(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                           "plain",
		"  padded  ":                      "padded",
		"a\r\nBcc: evil@example.com":      "a Bcc: evil@example.com",
		"tab\tand\u00a0nbsp  and\u2028ls": "tab and nbsp and ls",
		"nul\x00esc\x1b[31m":              "nul esc [31m",
		"\r\n":                            "",
	} {
		if got := CleanSubject(in); got != want {
			t.Errorf("CleanSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

// hostile is put in every string field of every template input.
const hostile = "<script>alert(1)</script> \"dq\" 'sq' a&b <img src=x onerror=alert(2)>\r\nBcc: evil@example.com"

// fillStrings sets every settable string field of *v (embedded structs
// included) to s, so a field added later is covered too.
func fillStrings(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.Pointer:
		fillStrings(v.Elem(), s)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillStrings(v.Field(i), s)
			}
		}
	case reflect.String:
		v.SetString(s)
	case reflect.Interface:
		if v.CanSet() {
			v.Set(reflect.ValueOf(s))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
			for i := range 2 {
				fillStrings(v.Index(i), s)
			}
		}
	}
}

type renderer interface{ Render() Mail }

func TestHostileValuesAreEscaped(t *testing.T) {
	inputs := map[string]func() renderer{
		"agent error":   func() renderer { return &AgentAlert{} },
		"process crash": func() renderer { return &AgentAlert{EventType: EventProcessCrash} },
		"start failed":  func() renderer { return &AgentAlert{EventType: EventProcessStartFailed} },
		"offline":       func() renderer { return &MachinesOffline{CheckedAt: at} },
		"threshold":     func() renderer { return &ThresholdAlert{} },
		"escalation":    func() renderer { return &CortexEscalation{} },
		"simulated":     func() renderer { return &Simulated{} },
		"sim crash":     func() renderer { return &Simulated{Event: EventProcessCrash} },
		"sim offline":   func() renderer { return &Simulated{Event: EventMachineOffline} },
		"signup":        func() renderer { return &Signup{} },
		"welcome":       func() renderer { return &Welcome{} },
		"feedback":      func() renderer { return &Feedback{} },
	}
	for name, mk := range inputs {
		in := mk()
		// Keep the branch-selecting fields; everything else is hostile.
		keep := map[string]string{}
		rv := reflect.ValueOf(in).Elem()
		for _, f := range []string{"EventType", "Event"} {
			if fv := rv.FieldByName(f); fv.IsValid() {
				keep[f] = fv.String()
			}
		}
		fillStrings(rv, hostile)
		for f, v := range keep {
			rv.FieldByName(f).SetString(v)
		}
		m := in.Render()

		lacks(t, name+" html", m.HTML, "<script", "<img", "onerror=alert(2)>", `"dq"`, "'sq'", "javascript")
		contains(t, name+" html", m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;dq&#34;", "&#39;sq&#39;", "a&amp;b")
		lacks(t, name+" html", m.HTML, "&amp;amp;", "&amp;lt;")
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Errorf("%s: subject has a line break: %q", name, m.Subject)
		}
		if name != "welcome" {
			contains(t, name+" subject", m.Subject, "<script>alert(1)</script>", "Bcc: evil@example.com")
		}
		// The text part is plain text: the values stay as they are.
		lacks(t, name+" text", m.Text, "&lt;", "&amp;", "&#34;")
		// Links were hostile too: none survives.
		lacks(t, name+" html", m.HTML, "Open dashboard", "nsubscribe")
	}
}
