package email

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/resend/resend-go/v3"

	"github.com/owlette/server/shared/email/resendfake"
)

func startFake(t *testing.T, opts ...resendfake.Option) *resendfake.Server {
	t.Helper()
	f, err := resendfake.Start("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func newSender(t *testing.T, key, from, base string, hc *http.Client) *Sender {
	t.Helper()
	s, err := NewSender(key, from, base, hc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func okMessage() Message {
	return Message{To: []string{"ops@example.com"}, Subject: "hello", HTML: "<p>hi</p>", Text: "hi"}
}

func TestSendThroughSDK(t *testing.T) {
	f := startFake(t, resendfake.WithAPIKey("re_test"))
	s := newSender(t, "re_test", "", f.URL(), nil)
	if s.From() != DefaultFrom {
		t.Fatalf("From = %q", s.From())
	}
	mail := AgentAlert{EventType: EventProcessCrash, MachineID: "PC\r\n-1", ProcessName: "TD", Links: Links{UnsubscribeURL: unsubURL}}.Render()
	msg := mail.Message([]string{" ops@example.com ", "", "ops@example.com"}, []string{"OPS@example.com", "cc@example.com", "cc@example.com"}, "job-1:uid-1")
	id, err := s.Send(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	got := f.Messages()
	if len(got) != 1 || got[0].ID != id || id == "" {
		t.Fatalf("id %q, caught %+v", id, got)
	}
	m := got[0]
	if m.From != DefaultFrom || strings.Join(m.To, ",") != "ops@example.com" || strings.Join(m.CC, ",") != "cc@example.com" {
		t.Errorf("addresses: from %q to %v cc %v", m.From, m.To, m.CC)
	}
	if m.Subject != "Process crashed: TD on PC -1" || m.HTML != mail.HTML || m.Text != mail.Text {
		t.Errorf("content: subject %q", m.Subject)
	}
	if m.IdempotencyKey != "job-1:uid-1" || m.Headers["List-Unsubscribe"] != "<"+unsubURL+">" {
		t.Errorf("key %q, headers %v", m.IdempotencyKey, m.Headers)
	}

	// A per-message sender overrides the default.
	msg2 := okMessage()
	msg2.From = "owlette <alerts@example.com>"
	if _, err := s.Send(context.Background(), msg2); err != nil {
		t.Fatal(err)
	}
	if got := f.Messages(); got[1].From != "owlette <alerts@example.com>" {
		t.Errorf("override from = %q", got[1].From)
	}
}

func TestSendIdempotent(t *testing.T) {
	f := startFake(t)
	s := newSender(t, "re_test", "alerts@example.com", f.URL(), nil)
	ctx := context.Background()
	msg := okMessage()
	msg.IdempotencyKey = "notification_queue/abc:uid-1"
	id1, err1 := s.Send(ctx, msg)
	id2, err2 := s.Send(ctx, msg)
	if err1 != nil || err2 != nil || id1 != id2 {
		t.Fatalf("same key: %q %v, %q %v", id1, err1, id2, err2)
	}
	if n := len(f.Messages()); n != 1 {
		t.Fatalf("same key stored %d times", n)
	}
	msg.IdempotencyKey = "notification_queue/abc:uid-2"
	id3, err := s.Send(ctx, msg)
	if err != nil || id3 == id1 || len(f.Messages()) != 2 {
		t.Fatalf("other key: %q %v, %d stored", id3, err, len(f.Messages()))
	}
	// Keys beyond Resend's 256 characters are hashed, stably.
	msg.IdempotencyKey = strings.Repeat("k", 300)
	id4, err4 := s.Send(ctx, msg)
	id5, err5 := s.Send(ctx, msg)
	if err4 != nil || err5 != nil || id4 != id5 {
		t.Fatalf("long key: %q %v, %q %v", id4, err4, id5, err5)
	}
	last := f.Messages()[len(f.Messages())-1]
	if len(last.IdempotencyKey) > 256 || last.IdempotencyKey == "" {
		t.Errorf("sent key %q", last.IdempotencyKey)
	}
	// No key, no deduplication.
	msg.IdempotencyKey = ""
	s.Send(ctx, msg)
	s.Send(ctx, msg)
	if n := len(f.Messages()); n != 5 {
		t.Errorf("%d stored, want 5", n)
	}
}

func TestSendFailureClassification(t *testing.T) {
	f := startFake(t)
	s := newSender(t, "re_test", "", f.URL(), nil)
	for _, c := range []struct {
		status    int
		permanent bool
	}{
		{400, true}, {403, true}, {404, true}, {422, true}, {451, true},
		{408, false}, {409, false}, {429, false},
		{500, false}, {502, false}, {503, false},
		{0, false}, // connection dropped without an answer
	} {
		f.FailNext(1, c.status)
		_, err := s.Send(context.Background(), okMessage())
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status {
			t.Errorf("status %d: err %v", c.status, err)
			continue
		}
		if IsPermanent(err) != c.permanent {
			t.Errorf("status %d: IsPermanent = %v, want %v (%v)", c.status, !c.permanent, c.permanent, err)
		}
		if c.status == 429 && !errors.Is(err, resend.ErrRateLimit) {
			t.Errorf("429 does not wrap the SDK's rate-limit error: %v", err)
		}
		if (c.status != 0 && e.Message == "") || strings.HasPrefix(e.Message, "[ERROR]") {
			t.Errorf("status %d: message %q", c.status, e.Message)
		}
	}
	if n := len(f.Messages()); n != 0 {
		t.Fatalf("failed sends stored %d mails", n)
	}
	// After the injected failures the fake delivers again.
	if _, err := s.Send(context.Background(), okMessage()); err != nil {
		t.Fatalf("send after failures: %v", err)
	}
}

func TestSendAuthFailure(t *testing.T) {
	f := startFake(t, resendfake.WithAPIKey("re_right"))
	s := newSender(t, "re_wrong", "", f.URL(), nil)
	_, err := s.Send(context.Background(), okMessage())
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Message != "API key is invalid" {
		t.Fatalf("err = %v", err)
	}
	if !IsPermanent(err) {
		t.Error("a rejected key is retried")
	}
	if len(f.Messages()) != 0 {
		t.Error("mail stored despite a wrong key")
	}
}

func TestSendTimeoutAndNetworkErrors(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })

	s := newSender(t, "re_test", "", slow.URL, &http.Client{Timeout: 50 * time.Millisecond})
	_, err := s.Send(context.Background(), okMessage())
	var e *Error
	if !errors.As(err, &e) || e.Status != 0 || IsPermanent(err) {
		t.Fatalf("client timeout: %v (permanent %v)", err, IsPermanent(err))
	}

	s = newSender(t, "re_test", "", slow.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = s.Send(ctx, okMessage())
	if err == nil || IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("context deadline: %v", err)
	}

	gone := startFake(t)
	url := gone.URL()
	gone.Close()
	s = newSender(t, "re_test", "", url, nil)
	if _, err := s.Send(context.Background(), okMessage()); err == nil || IsPermanent(err) {
		t.Fatalf("refused connection: %v", err)
	}
}

func TestSendRejectsInvalidMessages(t *testing.T) {
	f := startFake(t)
	s := newSender(t, "re_test", "", f.URL(), nil)
	for name, mut := range map[string]func(*Message){
		"no recipient":       func(m *Message) { m.To = []string{" ", ""} },
		"blank subject":      func(m *Message) { m.Subject = "\r\n\t" },
		"no body":            func(m *Message) { m.HTML, m.Text = "", "" },
		"line break in to":   func(m *Message) { m.To = []string{"a@b.c\r\nBcc: x@y.z"} },
		"line break in from": func(m *Message) { m.From = "a@b.c\nBcc: x@y.z" },
		"header injection":   func(m *Message) { m.Headers = map[string]string{"X-A": "v\r\nBcc: x@y.z"} },
		"bad header name":    func(m *Message) { m.Headers = map[string]string{"X-A: b": "v"} },
	} {
		m := okMessage()
		mut(&m)
		_, err := s.Send(context.Background(), m)
		if !errors.Is(err, ErrInvalidMessage) || !IsPermanent(err) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if len(f.Messages()) != 0 {
		t.Error("an invalid message reached the API")
	}
}

func TestNewSender(t *testing.T) {
	if _, err := NewSender(" ", "", "", nil); err == nil {
		t.Error("empty API key accepted")
	}
	for _, bad := range []string{"api.resend.com", "ftp://x", "http://", "::"} {
		if _, err := NewSender("re_x", "", bad, nil); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
	// The caller's client is left alone.
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr}
	newSender(t, "re_x", "", "", hc)
	if hc.Transport != tr {
		t.Error("NewSender replaced the caller's transport")
	}
}

func TestSendBaseURLWithPath(t *testing.T) {
	f := resendfake.New()
	mux := http.NewServeMux()
	mux.Handle("/resend/", http.StripPrefix("/resend", f.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s := newSender(t, "re_x", "", srv.URL+"/resend", nil)
	if _, err := s.Send(context.Background(), okMessage()); err != nil {
		t.Fatal(err)
	}
	if len(f.Messages()) != 1 {
		t.Fatal("the path prefix of the base URL was lost")
	}
}

func TestIsPermanent(t *testing.T) {
	if IsPermanent(nil) || IsPermanent(errors.New("x")) || IsPermanent(context.Canceled) {
		t.Error("a non-API error is permanent")
	}
	if !IsPermanent(&Error{Status: 401}) || IsPermanent(&Error{Status: 200}) || IsPermanent(&Error{Status: 0}) {
		t.Error("status classification")
	}
}
