package resendfake

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/resend/resend-go/v3"
)

func start(t *testing.T, opts ...Option) (*Server, *resend.Client) {
	t.Helper()
	s, err := Start("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, client(t, s.URL(), "re_test")
}

func client(t *testing.T, base, key string) *resend.Client {
	t.Helper()
	c := resend.NewCustomClient(&http.Client{Timeout: 5 * time.Second}, key)
	u, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

func req() *resend.SendEmailRequest {
	return &resend.SendEmailRequest{
		From: "owlette <alerts@example.com>", To: []string{"a@example.com"}, Cc: []string{"c@example.com"},
		Subject: "hello", Html: "<p>hi</p>", Text: "hi", Tags: []resend.Tag{{Name: "kind", Value: "agent_alert"}},
		Headers: map[string]string{"List-Unsubscribe": "<https://x/u>"},
	}
}

// post sends a raw JSON body, for shapes the SDK never produces.
func post(t *testing.T, s *Server, path, auth, body string, hdr map[string]string) (int, apiError, []byte) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e apiError
	json.Unmarshal(raw, &e)
	return resp.StatusCode, e, raw
}

func TestSendAndRead(t *testing.T) {
	s, c := start(t, WithClock(func() time.Time { return time.Date(2026, 1, 15, 23, 4, 5, 123456000, time.UTC) }))
	resp, err := c.Emails.SendWithContext(context.Background(), req())
	if err != nil {
		t.Fatal(err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].ID != resp.Id || len(resp.Id) != 36 {
		t.Fatalf("id %q, stored %+v", resp.Id, msgs)
	}
	m := msgs[0]
	if m.From != "owlette <alerts@example.com>" || m.To[0] != "a@example.com" || m.CC[0] != "c@example.com" ||
		m.Subject != "hello" || m.HTML != "<p>hi</p>" || m.Text != "hi" || m.Tags[0].Value != "agent_alert" ||
		m.Headers["List-Unsubscribe"] != "<https://x/u>" {
		t.Errorf("stored %+v", m)
	}

	// GET /emails/{id} as the SDK reads it.
	got, err := c.Emails.Get(resp.Id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Id != resp.Id || got.Object != "email" || got.Subject != "hello" || got.Html != "<p>hi</p>" ||
		got.From != m.From || got.Cc[0] != "c@example.com" || got.CreatedAt != "2026-01-15 23:04:05.123456+00" || got.LastEvent != "delivered" {
		t.Errorf("Get = %+v", got)
	}
	if _, err := c.Emails.Get("00000000-0000-0000-0000-000000000000"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown id: %v", err)
	}
}

func TestAddressFieldsTakeStringOrArray(t *testing.T) {
	s, _ := start(t)
	status, e, _ := post(t, s, "/emails", "Bearer k",
		`{"from":"a@example.com","to":"b@example.com","cc":["c@example.com","d@example.com"],"reply_to":"r@example.com","subject":"s","text":"t"}`, nil)
	if status != 200 {
		t.Fatalf("status %d %+v", status, e)
	}
	m := s.Messages()[0]
	if len(m.To) != 1 || m.To[0] != "b@example.com" || len(m.CC) != 2 || m.ReplyTo[0] != "r@example.com" {
		t.Errorf("stored %+v", m)
	}
}

func TestAuth(t *testing.T) {
	s, _ := start(t, WithAPIKey("re_right"))
	for _, auth := range []string{"", "re_right", "Basic cmU6", "Bearer ", "Bearer  "} {
		status, e, _ := post(t, s, "/emails", auth, `{}`, nil)
		if status != 401 || e.StatusCode != 401 || e.Name != "missing_api_key" || e.Message == "" {
			t.Errorf("auth %q: %d %+v", auth, status, e)
		}
	}
	status, e, _ := post(t, s, "/emails", "Bearer re_wrong", `{}`, nil)
	if status != 401 || e.Message != "API key is invalid" {
		t.Errorf("wrong key: %d %+v", status, e)
	}
	// Through the SDK: its error carries Resend's message.
	_, err := client(t, s.URL(), "re_wrong").Emails.Send(req())
	if err == nil || err.Error() != "[ERROR]: API key is invalid" {
		t.Errorf("SDK error = %v", err)
	}
	if len(s.Messages()) != 0 {
		t.Error("unauthorised mail stored")
	}
}

func TestValidationErrorsAsResend(t *testing.T) {
	s, c := start(t)
	for _, tc := range []struct {
		body, name, message string
	}{
		{`{"to":"b@example.com","subject":"s","text":"t"}`, "missing_required_field", "Missing `from` field."},
		{`{"from":"a@example.com","subject":"s","text":"t"}`, "missing_required_field", "Missing `to` field."},
		{`{"from":"a@example.com","to":[],"subject":"s","text":"t"}`, "missing_required_field", "Missing `to` field."},
		{`{"from":"a@example.com","to":"b@example.com","text":"t"}`, "missing_required_field", "Missing `subject` field."},
		{`{"from":"a@example.com","to":"b@example.com","subject":"s"}`, "missing_required_field", "Missing `html` or `text` field."},
		{`{"from":"not an address","to":"b@example.com","subject":"s","text":"t"}`, "validation_error", "Invalid `from` field."},
		{`{"from":"a@example.com","to":["b@example.com","nope"],"subject":"s","text":"t"}`, "validation_error", "Invalid `to` field."},
		{`{"from":"a@example.com","to":"b@example.com","cc":[1],"subject":"s","text":"t"}`, "validation_error", "Invalid `cc` field."},
		{`{"from":"a@example.com","to":"b@example.com","subject":5,"text":"t"}`, "validation_error", "Invalid `subject` field."},
		{`{"from":"a@example.com","to":"b@example.com","subject":"s","text":"t","tags":[{"name":"bad tag","value":"v"}]}`, "validation_error", "Tags should only contain"},
		{`not json`, "validation_error", "Invalid JSON body."},
	} {
		status, e, _ := post(t, s, "/emails", "Bearer k", tc.body, nil)
		if status != 422 || e.StatusCode != 422 || e.Name != tc.name || !strings.HasPrefix(e.Message, tc.message) {
			t.Errorf("%s: %d %+v", tc.body, status, e)
		}
	}
	many := make([]string, 51)
	for i := range many {
		many[i] = "x@example.com"
	}
	r := req()
	r.To = many
	if _, err := c.Emails.Send(r); err == nil || !strings.Contains(err.Error(), "Too many recipients") {
		t.Errorf("51 recipients: %v", err)
	}
	// The SDK parses the 422 body: its error is Resend's message.
	r = req()
	r.Subject = ""
	if _, err := c.Emails.Send(r); err == nil || err.Error() != "[ERROR]: Missing `subject` field." {
		t.Errorf("SDK error = %v", err)
	}
	if len(s.Messages()) != 0 {
		t.Error("an invalid mail was stored")
	}
}

func TestIdempotency(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	opts := &resend.SendEmailOptions{IdempotencyKey: "job-1:uid-1"}
	a, err1 := c.Emails.SendWithOptions(ctx, req(), opts)
	b, err2 := c.Emails.SendWithOptions(ctx, req(), opts)
	if err1 != nil || err2 != nil || a.Id != b.Id {
		t.Fatalf("replay: %v %v %v %v", a, err1, b, err2)
	}
	if n := len(s.Messages()); n != 1 || s.Messages()[0].IdempotencyKey != "job-1:uid-1" {
		t.Fatalf("stored %d", n)
	}
	// Same key, other payload: Resend's 409.
	other := req()
	other.Subject = "changed"
	status, e, _ := post(t, s, "/emails", "Bearer k", `{"from":"a@example.com","to":"b@example.com","subject":"x","text":"t"}`,
		map[string]string{"Idempotency-Key": "job-1:uid-1"})
	if status != 409 || e.Name != "invalid_idempotent_request" {
		t.Errorf("reused key: %d %+v", status, e)
	}
	if _, err := c.Emails.SendWithOptions(ctx, other, opts); err == nil {
		t.Error("SDK: reused key with another payload succeeded")
	}
	// Key length outside 1–256.
	status, e, _ = post(t, s, "/emails", "Bearer k", `{}`, map[string]string{"Idempotency-Key": strings.Repeat("k", 257)})
	if status != 400 || e.Name != "invalid_idempotency_key" {
		t.Errorf("long key: %d %+v", status, e)
	}
	// Reset forgets keys: the same key sends anew.
	s.Reset()
	c2, err := c.Emails.SendWithOptions(ctx, req(), opts)
	if err != nil || c2.Id == a.Id || len(s.Messages()) != 1 {
		t.Errorf("after Reset: %v %v, %d stored", c2, err, len(s.Messages()))
	}
}

func TestFailNext(t *testing.T) {
	s, c := start(t)
	s.FailNext(2, http.StatusTooManyRequests)
	for range 2 {
		_, err := c.Emails.Send(req())
		var rl *resend.RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter != "1" || rl.Limit != "2" || !strings.Contains(rl.Message, "Too many requests") {
			t.Fatalf("429: %v", err)
		}
	}
	if _, err := c.Emails.Send(req()); err != nil {
		t.Fatalf("third send: %v", err)
	}
	s.FailNext(1, http.StatusInternalServerError)
	status, e, _ := post(t, s, "/emails", "Bearer k", `{}`, nil)
	if status != 500 || e.StatusCode != 500 || e.Name != "application_error" {
		t.Errorf("500: %d %+v", status, e)
	}
	// Auth comes first: an unauthenticated request does not use up a failure.
	s.FailNext(1, http.StatusServiceUnavailable)
	if status, _, _ := post(t, s, "/emails", "", `{}`, nil); status != 401 {
		t.Errorf("unauthenticated: %d", status)
	}
	if status, _, _ := post(t, s, "/emails", "Bearer k", `{}`, nil); status != 503 {
		t.Errorf("injected 503: %d", status)
	}
	// Status 0: the connection drops without an answer.
	s.FailNext(1, 0)
	if _, err := c.Emails.Send(req()); err == nil || strings.HasPrefix(err.Error(), "[ERROR]") {
		t.Errorf("dropped connection: %v", err)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("stored %d, want 1", n)
	}
	// Reset clears pending failures.
	s.FailNext(5, 500)
	s.Reset()
	if _, err := c.Emails.Send(req()); err != nil {
		t.Errorf("after Reset: %v", err)
	}
}

func TestBatch(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	bad := req()
	bad.To = []string{"nope"}
	resp, err := c.Batch.SendWithContext(ctx, []*resend.SendEmailRequest{req(), req()})
	if err != nil || len(resp.Data) != 2 || resp.Data[0].Id == resp.Data[1].Id || len(s.Messages()) != 2 {
		t.Fatalf("batch: %+v %v", resp, err)
	}
	// Strict (default): one invalid mail fails the lot.
	if _, err := c.Batch.SendWithContext(ctx, []*resend.SendEmailRequest{req(), bad}); err == nil ||
		!strings.Contains(err.Error(), "emails[1]: Invalid `to` field.") {
		t.Errorf("strict: %v", err)
	}
	if len(s.Messages()) != 2 {
		t.Errorf("strict batch stored mails")
	}
	// Permissive: the valid ones go, the others are listed by index.
	opts := &resend.BatchSendEmailOptions{BatchValidation: resend.BatchValidationPermissive, IdempotencyKey: "batch-1"}
	p, err := c.Batch.SendWithOptions(ctx, []*resend.SendEmailRequest{bad, req()}, opts)
	if err != nil || len(p.Data) != 1 || len(p.Errors) != 1 || p.Errors[0].Index != 0 {
		t.Fatalf("permissive: %+v %v", p, err)
	}
	again, err := c.Batch.SendWithOptions(ctx, []*resend.SendEmailRequest{bad, req()}, opts)
	if err != nil || again.Data[0].Id != p.Data[0].Id || len(s.Messages()) != 3 {
		t.Errorf("idempotent batch: %+v %v, %d stored", again, err, len(s.Messages()))
	}
	status, e, _ := post(t, s, "/emails/batch", "Bearer k", `[]`, nil)
	if status != 422 || e.Name != "validation_error" {
		t.Errorf("empty batch: %d %+v", status, e)
	}
}

func TestListNewestFirst(t *testing.T) {
	s, c := start(t)
	var ids []string
	for _, subj := range []string{"one", "two", "three"} {
		r := req()
		r.Subject = subj
		resp, err := c.Emails.Send(r)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.Id)
	}
	limit := 2
	page, err := c.Emails.ListWithOptions(context.Background(), &resend.ListOptions{Limit: &limit})
	if err != nil || page.Object != "list" || !page.HasMore || len(page.Data) != 2 ||
		page.Data[0].Id != ids[2] || page.Data[1].Id != ids[1] {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	after := page.Data[1].Id
	page, err = c.Emails.ListWithOptions(context.Background(), &resend.ListOptions{Limit: &limit, After: &after})
	if err != nil || page.HasMore || len(page.Data) != 1 || page.Data[0].Id != ids[0] {
		t.Fatalf("page 2: %+v %v", page, err)
	}
	// Without a key too, for a browser.
	resp, err := http.Get(s.URL() + "/emails")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /emails: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestWaitFor(t *testing.T) {
	s, c := start(t)
	go func() {
		time.Sleep(20 * time.Millisecond)
		r := req()
		r.Subject = "late"
		c.Emails.Send(r)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := s.WaitFor(ctx, func(m Message) bool { return m.Subject == "late" })
	if err != nil || m.Subject != "late" {
		t.Fatalf("WaitFor = %+v, %v", m, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := s.WaitFor(short, func(m Message) bool { return m.Subject == "never" }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no match: %v", err)
	}
}

func TestMessagesAreCopies(t *testing.T) {
	s, c := start(t)
	c.Emails.Send(req())
	got := s.Messages()
	got[0].To[0] = "changed@example.com"
	got[0].Headers["X"] = "y"
	again := s.Messages()[0]
	if again.To[0] != "a@example.com" || again.Headers["X"] != "" {
		t.Error("Messages exposes the fake's own slices")
	}
}

func TestInboxPages(t *testing.T) {
	f := New()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	c := client(t, srv.URL, "k")
	first := req()
	first.Subject = "first mail"
	c.Emails.Send(first)
	evil := req()
	evil.Subject = `<script>alert("subject")</script>`
	evil.Html = `<p>body</p><script>alert("body")</script>`
	resp, err := c.Emails.Send(evil)
	if err != nil {
		t.Fatal(err)
	}

	get := func(path string) (string, http.Header) {
		r, err := http.Get(srv.URL + path)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, r, err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return string(b), r.Header
	}
	inbox, h := get("/")
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("inbox CSP = %q", h.Get("Content-Security-Policy"))
	}
	if strings.Contains(inbox, "<script>") || !strings.Contains(inbox, "&lt;script&gt;") {
		t.Error("inbox does not escape subjects")
	}
	if i, j := strings.Index(inbox, "&lt;script&gt;"), strings.Index(inbox, "first mail"); i < 0 || j < 0 || i > j {
		t.Error("inbox is not newest first")
	}
	if !strings.Contains(inbox, `href="/view/`+resp.Id+`"`) {
		t.Error("inbox does not link the mail")
	}

	view, h := get("/view/" + resp.Id)
	if strings.Contains(view, "<script>") || strings.Contains(view, "<p>body</p>") {
		t.Error("view page embeds the mail's HTML unescaped")
	}
	if !strings.Contains(view, `<iframe sandbox="" `) || !strings.Contains(view, `srcdoc="&lt;p&gt;body&lt;/p&gt;&lt;script&gt;`) {
		t.Error("view page lacks the sandboxed srcdoc iframe")
	}
	if h.Get("Content-Security-Policy") == "" {
		t.Error("view page has no CSP")
	}
	if r, _ := http.Get(srv.URL + "/view/nope"); r.StatusCode != 404 {
		t.Errorf("unknown view: %d", r.StatusCode)
	}
	if f.URL() != "" || f.Close() != nil {
		t.Error("a fake that was never started has a URL or fails to close")
	}
}
