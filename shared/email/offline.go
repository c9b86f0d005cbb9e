package email

import (
	"strconv"
	"time"
)

// OfflineMachine is one row of the offline table.
type OfflineMachine struct {
	ID            string
	LastHeartbeat time.Time // zero when the machine never sent one
}

// MachinesOffline is the E63 sweep mail for one site and recipient.
type MachinesOffline struct {
	SiteID    string
	SiteName  string // optional, shown in the body only (the subject keeps the id)
	Machines  []OfflineMachine
	CheckedAt time.Time
	// Timezone is the first alerting machine's machine_timezone: it labels
	// the "checked at" line, as in the original.
	Timezone string
	Links
}

// Render builds the mail: subject "<n> machine(s) offline in <siteId>", a
// table of machine id and whole minutes since the last heartbeat.
func (o MachinesOffline) Render() Mail {
	n := strconv.Itoa(len(o.Machines))
	site := siteLabel(o.SiteID, o.SiteName)
	v := view{
		Subject: n + " machine(s) offline in " + o.SiteID,
		Accent:  colorRed,
		Title:   n + " machine(s) offline",
		Intro:   "These machines in " + site + " are marked online but have sent no heartbeat for more than 3 minutes.",
		Table:   &table{Head: []string{"Machine", "Minutes since last heartbeat"}},
		Footer:  "alerts for " + site,
	}
	v.Preheader = v.Intro
	for _, m := range o.Machines {
		v.Table.Rows = append(v.Table.Rows, []string{m.ID, minutesSince(o.CheckedAt, m.LastHeartbeat)})
	}
	if !o.CheckedAt.IsZero() {
		v.Note = "Checked at " + FormatTime(o.CheckedAt, o.Timezone)
	}
	v.links(o.Links)
	return v.render()
}

// minutesSince is the whole minutes from last to now; "never" without a
// heartbeat (the original printed minutes since 1970).
func minutesSince(now, last time.Time) string {
	if last.IsZero() {
		return "never"
	}
	d := now.Sub(last)
	if d < 0 {
		d = 0
	}
	return strconv.FormatInt(int64(d/time.Minute), 10)
}
