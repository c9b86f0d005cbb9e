package email

import "time"

// Signup is the E65 admin notification of a new user.
type Signup struct {
	Env         string
	Email       string
	DisplayName string
	AuthMethod  string // email | google
	UID         string // optional
	// CreatedAt is the request's ISO string; one that does not parse is
	// shown as "Invalid Date", as the original did.
	CreatedAt    string
	DashboardURL string
}

// Render builds the mail: subject "[<ENV>] new owlette user signup".
func (s Signup) Render() Mail {
	v := view{
		Subject: "[" + s.Env + "] new owlette user signup",
		Accent:  colorGreen,
		Badge:   s.Env,
		Title:   "New owlette user signup",
		Intro:   firstOf(s.DisplayName, s.Email) + " just created an owlette account.",
		Footer:  "admin notification",
	}
	v.Preheader = v.Intro
	v.addRow("Name", s.DisplayName)
	v.addRow("E-mail", s.Email)
	v.addRow("Sign-in method", s.AuthMethod)
	v.addRow("User id", s.UID)
	v.addRow("Created", createdAt(s.CreatedAt))
	v.addRow("Environment", s.Env)
	v.links(Links{DashboardURL: s.DashboardURL})
	return v.render()
}

// createdAt formats an ISO timestamp in UTC, "Invalid Date" if it is not
// one, "" if empty.
func createdAt(iso string) string {
	if iso == "" {
		return ""
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, iso); err == nil {
			return FormatTime(t, "UTC")
		}
	}
	return "Invalid Date"
}

// Welcome is the optional E65 mail to the new user (SEND_WELCOME_EMAIL).
type Welcome struct {
	DisplayName  string
	DashboardURL string
}

// Render builds the mail: subject "welcome to owlette".
func (w Welcome) Render() Mail {
	greeting := "Welcome to owlette!"
	if w.DisplayName != "" {
		greeting = "Hi " + w.DisplayName + ", welcome to owlette!"
	}
	v := view{
		Subject: "welcome to owlette",
		Accent:  colorBrand,
		Title:   "welcome to owlette",
		Intro: greeting + " owlette keeps an eye on your media machines: it restarts crashed processes, " +
			"deploys software, and tells you when something needs attention.",
		Note: "Next: ask an admin to give you access to a site, then install the owlette agent on your " +
			"machines and pair them from the dashboard.",
		Footer: "fleet management for media machines",
	}
	v.Preheader = greeting
	v.links(Links{DashboardURL: w.DashboardURL})
	return v.render()
}

// Feedback is the X10 bug report / feedback mail to the admin.
type Feedback struct {
	Env         string
	ReportID    string
	Source      string // web | agent
	Category    string // bug, feature_request, other, compliment, rant
	Title       string
	Description string
	UserID      string
	UserEmail   string
	BrowserUA   string
	PageURL     string // shown as text, never as a link
	AppVersion  string
	Time        time.Time // optional
}

// Render builds the mail: subject "[<ENV>] feedback: <category> — <title>".
func (f Feedback) Render() Mail {
	v := view{
		Subject: "[" + f.Env + "] feedback: " + f.Category + " — " + f.Title,
		Accent:  colorBrand,
		Badge:   f.Category,
		Title:   f.Title,
		Intro:   "New feedback from " + firstOf(f.UserEmail, f.UserID, "an unknown user") + ".",
		Block:   &block{Label: "Description", Text: f.Description},
		Footer:  "admin notification",
	}
	v.Preheader = v.Intro
	v.addRow("Category", f.Category)
	v.addRow("Source", f.Source)
	v.addRow("From", f.UserEmail)
	v.addRow("User id", f.UserID)
	v.addRow("Page", f.PageURL)
	v.addRow("Browser", f.BrowserUA)
	v.addRow("App version", f.AppVersion)
	v.addRow("Environment", f.Env)
	v.addRow("Report id", f.ReportID)
	v.addRow("Time", timeRow(f.Time, "UTC"))
	return v.render()
}
