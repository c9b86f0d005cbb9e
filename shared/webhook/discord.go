package webhook

import "time"

// Discord embed limits (characters); an embed over them is refused with 400.
const (
	discordDescriptionMax = 4096
	discordFieldMax       = 1024
	discordEmbedMax       = 6000 // all texts of the embed together
)

type discordMessage struct {
	Embeds []discordEmbed `json:"embeds"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields"`
	Timestamp   string         `json:"timestamp"`
	Footer      discordFooter  `json:"footer"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

type discordFooter struct {
	Text string `json:"text"`
}

const discordFooterText = "owlette"

// discordBody is {embeds: [{title, description (details, omitted when
// none), color (the fixed integer), fields: Machine?, Process?, Site (all
// inline), timestamp (ISO), footer: {text: "owlette"}}]}.
func discordBody(c card, site Site, ts time.Time) discordMessage {
	var fields []discordField
	if c.machine != "" {
		fields = append(fields, discordField{"Machine", clip(c.machine, discordFieldMax), true})
	}
	if c.process != "" {
		fields = append(fields, discordField{"Process", clip(c.process, discordFieldMax), true})
	}
	fields = append(fields, discordField{"Site", clip(siteName(site), discordFieldMax), true})

	// The description gets whatever room the other texts leave.
	used := len([]rune(c.title)) + len(discordFooterText)
	for _, f := range fields {
		used += len([]rune(f.Name)) + len([]rune(f.Value))
	}
	room := min(discordDescriptionMax, discordEmbedMax-used)
	return discordMessage{Embeds: []discordEmbed{{
		Title:       c.title,
		Description: clip(c.details, room),
		Color:       c.discord,
		Fields:      fields,
		Timestamp:   isoMillis(ts),
		Footer:      discordFooter{discordFooterText},
	}}}
}
