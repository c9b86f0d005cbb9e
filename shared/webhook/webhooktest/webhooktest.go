// Package webhooktest is a loopback webhook receiver for tests: it records
// every delivery, checks both signature schemes a generic target gets
// (X-owlette-Signature, and Standard Webhooks with its reference library),
// and can be told to fail its first attempts.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/owlette/server/shared/webhook"
)

// Delivery is one request the receiver got.
type Delivery struct {
	Header http.Header
	Path   string
	Body   []byte
	JSON   map[string]any
	At     time.Time
	Status int // what the receiver answered
	// SignatureOK and StandardOK report whether the two signatures verified
	// against the receiver's secret.
	SignatureOK, StandardOK bool
	StandardErr             error
}

// Receiver is an httptest server acting as a webhook target.
type Receiver struct {
	*httptest.Server
	Secret string

	mu        sync.Mutex
	failFirst int
	failWith  int
	status    int // answer after the failures
	got       []Delivery
	notify    chan struct{}
}

// New starts a receiver checking signatures against secret (a 64-hex
// webhook secret, as E45 generates).
func New(t testing.TB, secret string) *Receiver {
	t.Helper()
	r := &Receiver{Secret: secret, status: http.StatusOK, notify: make(chan struct{}, 1024)}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// Respond makes every delivery after any FailFirst ones answer status.
func (r *Receiver) Respond(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// FailFirst makes the next n deliveries answer status.
func (r *Receiver) FailFirst(n, status int) {
	r.mu.Lock()
	r.failFirst, r.failWith = n, status
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	d := Delivery{Header: req.Header.Clone(), Path: req.URL.Path, Body: body, At: time.Now()}
	_ = json.Unmarshal(body, &d.JSON)
	mac := hmac.New(sha256.New, []byte(r.Secret))
	mac.Write(body)
	d.SignatureOK = hmac.Equal([]byte(req.Header.Get(webhook.HeaderSignature)), []byte("sha256="+hex.EncodeToString(mac.Sum(nil))))
	if wh, err := standardwebhooks.NewWebhook(webhook.StandardSecret(r.Secret)); err == nil {
		d.StandardErr = wh.Verify(body, req.Header)
		d.StandardOK = d.StandardErr == nil
	} else {
		d.StandardErr = err
	}
	r.mu.Lock()
	d.Status = r.status
	if r.failFirst > 0 {
		r.failFirst--
		d.Status = r.failWith
	}
	r.got = append(r.got, d)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(d.Status)
	fmt.Fprint(w, "ok")
}

// Deliveries returns what arrived so far.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

// Wait blocks until n deliveries arrived or timeout passes; it fails the
// test on timeout.
func (r *Receiver) Wait(t testing.TB, n int, timeout time.Duration) []Delivery {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := r.Deliveries(); len(got) >= n {
			return got
		}
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("webhook receiver: %d deliveries after %v, want %d", len(r.Deliveries()), timeout, n)
		}
	}
}
