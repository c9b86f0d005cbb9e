package email

import (
	"bytes"
	"html"
	"html/template"
	"log/slog"
	"strings"
)

// Mail is a rendered e-mail.
type Mail struct {
	Subject string
	HTML    string
	Text    string
	// UnsubscribeURL is the link the mail carries, "" when none.
	UnsubscribeURL string
}

// Message addresses m. A mail with an unsubscribe link also gets a
// List-Unsubscribe header, so mail clients offer their own button (a GET
// of the same link, which is what E66 serves).
func (m Mail) Message(to, cc []string, idempotencyKey string) Message {
	msg := Message{To: to, CC: cc, Subject: m.Subject, HTML: m.HTML, Text: m.Text, IdempotencyKey: idempotencyKey}
	if m.UnsubscribeURL != "" {
		msg.Headers = map[string]string{"List-Unsubscribe": "<" + m.UnsubscribeURL + ">"}
	}
	return msg
}

// Links are the optional links of a mail; anything but an absolute
// http(s) URL is dropped.
type Links struct {
	// DashboardURL adds an "Open dashboard" button.
	DashboardURL string
	// UnsubscribeURL is the recipient's own link (Unsubscriber.Link);
	// leave it empty for the admin fallback recipient.
	UnsubscribeURL string
}

// Accent colours (hex literals only: they go into CSS).
const (
	colorRed    = "#dc2626"
	colorOrange = "#ea580c"
	colorAmber  = "#ca8a04"
	colorBlue   = "#2563eb"
	colorGreen  = "#16a34a"
	colorViolet = "#7c3aed"
	colorBrand  = "#6366f1"
)

// view is what the layout shows; every string in it is plain text.
type view struct {
	Subject     string
	Preheader   string // preview line of mail clients
	Accent      string
	Badge       string
	Title       string
	Intro       string
	Rows        []row
	Block       *block
	Table       *table
	Note        string
	Button      *button
	Unsubscribe string
	Footer      string
}

type row struct{ Label, Value string }

type block struct{ Label, Text string }

type table struct {
	Head []string
	Rows [][]string
}

type button struct{ Label, URL string }

// addRow appends a row unless value is empty, so optional fields vanish.
func (v *view) addRow(label, value string) {
	if value != "" {
		v.Rows = append(v.Rows, row{label, value})
	}
}

// links applies l: a dashboard button and the unsubscribe footer.
func (v *view) links(l Links) {
	if u := safeLink(l.DashboardURL); u != "" {
		v.Button = &button{Label: "Open dashboard", URL: u}
	}
	v.Unsubscribe = safeLink(l.UnsubscribeURL)
}

func (v view) render() Mail {
	v.Subject = CleanSubject(v.Subject)
	if v.Button != nil && safeLink(v.Button.URL) == "" {
		v.Button = nil
	}
	v.Unsubscribe = safeLink(v.Unsubscribe)
	if v.Accent == "" {
		v.Accent = colorBrand
	}
	m := Mail{Subject: v.Subject, Text: v.text(), UnsubscribeURL: v.Unsubscribe}
	var b bytes.Buffer
	if err := layout.Execute(&b, v); err != nil {
		// Cannot happen with plain strings (the escaping contexts are fixed
		// at parse time); should it, the text part still goes out.
		slog.Error("email: layout failed", "err", err, "subject", v.Subject)
		m.HTML = "<pre>" + html.EscapeString(m.Text) + "</pre>"
		return m
	}
	m.HTML = b.String()
	return m
}

// text is the plain-text part.
func (v view) text() string {
	var b strings.Builder
	b.WriteString(v.Title)
	if v.Badge != "" {
		b.WriteString(" [" + v.Badge + "]")
	}
	b.WriteString("\n\n")
	if v.Intro != "" {
		b.WriteString(v.Intro + "\n\n")
	}
	if len(v.Rows) > 0 {
		w := 0
		for _, r := range v.Rows {
			w = max(w, len([]rune(r.Label)))
		}
		for _, r := range v.Rows {
			b.WriteString(r.Label + ":" + strings.Repeat(" ", w-len([]rune(r.Label))+1) + r.Value + "\n")
		}
		b.WriteString("\n")
	}
	if v.Block != nil {
		b.WriteString(v.Block.Label + ":\n" + v.Block.Text + "\n\n")
	}
	if v.Table != nil {
		b.WriteString(strings.Join(v.Table.Head, " | ") + "\n")
		for _, r := range v.Table.Rows {
			b.WriteString(strings.Join(r, " | ") + "\n")
		}
		b.WriteString("\n")
	}
	if v.Note != "" {
		b.WriteString(v.Note + "\n\n")
	}
	if v.Button != nil {
		b.WriteString(v.Button.Label + ": " + v.Button.URL + "\n\n")
	}
	b.WriteString("-- \nowlette")
	if v.Footer != "" {
		b.WriteString(" · " + v.Footer)
	}
	b.WriteString("\n")
	if v.Unsubscribe != "" {
		b.WriteString("Unsubscribe from health alert e-mails: " + v.Unsubscribe + "\n")
	}
	return b.String()
}

// lines splits text for <br> joins: Outlook ignores white-space:pre-wrap.
func lines(s string) []string {
	return strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}

var layout = template.Must(template.New("layout").Funcs(template.FuncMap{"lines": lines}).Parse(layoutHTML))

// layoutHTML: nested tables and inline CSS, the subset mail clients
// (Outlook included) render alike; no images, so nothing loads remotely.
const layoutHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{{.Subject}}</title>
</head>
<body style="margin:0;padding:0;background-color:#f4f4f5;">
{{- if .Preheader}}
<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;">{{.Preheader}}</div>
{{- end}}
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f4f4f5;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:600px;background-color:#ffffff;border:1px solid #e4e4e7;border-radius:8px;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#18181b;">
<tr><td style="padding:18px 28px;background-color:#18181b;border-radius:8px 8px 0 0;font-size:20px;font-weight:700;letter-spacing:0.5px;color:#ffffff;">owlette</td></tr>
<tr><td style="height:4px;line-height:4px;font-size:0;background-color:{{.Accent}};">&nbsp;</td></tr>
<tr><td style="padding:24px 28px 8px 28px;">
{{- if .Badge}}
<span style="display:inline-block;padding:2px 8px;border-radius:4px;background-color:{{.Accent}};color:#ffffff;font-size:12px;font-weight:700;letter-spacing:0.5px;">{{.Badge}}</span>
{{- end}}
<h1 style="margin:12px 0 8px 0;font-size:20px;line-height:28px;font-weight:700;color:#18181b;">{{.Title}}</h1>
{{- if .Intro}}
<p style="margin:0 0 16px 0;font-size:15px;line-height:22px;color:#3f3f46;">{{.Intro}}</p>
{{- end}}
</td></tr>
{{- if .Rows}}
<tr><td style="padding:0 28px 8px 28px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;font-size:14px;line-height:20px;">
{{- range .Rows}}
<tr><td valign="top" style="padding:6px 12px 6px 0;width:140px;color:#71717a;border-bottom:1px solid #f4f4f5;">{{.Label}}</td><td valign="top" style="padding:6px 0;color:#18181b;border-bottom:1px solid #f4f4f5;word-break:break-word;">{{.Value}}</td></tr>
{{- end}}
</table>
</td></tr>
{{- end}}
{{- with .Block}}
<tr><td style="padding:12px 28px 8px 28px;">
<p style="margin:0 0 6px 0;font-size:13px;font-weight:600;color:#71717a;">{{.Label}}</p>
<div style="padding:12px 14px;background-color:#f4f4f5;border-left:3px solid {{$.Accent}};font-family:Consolas,Menlo,'Courier New',monospace;font-size:13px;line-height:19px;color:#18181b;word-break:break-word;">{{range $i, $l := lines .Text}}{{if $i}}<br>{{end}}{{$l}}{{end}}</div>
</td></tr>
{{- end}}
{{- with .Table}}
<tr><td style="padding:12px 28px 8px 28px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;font-size:14px;line-height:20px;">
<tr>{{range .Head}}<th align="left" style="padding:8px;background-color:#f4f4f5;color:#3f3f46;font-weight:600;border-bottom:1px solid #e4e4e7;">{{.}}</th>{{end}}</tr>
{{- range .Rows}}
<tr>{{range .}}<td style="padding:8px;border-bottom:1px solid #f4f4f5;word-break:break-word;">{{.}}</td>{{end}}</tr>
{{- end}}
</table>
</td></tr>
{{- end}}
{{- if .Note}}
<tr><td style="padding:8px 28px 0 28px;font-size:13px;line-height:19px;color:#71717a;">{{.Note}}</td></tr>
{{- end}}
{{- with .Button}}
<tr><td style="padding:20px 28px 4px 28px;">
<table role="presentation" cellpadding="0" cellspacing="0" border="0"><tr><td style="border-radius:6px;background-color:#18181b;"><a href="{{.URL}}" style="display:inline-block;padding:10px 18px;font-size:14px;font-weight:600;color:#ffffff;text-decoration:none;">{{.Label}}</a></td></tr></table>
</td></tr>
{{- end}}
<tr><td style="padding:24px 28px;font-size:12px;line-height:18px;color:#a1a1aa;border-top:1px solid #f4f4f5;">owlette{{if .Footer}} · {{.Footer}}{{end}}
{{- if .Unsubscribe}}<br><a href="{{.Unsubscribe}}" style="color:#71717a;text-decoration:underline;">Unsubscribe from health alert e-mails</a>{{end}}</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`
