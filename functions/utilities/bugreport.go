package utilities

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/logging"
	"github.com/owlette/server/shared/notify"
	"github.com/owlette/server/shared/version"
	"github.com/owlette/server/shared/web"
)

// Limits of X10, in JavaScript string length (UTF-16 code units).
const (
	MaxTitle       = 200
	MaxDescription = 50_000
	MaxClientField = 500 // browserUA, pageUrl: truncated, not refused
)

// Categories a report may have.
var Categories = []string{"bug", "feature_request", "other", "compliment", "rant"}

// AgentUAPrefix marks reports sent by the agent (source "agent").
const AgentUAPrefix = "Owlette Agent"

type bugRequest struct {
	Title       string `json:"title"`
	Category    string `json:"category"`
	Description string `json:"description" max:"200000"` // 50,000 characters of up to 4 bytes
	// Longer values are truncated to 500 characters, as the original does.
	BrowserUA string `json:"browserUA" max:"65536"`
	PageURL   string `json:"pageUrl" max:"65536"`
}

func (q *bugRequest) Validate() error {
	q.Title, q.Description = jsTrim(q.Title), jsTrim(q.Description)
	switch {
	case q.Title == "":
		return web.BadRequest("Title is required")
	case jsLen(q.Title) > MaxTitle:
		return web.Errorf(http.StatusBadRequest, "Title must be at most %d characters", MaxTitle)
	case q.Category == "":
		return web.BadRequest("Category is required")
	case !slices.Contains(Categories, q.Category):
		return web.Errorf(http.StatusBadRequest, "Invalid category: must be one of %s", strings.Join(Categories, ", "))
	case q.Description == "":
		return web.BadRequest("Description is required")
	case jsLen(q.Description) > MaxDescription:
		return web.Errorf(http.StatusBadRequest, "Description must be at most %d characters", MaxDescription)
	}
	q.BrowserUA, q.PageURL = jsTruncate(q.BrowserUA, MaxClientField), jsTruncate(q.PageURL, MaxClientField)
	return nil
}

// bugReport is X10. Order: rate limit (user, per IP) → session or Bearer ID
// token (agents' included) → body. The report and the admin e-mail's queue
// document are written in one batch; nothing runs after the response.
func (h handlers) bugReport(w http.ResponseWriter, r *http.Request) error {
	p := guard.Caller(r)
	var req bugRequest
	if err := web.Decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	source := "web"
	if strings.HasPrefix(req.BrowserUA, AgentUAPrefix) {
		source = "agent"
	}
	email := ""
	if p.Claim("role") != "agent" {
		email = h.userEmail(ctx, p)
	}
	fs := h.d.Firestore
	ref := fs.Collection("bug_reports").NewDoc()
	b := fs.Batch()
	b.Create(ref, map[string]any{
		"source": source, "category": req.Category, "title": req.Title, "description": req.Description,
		"status": "new", "createdAt": firestore.ServerTimestamp, "userId": p.UID, "userEmail": email,
		"browserUA": req.BrowserUA, "pageUrl": req.PageURL, "appVersion": version.Version,
	})
	cfg := h.d.Config
	if notify.EmailConfigured(cfg) && cfg.AdminEmail != "" {
		job := &notify.Job{
			Kind:      notify.KindBugReport,
			Origin:    notify.Origin(cfg, r),
			DedupeKey: notify.DedupeKey(notify.KindBugReport, ref.ID),
			Params: map[string]any{
				"reportId": ref.ID, "source": source, "category": req.Category, "title": req.Title,
				"description": req.Description, "userId": p.UID, "userEmail": email,
				"browserUA": req.BrowserUA, "pageUrl": req.PageURL, "appVersion": version.Version,
				"environment": notify.EnvLabel(cfg),
			},
			Email: &notify.Email{
				Template:   notify.TemplateFeedback,
				Subject:    fmt.Sprintf("[%s] feedback: %s — %s", notify.EnvLabel(cfg), req.Category, req.Title),
				Recipients: []notify.Recipient{notify.Admin(cfg.AdminEmail)},
			},
		}
		job.Prepare(h.d.Now())
		notify.Enqueue(b, fs, job)
	}
	if _, err := b.Commit(ctx); err != nil {
		return web.Internal(err)
	}
	return web.OK(w, web.M{"success": true, "id": ref.ID})
}

// userEmail is the reporter's address in Firebase Auth: the verified ID
// token's email claim when there is one, else the Auth record. A lookup
// failure leaves it empty rather than losing the report.
func (h handlers) userEmail(ctx context.Context, p *guard.Principal) string {
	if e := p.Claim("email"); e != "" {
		return e
	}
	u, err := h.d.Auth.GetUser(ctx, p.UID)
	if err != nil {
		logging.From(ctx).Warn("bug report: user e-mail lookup failed", "uid", p.UID, "error", err.Error())
		return ""
	}
	return u.Email
}

// jsTrim is String.prototype.trim: Unicode white space, line terminators
// and the BOM.
func jsTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' })
}

// jsLen is a string's JavaScript length (UTF-16 code units).
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// jsTruncate keeps at most max UTF-16 code units of s, never splitting a
// character (the original's slice could leave half a surrogate pair).
func jsTruncate(s string, max int) string {
	n := 0
	for i, r := range s {
		w := 1
		if r > 0xFFFF {
			w = 2
		}
		if n+w > max {
			return s[:i]
		}
		n += w
	}
	return s
}
