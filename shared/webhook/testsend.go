package webhook

import "time"

// HeaderEventTest is X-owlette-Event of the E47 test send.
const HeaderEventTest = "test"

// TestAttempt is the fixed E47 sample (api.md §2.17): a process.crashed
// event for site {test, Test Site} with header event "test". Send it with
// a client of TestTimeout and store only RecordAttempt: failCount and
// enabled stay as they are, and a disabled target can be tested.
func TestAttempt(url, secret, messageID string, now time.Time) Attempt {
	return Attempt{
		URL:         url,
		Secret:      secret,
		Event:       EventProcessCrashed,
		HeaderEvent: HeaderEventTest,
		MessageID:   messageID,
		Site:        Site{ID: "test", Name: "Test Site"},
		Data: map[string]any{
			"machine": map[string]any{"name": "MEDIA-SERVER-01"},
			"process": map[string]any{"name": "TouchDesigner"},
			"details": "This is a test webhook from owlette.",
		},
		Now: now,
	}
}
