package webhook

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// Platform is the body format of a target.
type Platform int

// Platforms, chosen by PlatformOf.
const (
	Generic Platform = iota // signed owlette JSON
	Slack                   // Slack Block Kit message, unsigned
	Discord                 // Discord embed, unsigned
)

func (p Platform) String() string {
	switch p {
	case Slack:
		return "slack"
	case Discord:
		return "discord"
	default:
		return "generic"
	}
}

// PlatformOf picks the format the way the original does: a plain,
// case-sensitive substring test on the whole URL, Slack first.
func PlatformOf(url string) Platform {
	switch {
	case strings.Contains(url, "hooks.slack.com"):
		return Slack
	case strings.Contains(url, "discord.com/api/webhooks"):
		return Discord
	default:
		return Generic
	}
}

// Site is the site block of a payload. An empty Name is sent as the ID,
// as the producers do (api.md §1.13 "site name or id").
type Site struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Payload is the exact body sent to a target of platform p for event at
// time ts (the event time: it is the same on every retry).
//
// The generic body is {"event","timestamp","site":{"id","name"},"data"} in
// that order. data's keys come out sorted (encoding/json sorts maps; the
// Firestore document they come from has no order anyway). A nil data is {}.
func Payload(p Platform, event string, site Site, data map[string]any, ts time.Time) ([]byte, error) {
	switch p {
	case Slack:
		return encode(slackBody(cardOf(event, data), site, ts))
	case Discord:
		return encode(discordBody(cardOf(event, data), site, ts))
	}
	d := normalize(data)
	if data == nil {
		d = map[string]any{}
	}
	return encode(struct {
		Event     string `json:"event"`
		Timestamp string `json:"timestamp"`
		Site      Site   `json:"site"`
		Data      any    `json:"data"`
	}{event, isoMillis(ts), Site{site.ID, siteName(site)}, d})
}

// encode is JSON.stringify as far as receivers can tell: no HTML escaping
// of <, > and &, no trailing newline.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
