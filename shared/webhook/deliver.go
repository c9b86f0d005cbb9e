package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// MaxResponseBody is how much of a response Deliver reads.
const MaxResponseBody = 64 << 10

// ErrUnguardedClient: Deliver was given a client not made by NewClient,
// which would reach any address.
var ErrUnguardedClient = errors.New("webhook: client not made by NewClient")

// Attempt is one delivery of one event to one target.
type Attempt struct {
	URL    string
	Secret string // the stored 64-hex secret
	Event  string // payload event, e.g. EventProcessCrashed
	// HeaderEvent is X-owlette-Event; "" means Event (E47 sends "test").
	HeaderEvent string
	// MessageID is webhook-id: stable for the event and target, the same on
	// every retry, so receivers can drop duplicates (e.g. the queue
	// document's dedupe key). Required for generic targets.
	MessageID string
	Site      Site
	Data      map[string]any
	// Timestamp is the event time, written into the body; zero means Now.
	// Keep it fixed across retries so the body (and signature input) is too.
	Timestamp time.Time
	// Now is the time of this attempt: webhook-timestamp, which receivers
	// check against their clock (5 min tolerance). Zero means time.Now().
	Now time.Time
}

// Result is the outcome of one attempt.
type Result struct {
	// Status is the HTTP status, 0 when no response arrived (network
	// error, timeout, refused target).
	Status int
	// Err is why no response arrived; nil whenever Status != 0. It never
	// contains the URL (Slack and Discord URLs are credentials), so it may
	// be logged and shown (E47 "error").
	Err error
	// Duration is the time from sending to the end of reading the response.
	Duration time.Duration
	// Body is the start of the response body, at most MaxResponseBody bytes.
	Body []byte
}

// OK reports a 2xx response, which alone counts as delivered.
func (r Result) OK() bool { return r.Status >= 200 && r.Status <= 299 }

// Deliver makes one attempt: it builds the body for the URL's platform,
// signs it (generic targets only), posts it with client (from NewClient)
// and reads at most MaxResponseBody of the answer. It never panics and
// never retries; see NextRetry and Bookkeep for what follows.
func Deliver(ctx context.Context, client *http.Client, a Attempt) Result {
	if client == nil {
		return Result{Err: ErrUnguardedClient}
	}
	if _, ok := client.Transport.(*guardTransport); !ok {
		return Result{Err: ErrUnguardedClient}
	}
	now := a.Now
	if now.IsZero() {
		now = time.Now()
	}
	ts := a.Timestamp
	if ts.IsZero() {
		ts = now
	}
	platform := PlatformOf(a.URL)
	if platform == Generic && a.MessageID == "" {
		return Result{Err: errors.New("webhook: Attempt.MessageID is required")}
	}
	body, err := Payload(platform, a.Event, a.Site, a.Data, ts)
	if err != nil {
		return Result{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, bytes.NewReader(body))
	if err != nil {
		return Result{Err: invalid("cannot be parsed")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if platform == Generic {
		event := a.HeaderEvent
		if event == "" {
			event = a.Event
		}
		req.Header.Set(HeaderSignature, Signature(a.Secret, body))
		req.Header.Set(HeaderEvent, event)
		req.Header.Set(HeaderWebhookID, a.MessageID)
		req.Header.Set(HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(HeaderWebhookSignature, StandardSignature(a.Secret, a.MessageID, now, body))
	}

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Result{Err: withoutURL(err), Duration: time.Since(start)}
	}
	defer resp.Body.Close()
	// A body cut short by the timeout does not undo the status received.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	return Result{Status: resp.StatusCode, Duration: time.Since(start), Body: snippet}
}

// withoutURL drops the *url.Error layer, whose text repeats the URL.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
