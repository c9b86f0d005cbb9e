package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/cmdqueue"
	"github.com/owlette/server/shared/notify"
)

// Tracker follows everything the run started until it is finished: every
// command the server accepted must reach a terminal entry (the agent wrote
// completed/failed, seen in its events or in E22's waited result), every
// deployment a terminal status, every alert the server accepted must reach
// the webhook receiver.
type Tracker struct {
	mu     sync.Mutex
	cmds   map[string]*trackedCmd
	deps   map[string]*trackedDep
	alerts map[string]*trackedAlert
	// done holds the commands agents finished, whether or not the sender's
	// answer has arrived yet (an agent can finish before E22 answers).
	done map[string]string
	// writeFailed holds the commands whose terminal entry the agent could not
	// write (its own Firestore call failed), with the error.
	writeFailed map[string]string
	dupAlerts   int
}

type trackedCmd struct {
	ID, Machine, Type string
	Wait              bool
	SentAt            time.Time
	Status            string // terminal status, "" while unresolved
	Diagnosis         string
}

type trackedDep struct {
	ID        string
	Machines  []string
	CreatedAt time.Time
	Status    string
	Terminal  bool
	Diagnosis string
}

type trackedAlert struct {
	Message, Machine string
	RaisedAt         time.Time
	DeliveredAt      time.Time
	Deliveries       int
}

func NewTracker() *Tracker {
	return &Tracker{cmds: map[string]*trackedCmd{}, deps: map[string]*trackedDep{}, alerts: map[string]*trackedAlert{},
		done: map[string]string{}, writeFailed: map[string]string{}}
}

// Sent records a command the server accepted.
func (t *Tracker) Sent(id, machine, typ string, wait bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := &trackedCmd{ID: id, Machine: machine, Type: typ, Wait: wait, SentAt: time.Now()}
	if st, ok := t.done[id]; ok {
		c.Status = st
	}
	t.cmds[id] = c
}

// Completed records a terminal entry (from an agent event or a waited result).
func (t *Tracker) Completed(id, status string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[id] = status
	if c := t.cmds[id]; c != nil && c.Status == "" {
		c.Status = status
	}
}

// WriteFailed records an agent's failed terminal write.
func (t *Tracker) WriteFailed(id, err string) {
	t.mu.Lock()
	t.writeFailed[id] = err
	t.mu.Unlock()
}

// Deployment records a deployment the server created.
func (t *Tracker) Deployment(id string, machines []string) {
	t.mu.Lock()
	t.deps[id] = &trackedDep{ID: id, Machines: machines, CreatedAt: time.Now(), Status: "pending"}
	t.mu.Unlock()
}

// terminalDeployment: the statuses a deployment ends in (§7.1).
var terminalDeployment = map[string]bool{"completed": true, "failed": true, "partial": true, "cancelled": true, "uninstalled": true}

// DeploymentStatus records a status read from E32 and reports whether it is
// terminal.
func (t *Tracker) DeploymentStatus(id, status string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.deps[id]
	if d == nil {
		return false
	}
	d.Status = status
	d.Terminal = terminalDeployment[status]
	return d.Terminal
}

// Alert records an alert the server accepted.
func (t *Tracker) Alert(msg, machine string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.alerts[msg] == nil {
		t.alerts[msg] = &trackedAlert{Message: msg, Machine: machine, RaisedAt: time.Now()}
	}
}

// AlertDelivered records a delivery at the webhook receiver.
func (t *Tracker) AlertDelivered(msg, _ string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.alerts[msg]
	if a == nil { // delivered before E17's answer arrived
		a = &trackedAlert{Message: msg, RaisedAt: time.Now()}
		t.alerts[msg] = a
	}
	a.Deliveries++
	if a.Deliveries == 1 {
		a.DeliveredAt = time.Now()
	} else {
		t.dupAlerts++
	}
}

// Outstanding counts what is not finished yet.
func (t *Tracker) Outstanding() (cmds, deps, alerts int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.cmds {
		if c.Status == "" {
			cmds++
		}
	}
	for _, d := range t.deps {
		if !d.Terminal {
			deps++
		}
	}
	for _, a := range t.alerts {
		if a.Deliveries == 0 {
			alerts++
		}
	}
	return
}

// unresolvedDeps lists the deployments without a terminal status.
func (t *Tracker) unresolvedDeps() []*trackedDep {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*trackedDep
	for _, d := range t.deps {
		if !d.Terminal {
			out = append(out, d)
		}
	}
	return out
}

// Outcome is the tracker's verdict.
type Outcome struct {
	Commands, CommandsWait, CommandsDone int
	CommandsByStatus                     map[string]int
	LostCommands                         []string // diagnosed
	LostAtAgent                          int      // of which: the agent's own terminal write failed
	Deployments                          int
	DeploymentsByStatus                  map[string]int
	LostDeployments                      []string
	Alerts, AlertsDelivered              int
	AlertDelay50, AlertDelayMax          time.Duration
	DuplicateDeliveries                  int
	LostAlerts                           []string
	UnfinishedJobs                       []string // notification_queue jobs not done
}

// Lost is the number of things that never finished.
func (o Outcome) Lost() int { return len(o.LostCommands) + len(o.LostDeployments) + len(o.LostAlerts) }

// Verify reads Firestore (directly, not through the proxy) to explain what
// did not finish, and returns the verdict.
func (t *Tracker) Verify(ctx context.Context, fs *firestore.Client) Outcome {
	o := Outcome{CommandsByStatus: map[string]int{}, DeploymentsByStatus: map[string]int{}}
	t.mu.Lock()
	cmds := make([]*trackedCmd, 0, len(t.cmds))
	for _, c := range t.cmds {
		cmds = append(cmds, c)
	}
	deps := make([]*trackedDep, 0, len(t.deps))
	for _, d := range t.deps {
		deps = append(deps, d)
	}
	var delays []time.Duration
	for _, a := range t.alerts {
		o.Alerts++
		if a.Deliveries > 0 {
			o.AlertsDelivered++
			delays = append(delays, a.DeliveredAt.Sub(a.RaisedAt))
		} else {
			o.LostAlerts = append(o.LostAlerts, fmt.Sprintf("%q from %s raised at %s: no delivery", a.Message, a.Machine, a.RaisedAt.Format("15:04:05")))
		}
	}
	o.DuplicateDeliveries = t.dupAlerts
	writeFailed := map[string]string{}
	for k, v := range t.writeFailed {
		writeFailed[k] = v
	}
	t.mu.Unlock()
	if len(delays) > 0 {
		sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
		o.AlertDelay50, o.AlertDelayMax = pct(delays, 50), delays[len(delays)-1]
	}

	sort.Slice(cmds, func(i, j int) bool { return cmds[i].SentAt.Before(cmds[j].SentAt) })
	for _, c := range cmds {
		o.Commands++
		if c.Wait {
			o.CommandsWait++
		}
		if c.Status != "" {
			o.CommandsDone++
			o.CommandsByStatus[c.Status]++
			continue
		}
		why := t.diagnoseCommand(ctx, fs, c)
		if e, ok := writeFailed[c.ID]; ok {
			o.LostAtAgent++
			why += "; the agent's terminal write failed: " + e
		}
		o.LostCommands = append(o.LostCommands, fmt.Sprintf("%s %s on %s sent at %s: %s", c.Type, c.ID, c.Machine, c.SentAt.Format("15:04:05"), why))
	}
	for _, d := range deps {
		o.Deployments++
		if !d.Terminal {
			// The poller may have stopped first: read it once more.
			if snap, err := fs.Collection("sites").Doc(siteID).Collection("deployments").Doc(d.ID).Get(ctx); err == nil {
				st, _ := snap.Data()["status"].(string)
				d.Status, d.Terminal = st, terminalDeployment[st]
				if !d.Terminal {
					d.Diagnosis = fmt.Sprintf("status %q, targets %v", st, snap.Data()["targets"])
				}
			} else {
				d.Diagnosis = "not readable: " + err.Error()
			}
		}
		o.DeploymentsByStatus[d.Status]++
		if !d.Terminal {
			o.LostDeployments = append(o.LostDeployments, fmt.Sprintf("%s on %v created at %s: %s", d.ID, d.Machines, d.CreatedAt.Format("15:04:05"), d.Diagnosis))
		}
	}
	// Jobs of the notification queue that did not finish.
	it := fs.Collection(notify.Collection).Where("status", "in", []string{notify.StatusPending, notify.StatusProcessing, notify.StatusRetry}).Documents(ctx)
	snaps, err := it.GetAll()
	if err != nil {
		o.UnfinishedJobs = append(o.UnfinishedJobs, "query failed: "+err.Error())
	}
	for _, s := range snaps {
		d := s.Data()
		o.UnfinishedJobs = append(o.UnfinishedJobs, fmt.Sprintf("%s status %v attempts %v webhook %v email %v", s.Ref.ID, d["status"], d["attempts"], sub(d, "webhook"), sub(d, "email")))
	}
	return o
}

func sub(d map[string]any, k string) any {
	if m, ok := d[k].(map[string]any); ok {
		return m["status"]
	}
	return nil
}

// diagnoseCommand says where an unfinished command is.
func (t *Tracker) diagnoseCommand(ctx context.Context, fs *firestore.Client, c *trackedCmd) string {
	pend, err1 := cmdqueue.Pending(fs, siteID, c.Machine).Get(ctx)
	comp, err2 := cmdqueue.Completed(fs, siteID, c.Machine).Get(ctx)
	if (err1 != nil && pend == nil) || (err2 != nil && comp == nil) {
		return fmt.Sprintf("queue not readable (%v, %v)", err1, err2)
	}
	_, inPending := pend.Data()[c.ID]
	entry, inCompleted := comp.Data()[c.ID]
	switch {
	case inCompleted:
		return fmt.Sprintf("in completed (%v) but no agent event seen", entry)
	case inPending:
		return "still in pending: the agent never finished it"
	default:
		return "in neither pending nor completed (a waiter consumed the result?)"
	}
}
