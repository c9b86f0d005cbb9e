// Package webhook delivers one outbound webhook attempt to one target
// (api.md §1.13, datamodel.md §7.6, DECISIONS.md §3 "Webhooks").
//
// It builds the body for the target's platform (generic JSON, Slack or
// Discord, chosen by substrings of the URL as the original does), signs
// generic bodies twice (the original's X-owlette-Signature and the Standard
// Webhooks webhook-id/-timestamp/-signature headers), and posts it through
// an *http.Client that refuses non-public addresses at connect time, so a
// name that passed validation and later resolves to a private address is
// still refused.
//
// The package reads and writes no Firestore: the delivery trigger selects
// the targets, calls Deliver once per target and attempt, and stores what
// Bookkeep (or RecordAttempt) returns. NextRetry gives its backoff schedule.
//
// Typical use by the trigger:
//
//	client := webhook.NewClient(webhook.Policy{}, webhook.Timeout) // once per instance
//	res := webhook.Deliver(ctx, client, webhook.Attempt{
//		URL: hook.URL, Secret: hook.Secret, Event: job.Webhook.Event,
//		MessageID: job.DedupeKey, Site: site, Data: job.Webhook.Data,
//		Timestamp: job.CreatedAt, Now: now,
//	})
package webhook
