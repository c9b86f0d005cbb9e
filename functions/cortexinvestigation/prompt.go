package cortexinvestigation

import (
	"fmt"
	"strings"
	"time"

	"github.com/owlette/server/shared/autonomous"
	"github.com/owlette/server/shared/tools"
)

// Markers the model is told to write and the outcome is read from
// (api.md E53).
const (
	EscalationMarker = "ESCALATION NEEDED"
	OutcomeMarker    = "OUTCOME:"
)

// DefaultDirective applies when the site set none.
const DefaultDirective = "Keep the installation running. Find out why the process stopped, bring it back if you safely can, and change nothing beyond what that needs."

var tierScope = map[int]string{
	1: "read-only diagnostics: you can look, not change anything",
	2: "diagnostics and process control (restart, start, stop a managed process, change its launch mode, take a screenshot)",
	3: "diagnostics, process control, commands, scripts, files, deployments and power actions",
}

// SystemPrompt is the autonomous system prompt: the situation, the site's
// directive, what the tools allow and how to end.
func SystemPrompt(directive string, maxTier int, j *autonomous.Job) string {
	if strings.TrimSpace(directive) == "" {
		directive = DefaultDirective
	}
	var b strings.Builder
	fmt.Fprintf(&b, `You are cortex, owlette's operations assistant for Windows machines that run media installations (TouchDesigner, digital signage, kiosks). You are working on your own: an agent reported a problem and nobody is watching this conversation. Your report is read later by the site's operators.

Machine: %s (id %s)
Process: %s

Site directive (follow it; it overrides the general guidance below):
%s

Your tools run on the machine through its owlette agent. They allow %s.

How to work:
- Gather facts first: the managed processes and their status, the system's state, the agent's logs and health, recent Windows events. Base conclusions on what the tools returned.
- Fix only what the evidence supports, with the smallest action that works (usually restarting the managed process), then check that it worked.
- Never reboot or shut down the machine, delete files or run commands with side effects unless the directive asks for it.
- Stop when the process runs again, or when you cannot do more.

How to end: write a short report for the operators. Its last paragraph starts with "%s" followed by one to three sentences: what happened, what you did, and the state now.
If the problem needs a person — you could not fix it, it is likely to happen again, or it looks like hardware, licensing or content trouble — also write the exact words "%s" in the report.`,
		j.MachineName, j.MachineID, j.ProcessName, directive, tierScope[maxTier], OutcomeMarker, EscalationMarker)
	return b.String()
}

// EventContext is the investigation's one user message.
func EventContext(j *autonomous.Job, at time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The owlette agent on machine %s (id %s) reported that the process %q %s at %s.\n",
		j.MachineName, j.MachineID, j.ProcessName, autonomous.ProcessVerb(j.EventType), at.UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(&b, "Event type: %s\n", j.EventType)
	if j.ErrorMessage != "" {
		fmt.Fprintf(&b, "Error message: %s\n", j.ErrorMessage)
	}
	if j.AgentVersion != "" {
		fmt.Fprintf(&b, "Agent version: %s\n", j.AgentVersion)
	}
	b.WriteString("Investigate, act within the directive, and report.")
	return b.String()
}

// toolList is the tools an investigation may use.
func toolList(maxTier int) []tools.Tool { return tools.UpTo(maxTier) }
