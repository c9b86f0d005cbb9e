package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver is a loopback webhook endpoint that records what it got.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

type received struct {
	header http.Header
	body   []byte
	path   string
}

func newReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{req.Header.Clone(), body, req.URL.Path})
		r.mu.Unlock()
		if h != nil {
			h(w, req)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

var dev = Policy{AllowLoopback: true}

const secret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func attempt(url string, now time.Time) Attempt {
	return Attempt{
		URL: url, Secret: secret, Event: EventProcessCrashed, MessageID: "notification_abc:hook1",
		Site: Site{"site-a", "Main Hall"},
		Data: map[string]any{
			"machine": map[string]any{"id": "pc-01", "name": "PC-01"},
			"process": map[string]any{"name": "TouchDesigner", "error": "exit 3"},
		},
		Timestamp: eventTime, Now: now,
	}
}

func TestDeliverGenericSignedBothWays(t *testing.T) {
	rcv := newReceiver(t, nil)
	client := NewClient(dev, Timeout)
	ctx := context.Background()

	first := Deliver(ctx, client, attempt(rcv.URL+"/hook", time.Now()))
	retry := Deliver(ctx, client, attempt(rcv.URL+"/hook", time.Now().Add(2*time.Second)))
	for _, res := range []Result{first, retry} {
		if res.Status != 200 || !res.OK() || res.Err != nil || string(res.Body) != "ok" || res.Duration <= 0 {
			t.Fatalf("result %+v", res)
		}
	}
	reqs := rcv.got()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	wh, err := standardwebhooks.NewWebhook(StandardSecret(secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		h := r.header
		if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "owlette-Webhooks/1.0" {
			t.Errorf("headers %v", h)
		}
		if h.Get("X-owlette-Event") != EventProcessCrashed {
			t.Errorf("X-owlette-Event %q", h.Get("X-owlette-Event"))
		}
		// The original's scheme, as its receivers check it: HMAC keyed with
		// the secret string's bytes over the raw body.
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(r.body)
		if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); h.Get("X-owlette-Signature") != want {
			t.Errorf("X-owlette-Signature %q, want %q", h.Get("X-owlette-Signature"), want)
		}
		// Standard Webhooks, with the reference library and its timestamp
		// tolerance, configured with the whsec_ form we show.
		if err := wh.Verify(r.body, h); err != nil {
			t.Errorf("standard webhooks: %v", err)
		}
		var body struct {
			Event     string
			Timestamp string
			Site      Site
		}
		if err := json.Unmarshal(r.body, &body); err != nil || body.Event != EventProcessCrashed ||
			body.Timestamp != "2026-12-03T13:05:09.087Z" || body.Site != (Site{"site-a", "Main Hall"}) {
			t.Errorf("body %s (%v)", r.body, err)
		}
	}
	// A retry is the same message: same id and body, a fresh timestamp.
	if reqs[0].header.Get("webhook-id") != "notification_abc:hook1" || reqs[1].header.Get("webhook-id") != "notification_abc:hook1" {
		t.Errorf("webhook-id %q %q", reqs[0].header.Get("webhook-id"), reqs[1].header.Get("webhook-id"))
	}
	if string(reqs[0].body) != string(reqs[1].body) {
		t.Error("retry body differs")
	}
	if reqs[0].header.Get("webhook-timestamp") == reqs[1].header.Get("webhook-timestamp") {
		t.Error("retry reused the webhook-timestamp")
	}
}

func TestDeliverTimestampIsAttemptTime(t *testing.T) {
	rcv := newReceiver(t, nil)
	now := time.Unix(1767225600, 0)
	Deliver(context.Background(), NewClient(dev, Timeout), attempt(rcv.URL, now))
	r := rcv.got()[0]
	if got := r.header.Get("webhook-timestamp"); got != strconv.FormatInt(now.Unix(), 10) {
		t.Errorf("webhook-timestamp %q", got)
	}
	wh, _ := standardwebhooks.NewWebhook(StandardSecret(secret))
	if err := wh.Verify(r.body, r.header); !errors.Is(err, standardwebhooks.ErrMessageTooOld) {
		t.Errorf("an old attempt time should fail the receiver's tolerance, got %v", err)
	}
}

func TestDeliverTestSend(t *testing.T) {
	rcv := newReceiver(t, nil)
	res := Deliver(context.Background(), NewClient(dev, TestTimeout), TestAttempt(rcv.URL, secret, "test:hook1", time.Now()))
	if !res.OK() {
		t.Fatalf("%+v", res)
	}
	r := rcv.got()[0]
	if r.header.Get("X-owlette-Event") != "test" {
		t.Errorf("X-owlette-Event %q", r.header.Get("X-owlette-Event"))
	}
	var body struct {
		Event string
		Site  Site
		Data  map[string]any
	}
	json.Unmarshal(r.body, &body)
	if body.Event != EventProcessCrashed || body.Site != (Site{"test", "Test Site"}) ||
		body.Data["details"] != "This is a test webhook from owlette." {
		t.Errorf("body %s", r.body)
	}
}

func TestDeliverSlackAndDiscordUnsigned(t *testing.T) {
	rcv := newReceiver(t, nil)
	client := NewClient(dev, Timeout)
	for _, path := range []string{"/hooks.slack.com/services/T/B/x", "/discord.com/api/webhooks/1/tok"} {
		a := attempt(rcv.URL+path, time.Now())
		a.MessageID = "" // not needed without a signature
		if res := Deliver(context.Background(), client, a); !res.OK() {
			t.Fatalf("%s: %+v", path, res)
		}
	}
	if len(rcv.got()) != 2 {
		t.Fatalf("%d requests", len(rcv.got()))
	}
	for _, r := range rcv.got() {
		for _, h := range []string{"X-owlette-Signature", "X-owlette-Event", "webhook-id", "webhook-timestamp", "webhook-signature"} {
			if r.header.Get(h) != "" {
				t.Errorf("%s: unexpected %s", r.path, h)
			}
		}
		if r.header.Get("Content-Type") != "application/json" || r.header.Get("User-Agent") != UserAgent {
			t.Errorf("%s: headers %v", r.path, r.header)
		}
		want := map[bool]string{true: `"blocks":`, false: `"embeds":`}[strings.Contains(r.path, "slack")]
		if !strings.Contains(string(r.body), want) {
			t.Errorf("%s: body %s", r.path, r.body)
		}
	}
}

func TestDeliverNon2xx(t *testing.T) {
	for _, code := range []int{300, 404, 500, 503} {
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			io.WriteString(w, "nope")
		})
		res := Deliver(context.Background(), NewClient(dev, Timeout), attempt(rcv.URL, time.Now()))
		if res.Status != code || res.OK() || res.Err != nil || string(res.Body) != "nope" {
			t.Errorf("%d: %+v", code, res)
		}
	}
	for _, code := range []int{200, 201, 204, 299} {
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) })
		if res := Deliver(context.Background(), NewClient(dev, Timeout), attempt(rcv.URL, time.Now())); !res.OK() || res.Status != code {
			t.Errorf("%d: %+v", code, res)
		}
	}
}

func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	inner := newReceiver(t, nil)
	for _, code := range []int{301, 302, 303, 307, 308} {
		outer := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, inner.URL+"/stolen", code)
		})
		res := Deliver(context.Background(), NewClient(dev, Timeout), attempt(outer.URL, time.Now()))
		if res.Status != code || res.OK() || res.Err != nil {
			t.Errorf("%d: %+v", code, res)
		}
		if len(outer.got()) != 1 {
			t.Errorf("%d: outer hit %d times", code, len(outer.got()))
		}
	}
	if n := len(inner.got()); n != 0 {
		t.Errorf("redirect target reached %d times", n)
	}
}

func TestDeliverTimeout(t *testing.T) {
	release := make(chan struct{})
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before rcv.Close (cleanup) waits for the handler

	start := time.Now()
	res := Deliver(context.Background(), NewClient(dev, 150*time.Millisecond), attempt(rcv.URL, time.Now()))
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v", elapsed)
	}
	var ne net.Error
	if res.Status != 0 || !errors.As(res.Err, &ne) || !ne.Timeout() {
		t.Errorf("want a timeout with status 0, got %+v", res)
	}
	if res.Duration < 150*time.Millisecond {
		t.Errorf("duration %v shorter than the timeout", res.Duration)
	}
}

func TestDeliverContextDeadline(t *testing.T) {
	release := make(chan struct{})
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := Deliver(ctx, NewClient(dev, Timeout), attempt(rcv.URL, time.Now()))
	if res.Status != 0 || !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("%+v", res)
	}
}

func TestDeliverReadsAtMost64KiB(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100<<10))
	})
	res := Deliver(context.Background(), NewClient(dev, Timeout), attempt(rcv.URL, time.Now()))
	if !res.OK() || len(res.Body) != 64<<10 {
		t.Errorf("status %d, %d bytes", res.Status, len(res.Body))
	}
}

func TestDeliverRefusesForeignClient(t *testing.T) {
	rcv := newReceiver(t, nil)
	for _, c := range []*http.Client{nil, http.DefaultClient, {Transport: http.DefaultTransport}} {
		if res := Deliver(context.Background(), c, attempt(rcv.URL, time.Now())); !errors.Is(res.Err, ErrUnguardedClient) {
			t.Errorf("%v: %+v", c, res)
		}
	}
	if len(rcv.got()) != 0 {
		t.Error("an unguarded client reached the target")
	}
}

func TestDeliverNeedsMessageID(t *testing.T) {
	rcv := newReceiver(t, nil)
	a := attempt(rcv.URL, time.Now())
	a.MessageID = ""
	if res := Deliver(context.Background(), NewClient(dev, Timeout), a); res.Err == nil || res.Status != 0 {
		t.Errorf("%+v", res)
	}
	if len(rcv.got()) != 0 {
		t.Error("sent without webhook-id")
	}
}
