package utilities

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/owlette/server/shared/email"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/web"
)

// Limits of E64's address fields.
const (
	MaxTestRecipients = 10  // per field
	MaxAddressBytes   = 254 // RFC 5321 path limit
)

// testEmailRequest keeps every field raw: the original treats a body it
// cannot parse as {}, while a well-formed body with a bad field is a 400
// naming it (the original let Resend fail on it: a 500).
type testEmailRequest struct {
	To       json.RawMessage `json:"to"`
	CC       json.RawMessage `json:"cc"`
	Template json.RawMessage `json:"template"`
}

// testEmail is E64. Order: guard (admin) → Resend configured (500) → admin
// address configured (500) → body (optional) → one synchronous send.
func (m *mailHandlers) testEmail(w http.ResponseWriter, r *http.Request) error {
	if err := m.configured(); err != nil {
		return err.With("success", false)
	}
	var req testEmailRequest
	if err := web.DecodeOptional(w, r, &req); err != nil {
		return err
	}
	cfg := m.d.Config
	to, err := addressField("to", req.To)
	if err != nil {
		return err
	}
	if len(to) == 0 {
		to = []string{cfg.AdminEmail}
	}
	cc, err := addressField("cc", req.CC)
	if err != nil {
		return err
	}
	cc = without(cc, to) // what Resend is sent, and what we report
	template := ""
	if raw := bytes.TrimSpace(req.Template); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if json.Unmarshal(raw, &template) != nil {
			return web.BadRequest("Field \"template\" must be a string")
		}
	}

	sender, err := m.mailer()
	if err != nil {
		return web.Internal(err).With("success", false)
	}
	now := m.d.Now()
	env := notify.EnvLabel(cfg)
	msg, used := email.Sample(template, email.SampleOptions{Env: env, Now: now, DashboardURL: dashboardURL(m.d, r)})
	id, err := sender.Send(r.Context(), msg.Message(to, cc, ""))
	if err != nil {
		details := err.Error()
		var se *email.Error
		if errors.As(err, &se) {
			details = se.Message
		}
		return web.Errorf(http.StatusInternalServerError, "Failed to send test email").Wrap(err).
			With("success", false).With("details", details)
	}
	resp := web.M{
		"success": true, "message": "Test email sent to " + strings.Join(to, ", "),
		"emailId": id, "template": used, "from": sender.From(), "to": to,
		"environment": env, "timestamp": email.NewYorkTimestamp(now),
	}
	if len(cc) > 0 {
		resp["cc"] = cc
	}
	return web.OK(w, resp)
}

// addressField reads an optional address field: absent, null or "" is
// none; otherwise one address or an array of at most MaxTestRecipients,
// each a plain address (user@host), duplicates dropped.
func addressField(name string, raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var list []string
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		list = []string{one}
	} else if json.Unmarshal(raw, &list) != nil {
		return nil, web.Errorf(http.StatusBadRequest, "Field %q must be an e-mail address or an array of them", name)
	}
	if len(list) > MaxTestRecipients {
		return nil, web.Errorf(http.StatusBadRequest, "Field %q may list at most %d addresses", name, MaxTestRecipients)
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		a = strings.TrimSpace(a)
		if !plainAddress(a) {
			return nil, web.Errorf(http.StatusBadRequest, "Field %q: %q is not a valid e-mail address", name, clip(a, 80))
		}
		out = append(out, a)
	}
	return without(out, nil), nil
}

// plainAddress accepts "user@host" only: no display name, no line break,
// no group syntax, within the length of an SMTP path.
func plainAddress(a string) bool {
	if a == "" || len(a) > MaxAddressBytes {
		return false
	}
	p, err := mail.ParseAddress(a)
	return err == nil && p.Name == "" && p.Address == a && strings.Contains(a[strings.LastIndexByte(a, '@')+1:], ".")
}

// without drops from list the addresses in exclude and repeats, ignoring
// case, keeping the first spelling and the order.
func without(list, exclude []string) []string {
	seen := map[string]bool{}
	for _, a := range exclude {
		seen[strings.ToLower(a)] = true
	}
	out := []string{}
	for _, a := range list {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

// clip bounds a value echoed in a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
