package resendfake

import (
	"encoding/json"
	"net/http"
	"net/mail"
	"regexp"
)

// maxRecipients is Resend's limit per address field.
const maxRecipients = 50

// sendBody is POST /emails as Resend documents it. Address fields take a
// string or an array of strings, so they are decoded by hand.
type sendBody struct {
	From        json.RawMessage   `json:"from"`
	To          json.RawMessage   `json:"to"`
	CC          json.RawMessage   `json:"cc"`
	BCC         json.RawMessage   `json:"bcc"`
	ReplyTo     json.RawMessage   `json:"reply_to"`
	Subject     json.RawMessage   `json:"subject"`
	HTML        json.RawMessage   `json:"html"`
	Text        json.RawMessage   `json:"text"`
	Headers     map[string]string `json:"headers"`
	Tags        []Tag             `json:"tags"`
	ScheduledAt string            `json:"scheduled_at"`
}

func invalid(message string) *apiError {
	return &apiError{StatusCode: http.StatusUnprocessableEntity, Name: "validation_error", Message: message}
}

func missing(field string) *apiError {
	return &apiError{StatusCode: http.StatusUnprocessableEntity, Name: "missing_required_field", Message: "Missing `" + field + "` field."}
}

func badAddress(field string) *apiError {
	return invalid("Invalid `" + field + "` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.")
}

var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// parseEmail validates one e-mail object the way Resend answers it.
func parseEmail(raw json.RawMessage) (Message, *apiError) {
	var b sendBody
	if err := json.Unmarshal(raw, &b); err != nil {
		if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
			return Message{}, invalid("Invalid `" + te.Field + "` field.")
		}
		return Message{}, invalid("Invalid JSON body.")
	}
	var m Message
	var e *apiError
	if m.From, e = str(b.From, "from"); e != nil {
		return Message{}, e
	}
	if m.To, e = list(b.To, "to"); e != nil {
		return Message{}, e
	}
	if m.Subject, e = str(b.Subject, "subject"); e != nil {
		return Message{}, e
	}
	switch {
	case m.From == "":
		return Message{}, missing("from")
	case len(m.To) == 0:
		return Message{}, missing("to")
	case m.Subject == "":
		return Message{}, missing("subject")
	case !address(m.From):
		return Message{}, badAddress("from")
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *[]string
	}{{"to", b.To, &m.To}, {"cc", b.CC, &m.CC}, {"bcc", b.BCC, &m.BCC}, {"reply_to", b.ReplyTo, &m.ReplyTo}} {
		if *f.dst, e = list(f.raw, f.name); e != nil {
			return Message{}, e
		}
		if len(*f.dst) > maxRecipients {
			return Message{}, invalid("Too many recipients in `" + f.name + "` field. The maximum is 50.")
		}
		for _, a := range *f.dst {
			if !address(a) {
				return Message{}, badAddress(f.name)
			}
		}
	}
	if m.HTML, e = str(b.HTML, "html"); e != nil {
		return Message{}, e
	}
	if m.Text, e = str(b.Text, "text"); e != nil {
		return Message{}, e
	}
	if m.HTML == "" && m.Text == "" {
		return Message{}, missing("html` or `text")
	}
	for _, t := range b.Tags {
		if !tagPattern.MatchString(t.Name) || !tagPattern.MatchString(t.Value) {
			return Message{}, invalid("Tags should only contain ASCII letters, numbers, underscores, or dashes.")
		}
	}
	m.Headers, m.Tags, m.ScheduledAt = b.Headers, b.Tags, b.ScheduledAt
	return m, nil
}

// address accepts "a@b.c" and "Name <a@b.c>".
func address(s string) bool {
	_, err := mail.ParseAddress(s)
	return err == nil
}

// str decodes an optional string field (null and absent are "").
func str(raw json.RawMessage, field string) (string, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", invalid("Invalid `" + field + "` field.")
	}
	return s, nil
}

// list decodes an address field: a string or an array of strings.
func list(raw json.RawMessage, field string) ([]string, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return nil, badAddress(field)
	}
	return many, nil
}
