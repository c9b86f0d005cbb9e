package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/owlette/server/shared/webhook"
)

// Receiver is the webhook target: it checks each delivery's signature and
// hands alert deliveries to onAlert. Down stops listening (the target is
// unreachable: connection refused); Up listens again on the same address.
type Receiver struct {
	addr    string
	onAlert func(errorMessage, webhookID string)

	mu       sync.Mutex
	secret   string
	srv      *http.Server
	received int
	badSig   int
	other    int // deliveries that are not alerts of this run
}

// StartReceiver listens on a free port below the ephemeral range.
func StartReceiver(onAlert func(errorMessage, webhookID string)) (*Receiver, error) {
	ln, err := listenLow()
	if err != nil {
		return nil, err
	}
	r := &Receiver{addr: ln.Addr().String(), onAlert: onAlert}
	r.serve(ln)
	return r, nil
}

// URL is where the webhook points.
func (r *Receiver) URL() string { return "http://" + r.addr + "/hook" }

// SetSecret sets the webhook's signing secret (E45's answer).
func (r *Receiver) SetSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *Receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	secret := r.secret
	r.received++
	r.mu.Unlock()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal([]byte(req.Header.Get(webhook.HeaderSignature)), []byte("sha256="+hex.EncodeToString(mac.Sum(nil)))) {
		r.mu.Lock()
		r.badSig++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p struct {
		Event string `json:"event"`
		Data  struct {
			Process struct {
				Error string `json:"error"`
			} `json:"process"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &p) != nil || p.Data.Process.Error == "" {
		r.mu.Lock()
		r.other++
		r.mu.Unlock()
	} else {
		r.onAlert(p.Data.Process.Error, req.Header.Get("webhook-id"))
	}
	w.WriteHeader(http.StatusOK)
}

// Down closes the listener and every open connection.
func (r *Receiver) Down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up listens again on the same address.
func (r *Receiver) Up() error {
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			r.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.Join(errors.New("webhook receiver: listen again on "+r.addr), err)
}

// Counts returns the deliveries received, those with a bad signature and
// those that were not this run's alerts.
func (r *Receiver) Counts() (received, badSig, other int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received, r.badSig, r.other
}
