package email

import (
	"strings"
	"testing"
)

func TestSamples(t *testing.T) {
	o := SampleOptions{Env: "DEVELOPMENT", Now: at, DashboardURL: "https://dev.owlette.app/dashboard"}
	want := map[string]string{
		SampleTest:               "[DEVELOPMENT] owlette test email",
		SampleProcessCrash:       "[TEST] Process crashed: TouchDesigner on MEDIA-SERVER-01",
		SampleProcessStartFailed: "[TEST] Process failed to start: TouchDesigner on MEDIA-SERVER-01",
		SampleAgentAlert:         "[TEST] [ALERT] owlette agent error on MEDIA-SERVER-01",
		SampleThresholdAlert:     "[TEST] [CRITICAL] High GPU temperature — MEDIA-SERVER-01",
		SampleMachinesOffline:    "[TEST] 2 machine(s) offline in demo-site",
		SampleCortexEscalation:   "[TEST] cortex escalation: TouchDesigner on MEDIA-SERVER-01",
		SampleWelcome:            "[TEST] welcome to owlette",
		SampleUserSignup:         "[TEST] [DEVELOPMENT] new owlette user signup",
	}
	if len(SampleTemplates) != len(want) {
		t.Fatalf("%d templates listed, %d expected", len(SampleTemplates), len(want))
	}
	for _, name := range SampleTemplates {
		m, used := Sample(name, o)
		if used != name {
			t.Errorf("%s: used %q", name, used)
		}
		if m.Subject != want[name] {
			t.Errorf("%s: subject %q, want %q", name, m.Subject, want[name])
		}
		// Previews go to whoever the admin names: never an unsubscribe link.
		if m.UnsubscribeURL != "" || strings.Contains(m.HTML, "nsubscribe") {
			t.Errorf("%s: preview carries an unsubscribe link", name)
		}
		contains(t, name, m.HTML, `href="https://dev.owlette.app/dashboard"`)
	}
	// Alert previews show the Windows zone mapped (Pacific, January).
	m, _ := Sample(SampleProcessCrash, o)
	contains(t, "process_crash text", m.Text, "1/15/2026, 3:02:05 PM PST")
	tm, _ := Sample(SampleTest, o)
	contains(t, "test text", tm.Text, "Sent at:     1/15/2026, 6:04:05 PM EST")
}

func TestSampleUnknownIsGenericTest(t *testing.T) {
	o := SampleOptions{Env: "PRODUCTION", Now: at}
	generic, _ := Sample(SampleTest, o)
	for _, name := range []string{"", "nope", "TEST", "<script>"} {
		m, used := Sample(name, o)
		if used != SampleTest || m.Subject != generic.Subject || m.HTML != generic.HTML {
			t.Errorf("Sample(%q) used %q, subject %q", name, used, m.Subject)
		}
	}
}
