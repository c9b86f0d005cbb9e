// Package email builds and sends owlette's e-mails through Resend
// (DECISIONS §4: the official Go SDK, github.com/resend/resend-go/v3).
//
// Three parts, used by the notification-queue trigger (shared/notify):
//
//   - Templates: one typed input per e-mail of datamodel.md §7.7
//     (AgentAlert, MachinesOffline, ThresholdAlert, CortexEscalation,
//     Simulated, Signup, Welcome, Feedback) and the E64 previews (Sample).
//     Each renders a Mail {Subject, HTML, Text} in one branded, table-based
//     layout. Every value is HTML-escaped by html/template and subjects are
//     flattened to one line (DECISIONS §2 5.11); links are http(s) only.
//   - Times: FormatTime renders "M/D/YYYY, h:mm:ss AM/PM <zone>" in a
//     machine's machine_timezone, which agents write as a Windows zone key
//     name: those are mapped to IANA, unknown names fall back to UTC, and
//     formatting never fails (api.md §5.18).
//   - Sending: Sender wraps the SDK with Resend's Idempotency-Key and an
//     error that says whether a retry can help (IsPermanent).
//
// Unsubscribe tokens (api.md §1.14, E66) live here too, because every
// per-recipient alert carries one: Unsubscriber.
package email
