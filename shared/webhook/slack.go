package webhook

import (
	"strings"
	"time"
)

// Slack Block Kit limits (characters); longer texts are refused with 400.
const (
	slackTextMax    = 3000 // section and context text
	slackFieldMax   = 2000 // one section field
	slackSummaryMax = 40000
)

type slackMessage struct {
	Text        string            `json:"text"`
	Blocks      []slackBlock      `json:"blocks"`
	Attachments []slackAttachment `json:"attachments"`
}

// slackBlock is a header, section or context block; unused parts are omitted.
type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"` // "plain_text" | "mrkdwn"
	Text string `json:"text"`
}

type slackAttachment struct {
	Color string `json:"color"`
}

// slackBody is {text: summary, blocks: [header(title), section fields
// Machine/Process (if any), section details (if any), context line],
// attachments: [{color}]}.
//
// Unlike the original, values are escaped for mrkdwn (&, <, >): a process
// or machine name reported by an agent must not become an @channel ping or
// a link in the customer's Slack.
func slackBody(c card, site Site, ts time.Time) slackMessage {
	blocks := []slackBlock{{Type: "header", Text: &slackText{"plain_text", c.title}}}
	var fields []slackText
	if c.machine != "" {
		fields = append(fields, mrkdwn(clip("*Machine:*\n"+slackEscape(c.machine), slackFieldMax)))
	}
	if c.process != "" {
		fields = append(fields, mrkdwn(clip("*Process:*\n"+slackEscape(c.process), slackFieldMax)))
	}
	if len(fields) > 0 {
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
	}
	if c.details != "" {
		t := mrkdwn(clip(slackEscape(c.details), slackTextMax))
		blocks = append(blocks, slackBlock{Type: "section", Text: &t})
	}
	context := "owlette | " + slackEscape(siteName(site)) + " | " + ts.UTC().Format("2006-01-02 15:04:05") + " UTC"
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{mrkdwn(clip(context, slackTextMax))}})
	return slackMessage{
		Text:        clip(slackEscape(c.summary()), slackSummaryMax),
		Blocks:      blocks,
		Attachments: []slackAttachment{{c.hex}},
	}
}

func mrkdwn(s string) slackText { return slackText{"mrkdwn", s} }

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// to (https://api.slack.com/reference/surfaces/formatting#escaping).
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// siteName is the shown site: its name, else its id.
func siteName(s Site) string {
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}
