package webhook

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var eventTime = time.Date(2026, 12, 3, 14, 5, 9, 87_000_000, time.FixedZone("CET", 3600))

// fixtures are one realistic data object per event kind, shaped like the
// producers write them (api.md §1.13 table).
var fixtures = []struct {
	name  string
	event string
	site  Site
	data  map[string]any
}{
	{"crashed", EventProcessCrashed, Site{"site-a", "Main Hall"}, map[string]any{
		"machine": map[string]any{"id": "pc-01", "name": "MEDIA-SERVER-01"},
		"process": map[string]any{"name": "TouchDesigner", "error": "exit code 3"},
	}},
	{"restarted", EventProcessRestarted, Site{"site-a", "Main Hall"}, map[string]any{
		"machine": map[string]any{"id": "pc-02", "name": "pc-02"},
		"process": map[string]any{"name": "Resolume.exe", "error": "file not found"},
	}},
	{"offline", EventMachineOffline, Site{"site-b", "site-b"}, map[string]any{
		"machine": map[string]any{"id": "PC-7", "name": "PC-7", "lastSeen": "1970-01-01T00:00:00.000Z"},
	}},
	{"online", EventMachineOnline, Site{"site-b", ""}, map[string]any{
		"machine": map[string]any{"id": "PC-7"},
	}},
	{"threshold", EventThresholdBreached, Site{"site-c", "Lobby & <Bar>"}, map[string]any{
		"machine": map[string]any{"id": "pc-9", "name": "pc-9"},
		"alert": map[string]any{"ruleName": "CPU hot", "metric": "cpu_percent", "value": 97.5,
			"threshold": int64(90), "operator": ">", "severity": "critical"},
	}},
	{"other", "deployment.completed", Site{"site-c", "Lobby"}, map[string]any{
		"processName":  "Notch <!channel>",
		"errorMessage": "ignored: metric rule wins",
		"metric":       "gpu_temp", "value": 88.25, "threshold": int64(85),
		"when": time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC),
	}},
}

func TestPayloadGolden(t *testing.T) {
	for _, f := range fixtures {
		for _, p := range []Platform{Generic, Slack, Discord} {
			got, err := Payload(p, f.event, f.site, f.data, eventTime)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, p.String()+"_"+f.name+".json", got)
		}
	}
	a := TestAttempt("https://example.com/hook", "s", "id", eventTime)
	for _, p := range []Platform{Generic, Slack, Discord} {
		got, err := Payload(p, a.Event, a.Site, a.Data, eventTime)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, p.String()+"_e47test.json", got)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want = bytes.TrimSuffix(want, []byte("\n")); !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
}

func TestGenericEnvelope(t *testing.T) {
	got, err := Payload(Generic, EventMachineOffline, Site{"s1", "Site One"}, nil, eventTime)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event":"machine.offline","timestamp":"2026-12-03T13:05:09.087Z","site":{"id":"s1","name":"Site One"},"data":{}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Like JSON.stringify: no \u003c escapes, NaN as null.
	got, _ = Payload(Generic, "x", Site{}, map[string]any{"a": "<&>", "n": nan()}, eventTime)
	if !strings.Contains(string(got), `"data":{"a":"<&>","n":null}`) {
		t.Errorf("data not encoded like JSON.stringify: %s", got)
	}
}

func TestPlatformOf(t *testing.T) {
	for url, want := range map[string]Platform{
		"https://hooks.slack.com/services/T0/B0/xyz":    Slack,
		"https://discord.com/api/webhooks/1/abc":        Discord,
		"https://discordapp.com/api/webhooks/1/abc":     Generic, // not the literal substring
		"https://HOOKS.SLACK.COM/services/x":            Generic, // case-sensitive like includes()
		"https://example.com/?next=hooks.slack.com":     Slack,   // substring anywhere, as the original
		"https://example.com/discord.com/api/webhooks/": Discord,
		"https://example.com/hook":                      Generic,
	} {
		if got := PlatformOf(url); got != want {
			t.Errorf("PlatformOf(%q) = %v, want %v", url, got, want)
		}
	}
}

func TestTitlesAndDiscordColours(t *testing.T) {
	// The integers are copied literals; 15358988 and 6526705 are not the
	// hex colours' values and must not be "fixed".
	for _, c := range []struct {
		event, title, hex string
		color             int
	}{
		{EventProcessCrashed, "Process Crashed", "#dc2626", 14427686},
		{EventProcessRestarted, "Process Start Failed", "#ea580c", 15358988},
		{EventMachineOffline, "Machine Offline", "#dc2626", 14427686},
		{EventMachineOnline, "Machine Online", "#16a34a", 1483594},
		{EventThresholdBreached, "Threshold Alert", "#ca8a04", 13273604},
		{"deployment.failed", "owlette Event", "#6366f1", 6526705},
		{"", "owlette Event", "#6366f1", 6526705},
	} {
		var d struct {
			Embeds []struct {
				Title string
				Color int
			}
		}
		decode(t, Discord, c.event, nil, &d)
		if d.Embeds[0].Title != c.title || d.Embeds[0].Color != c.color {
			t.Errorf("%q: discord %q %d, want %q %d", c.event, d.Embeds[0].Title, d.Embeds[0].Color, c.title, c.color)
		}
		var s struct {
			Text        string
			Attachments []struct{ Color string }
		}
		decode(t, Slack, c.event, nil, &s)
		if s.Text != c.title || s.Attachments[0].Color != c.hex {
			t.Errorf("%q: slack %q %q, want %q %q", c.event, s.Text, s.Attachments[0].Color, c.title, c.hex)
		}
	}
}

func TestFieldExtraction(t *testing.T) {
	for _, c := range []struct {
		name                               string
		data                               map[string]any
		summary, machine, process, details string
	}{
		{"name over id", map[string]any{"machine": map[string]any{"id": "i", "name": "n"}},
			"Process Crashed: on n", "n", "", ""},
		{"id when name missing", map[string]any{"machine": map[string]any{"id": "i"}},
			"Process Crashed: on i", "i", "", ""},
		{"null name falls back (??)", map[string]any{"machine": map[string]any{"id": "i", "name": nil}},
			"Process Crashed: on i", "i", "", ""},
		{"empty name does not fall back, and is not shown", map[string]any{"machine": map[string]any{"id": "i", "name": ""}},
			"Process Crashed", "", "", ""},
		{"machine not an object", map[string]any{"machine": "pc"},
			"Process Crashed", "", "", ""},
		{"process.name over processName", map[string]any{"process": map[string]any{"name": "a"}, "processName": "b"},
			"Process Crashed: a", "", "a", ""},
		{"processName fallback", map[string]any{"processName": "b"},
			"Process Crashed: b", "", "b", ""},
		{"errorMessage over details", map[string]any{"errorMessage": "e", "details": "d"},
			"Process Crashed", "", "", "e"},
		{"details fallback", map[string]any{"details": "d"},
			"Process Crashed", "", "", "d"},
		{"metric rule", map[string]any{"metric": "cpu", "value": 95.5, "threshold": int64(90), "details": "d"},
			"Process Crashed", "", "", "cpu: 95.5 (threshold: 90)"},
		{"metric rule needs all three", map[string]any{"metric": "cpu", "value": 95.5, "details": "d"},
			"Process Crashed", "", "", "d"},
		{"metric rule with zero value", map[string]any{"metric": "loss", "value": int64(0), "threshold": 0.5},
			"Process Crashed", "", "", "loss: 0 (threshold: 0.5)"},
		{"numbers in names", map[string]any{"machine": map[string]any{"name": int64(7)}, "processName": 1e21},
			"Process Crashed: 1e+21: on 7", "7", "1e+21", ""},
		{"all", map[string]any{"machine": map[string]any{"name": "PC"}, "process": map[string]any{"name": "TD"}},
			"Process Crashed: TD: on PC", "PC", "TD", ""},
	} {
		got := cardOf(EventProcessCrashed, c.data)
		if got.summary() != c.summary || got.machine != c.machine || got.process != c.process || got.details != c.details {
			t.Errorf("%s: got summary %q machine %q process %q details %q", c.name, got.summary(), got.machine, got.process, got.details)
		}
	}
}

func TestSlackBlocks(t *testing.T) {
	var s struct {
		Text   string
		Blocks []map[string]any
	}
	data := map[string]any{"machine": map[string]any{"name": "PC<1>"}, "details": "a & b"}
	decode(t, Slack, EventMachineOffline, data, &s)
	if s.Text != "Machine Offline: on PC&lt;1&gt;" {
		t.Errorf("text %q", s.Text)
	}
	types := []string{}
	for _, b := range s.Blocks {
		types = append(types, b["type"].(string))
	}
	if strings.Join(types, ",") != "header,section,section,context" {
		t.Errorf("blocks %v", types)
	}
	ctx := s.Blocks[3]["elements"].([]any)[0].(map[string]any)["text"]
	if ctx != "owlette | Site | 2026-12-03 13:05:09 UTC" {
		t.Errorf("context %q", ctx)
	}
	fields := s.Blocks[1]["fields"].([]any)
	if len(fields) != 1 || fields[0].(map[string]any)["text"] != "*Machine:*\nPC&lt;1&gt;" {
		t.Errorf("fields %v", fields)
	}

	// Nothing to show: header and context only.
	decode(t, Slack, EventMachineOffline, nil, &s)
	if len(s.Blocks) != 2 || s.Blocks[0]["type"] != "header" || s.Blocks[1]["type"] != "context" {
		t.Errorf("empty data blocks %v", s.Blocks)
	}
}

func TestDiscordEmbed(t *testing.T) {
	var d struct {
		Embeds []struct {
			Description *string
			Fields      []discordField
			Timestamp   string
			Footer      discordFooter
		}
	}
	decode(t, Discord, EventMachineOffline, map[string]any{"processName": "TD"}, &d)
	e := d.Embeds[0]
	if e.Description != nil {
		t.Errorf("description should be omitted, got %q", *e.Description)
	}
	want := []discordField{{"Process", "TD", true}, {"Site", "Site", true}}
	if len(e.Fields) != 2 || e.Fields[0] != want[0] || e.Fields[1] != want[1] {
		t.Errorf("fields %v", e.Fields)
	}
	if e.Timestamp != "2026-12-03T13:05:09.087Z" || e.Footer.Text != "owlette" {
		t.Errorf("timestamp %q footer %q", e.Timestamp, e.Footer.Text)
	}
}

func TestOverlongTextsAreClipped(t *testing.T) {
	long := strings.Repeat("é", 10000)
	data := map[string]any{"machine": map[string]any{"name": long}, "processName": long, "details": long}
	var d struct {
		Embeds []struct {
			Title, Description string
			Fields             []discordField
		}
	}
	decode(t, Discord, EventProcessCrashed, data, &d)
	e := d.Embeds[0]
	total := runes(e.Title) + runes(e.Description) + len("owlette")
	for _, f := range e.Fields {
		if runes(f.Value) > discordFieldMax {
			t.Errorf("field %s has %d characters", f.Name, runes(f.Value))
		}
		total += runes(f.Name) + runes(f.Value)
	}
	if total > discordEmbedMax || runes(e.Description) > discordDescriptionMax {
		t.Errorf("embed has %d characters, description %d", total, runes(e.Description))
	}
	if !strings.HasSuffix(e.Description, "…") {
		t.Error("clipped description not marked")
	}

	var s struct{ Blocks []map[string]any }
	decode(t, Slack, EventProcessCrashed, data, &s)
	for _, f := range s.Blocks[1]["fields"].([]any) {
		if n := runes(f.(map[string]any)["text"].(string)); n > slackFieldMax {
			t.Errorf("slack field has %d characters", n)
		}
	}
	if n := runes(s.Blocks[2]["text"].(map[string]any)["text"].(string)); n > slackTextMax {
		t.Errorf("slack details has %d characters", n)
	}

	// Within the limits nothing changes.
	if got := clip("short", 5); got != "short" {
		t.Errorf("clip changed %q", got)
	}
}

func decode(t *testing.T, p Platform, event string, data map[string]any, v any) {
	t.Helper()
	b, err := Payload(p, event, Site{"s", "Site"}, data, eventTime)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

func runes(s string) int { return len([]rune(s)) }
