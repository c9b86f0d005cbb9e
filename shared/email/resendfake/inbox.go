package resendfake

import (
	"html/template"
	"net/http"
	"strings"
	"time"
)

// pageCSP locks the inbox pages down; a srcdoc iframe inherits it, so a
// caught mail can run nothing and load only images.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: http: https:; base-uri 'none'; form-action 'none'"

func writePage(w http.ResponseWriter, t *template.Template, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	// An error here is a write to a gone client: nothing left to do.
	_ = t.Execute(w, data)
}

type inboxRow struct {
	ID, Subject, To, Time string
}

// inbox is GET /: every caught mail, newest first.
func (s *Server) inbox(w http.ResponseWriter, r *http.Request) {
	var rows []inboxRow
	for _, m := range s.newestFirst() {
		rows = append(rows, inboxRow{
			ID: m.ID, Subject: m.Subject, To: strings.Join(m.To, ", "),
			Time: m.CreatedAt.Local().Format(time.DateTime),
		})
	}
	writePage(w, inboxPage, rows)
}

// view is GET /view/{id}: one mail, its HTML in a sandboxed iframe (no
// scripts, no same-origin access, no forms, no top navigation).
func (s *Server) view(w http.ResponseWriter, r *http.Request) {
	m, ok := s.find(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	writePage(w, viewPage, struct {
		Message
		Time string
	}{m, m.CreatedAt.Local().Format(time.DateTime)})
}

const pageStyle = `<style>
body{margin:0;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#18181b;background:#f4f4f5}
header{background:#18181b;color:#fff;padding:12px 20px;font-weight:700}
header a{color:#fff;text-decoration:none}
main{padding:20px;max-width:1000px;margin:0 auto}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #e4e4e7;vertical-align:top}
th{background:#fafafa;color:#52525b;font-weight:600}
td.k{color:#71717a;width:120px}
a{color:#4f46e5}
iframe{width:100%;height:70vh;border:1px solid #e4e4e7;background:#fff}
pre{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #e4e4e7;padding:12px}
.empty{color:#71717a;padding:24px;background:#fff}
</style>`

var inboxPage = template.Must(template.New("inbox").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>resendfake inbox</title>` + pageStyle + `</head>
<body><header><a href="/">resendfake</a> · caught e-mails (nothing is delivered)</header><main>
{{- if .}}
<table><tr><th>Time</th><th>To</th><th>Subject</th></tr>
{{- range .}}
<tr><td>{{.Time}}</td><td>{{.To}}</td><td><a href="/view/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td></tr>
{{- end}}
</table>
{{- else}}
<p class="empty">No e-mail yet. This page refreshes every 5 seconds.</p>
{{- end}}
</main></body></html>
`))

var viewPage = template.Must(template.New("view").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}} · resendfake</title>` + pageStyle + `</head>
<body><header><a href="/">resendfake</a> · <a href="/">inbox</a></header><main>
<table>
<tr><td class="k">Subject</td><td>{{.Subject}}</td></tr>
<tr><td class="k">From</td><td>{{.From}}</td></tr>
<tr><td class="k">To</td><td>{{range $i, $a := .To}}{{if $i}}, {{end}}{{$a}}{{end}}</td></tr>
{{- if .CC}}<tr><td class="k">CC</td><td>{{range $i, $a := .CC}}{{if $i}}, {{end}}{{$a}}{{end}}</td></tr>{{end}}
{{- if .BCC}}<tr><td class="k">BCC</td><td>{{range $i, $a := .BCC}}{{if $i}}, {{end}}{{$a}}{{end}}</td></tr>{{end}}
<tr><td class="k">Time</td><td>{{.Time}}</td></tr>
{{- range $k, $v := .Headers}}<tr><td class="k">{{$k}}</td><td>{{$v}}</td></tr>{{end}}
{{- if .IdempotencyKey}}<tr><td class="k">Idempotency-Key</td><td>{{.IdempotencyKey}}</td></tr>{{end}}
<tr><td class="k">Id</td><td><a href="/emails/{{.ID}}">{{.ID}}</a> (JSON)</td></tr>
</table>
{{- if .HTML}}
<h3>HTML</h3>
<iframe sandbox="" referrerpolicy="no-referrer" title="e-mail HTML" srcdoc="{{.HTML}}"></iframe>
{{- end}}
{{- if .Text}}
<h3>Text</h3>
<pre>{{.Text}}</pre>
{{- end}}
</main></body></html>
`))
