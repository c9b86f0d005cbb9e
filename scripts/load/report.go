package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Report is everything a run measured (also written as report.json).
type Report struct {
	Project    string        `json:"project"`
	Agents     int           `json:"agents"`
	Operators  int           `json:"operators"`
	Ramp       time.Duration `json:"rampNs"`
	Steady     time.Duration `json:"steadyNs"`
	Drain      time.Duration `json:"drainNs"`
	TokenScale float64       `json:"tokenScale"`

	Faults    []window               `json:"faults"`
	Restarts  []time.Duration        `json:"serverRestartsNs"`
	AuthProbe map[string]map[int]int `json:"authProbe,omitempty"`

	Endpoints    []EndpointSummary `json:"endpoints"`
	Errors       int               `json:"errors"`
	ErrorSamples []Failure         `json:"errorSamples"`
	Expected     int               `json:"expectedFailures"`

	Outcome  Outcome       `json:"outcome"`
	Fleet    AgentFigures  `json:"fleet"`
	HBSteady int64         `json:"heartbeatsSteady"`
	HBWanted float64       `json:"heartbeatsExpected"`
	Eventarc EventarcStats `json:"triggers"`

	APIRate, AgentFSRate float64 `json:"-"` // requests/s in the steady phase

	Server   Resources `json:"server"`
	Machine  Machine   `json:"machine"`
	FSServer float64   `json:"firestoreServerRpcPerMin"` // steady phase
	FSAgents float64   `json:"firestoreAgentRestPerMin"`
	AuthOps  float64   `json:"authOpsPerMin"`
	FSOps    []opCount `json:"firestoreOps"`
	AuthOpsL []opCount `json:"authOps"`
	Minutes  []Minute  `json:"minutes"`

	Webhook struct{ Received, BadSignature, Other int } `json:"webhook"`

	SetupErrors []string `json:"setupErrors,omitempty"`

	steadyStart time.Time
}

// Resources are the dev server's figures over the steady phase.
type Resources struct {
	CPUAvg, CPUPeak10s float64 // % of one core
	RSSAvg, RSSPeak    float64 // MiB
	CPUSeconds         float64 // whole run
}

// Machine is the rest of the machine over the steady phase (averages).
type Machine struct {
	Busy        float64 // % of all cores
	FirestoreEm float64 // % of one core (shared emulator: everyone's load)
	AuthEm      float64
	LoadGen     float64 // this process
}

// Minute is one line of the per-minute table.
type Minute struct {
	Minute                       int
	Phase                        string
	Requests, API                int
	Errors, Expected             int
	ServerCPU, ServerRSS         float64
	FirestoreEm, LoadGen, Busy   float64
	FSServer, FSAgents, AuthCall int
	Faults                       string
}

// Pass: no unexpected outcome, nothing lost, no agent lost its credentials.
func (r *Report) Pass() bool {
	return r.Errors == 0 && r.Outcome.Lost() == 0 && r.Fleet.CredentialsWiped == 0 && r.Fleet.PairFailures == 0 &&
		len(r.SetupErrors) == 0 && len(r.Outcome.UnfinishedJobs) == 0
}

func (r *run) report(o Outcome) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &Report{
		Project: r.o.Project, Agents: r.o.Agents, Operators: r.o.Operators, TokenScale: r.o.TokenScale,
		Ramp: r.steadyStart.Sub(r.start), Steady: r.steadyEnd.Sub(r.steadyStart), Drain: r.drainEnd.Sub(r.steadyEnd),
		Faults: r.faults.Windows(), Restarts: r.restarts, AuthProbe: r.authProbe,
		Endpoints: r.rec.Endpoints(), Errors: r.rec.Errors(), ErrorSamples: r.rec.Samples(),
		Outcome: o, Fleet: r.agents.Figures(), HBSteady: r.hbSteady, Eventarc: r.eventarc.Stats(),
		SetupErrors: r.setupErrors, steadyStart: r.steadyStart,
	}
	for _, e := range rep.Endpoints {
		rep.Expected += e.Expected
	}
	rep.HBWanted = float64(r.o.Agents) * rep.Steady.Seconds() / 30
	rep.Webhook.Received, rep.Webhook.BadSignature, rep.Webhook.Other = r.receiver.Counts()

	s0, s1 := r.steadyStart.Sub(r.start), r.steadyEnd.Sub(r.start)
	mins := rep.Steady.Minutes()
	rpc, http := r.fsCount.Between(s0, s1)
	_, auth := r.auCount.Between(s0, s1)
	if mins > 0 {
		rep.FSServer, rep.FSAgents, rep.AuthOps = float64(rpc)/mins, float64(http)/mins, float64(auth)/mins
	}
	rep.FSOps, rep.AuthOpsL = sortedOps(r.fsCount.Snapshot()), sortedOps(r.auCount.Snapshot())

	// Resources over the steady phase.
	samples := r.sampler.Samples()
	var n int
	var win []float64
	for _, s := range samples {
		if s.At < s0 || s.At > s1 {
			continue
		}
		n++
		rep.Server.CPUAvg += s.ServerCPU
		rep.Server.RSSAvg += s.ServerRSS
		rep.Server.RSSPeak = max(rep.Server.RSSPeak, s.ServerRSS)
		rep.Machine.Busy += s.MachineBusy
		rep.Machine.FirestoreEm += s.FirestoreEm
		rep.Machine.AuthEm += s.AuthEm
		rep.Machine.LoadGen += s.LoadCPU
		win = append(win, s.ServerCPU)
		if len(win) > 10 {
			win = win[1:]
		}
		if len(win) == 10 {
			avg := 0.0
			for _, v := range win {
				avg += v / 10
			}
			rep.Server.CPUPeak10s = max(rep.Server.CPUPeak10s, avg)
		}
	}
	if n > 0 {
		f := float64(n)
		rep.Server.CPUAvg /= f
		rep.Server.RSSAvg /= f
		rep.Machine.Busy /= f
		rep.Machine.FirestoreEm /= f
		rep.Machine.AuthEm /= f
		rep.Machine.LoadGen /= f
	}
	rep.Server.CPUSeconds = r.server.CPU().Seconds()

	// Request rates over the steady phase, per-minute table.
	if st := r.rec.Between(s0, s1); rep.Steady > 0 {
		rep.APIRate = float64(st.API) / rep.Steady.Seconds()
		rep.AgentFSRate = float64(st.Requests-st.API) / rep.Steady.Seconds()
	}
	end := r.drainEnd.Sub(r.start)
	for m := 0; time.Duration(m)*time.Minute < end; m++ {
		a, b := time.Duration(m)*time.Minute, time.Duration(m+1)*time.Minute
		row := Minute{Minute: m, Phase: "ramp"}
		switch mid := a + 30*time.Second; {
		case mid >= s1:
			row.Phase = "drain"
		case mid >= s0:
			row.Phase = "steady"
		}
		st := r.rec.Between(a, b)
		row.Requests, row.API, row.Errors, row.Expected = st.Requests, st.API, st.Unexpected, st.Expected
		row.FSServer, row.FSAgents = r.fsCount.Between(a, b)
		_, row.AuthCall = r.auCount.Between(a, b)
		k := 0
		for _, s := range samples {
			if s.At >= a && s.At < b {
				k++
				row.ServerCPU += s.ServerCPU
				row.ServerRSS = max(row.ServerRSS, s.ServerRSS)
				row.FirestoreEm += s.FirestoreEm
				row.LoadGen += s.LoadCPU
				row.Busy += s.MachineBusy
			}
		}
		if k > 0 {
			row.ServerCPU /= float64(k)
			row.FirestoreEm /= float64(k)
			row.LoadGen /= float64(k)
			row.Busy /= float64(k)
		}
		var fl []string
		for _, w := range rep.Faults {
			end := w.End
			if end.IsZero() {
				end = r.drainEnd
			}
			if end.Sub(r.start) > a && w.Start.Sub(r.start) < b {
				fl = append(fl, w.Kind)
			}
		}
		row.Faults = strings.Join(fl, ",")
		rep.Minutes = append(rep.Minutes, row)
	}
	return rep
}

// Fprint writes the report for people.
func (r *Report) Fprint(w io.Writer) {
	line := strings.Repeat("─", 100)
	fmt.Fprintf(w, "\n%s\nowlette load run — %d agents, %d operators; ramp %s, steady %s, drain %s; project %s\n%s\n",
		line, r.Agents, r.Operators, r.Ramp.Round(time.Second), r.Steady.Round(time.Second), r.Drain.Round(time.Second), r.Project, line)
	verdict := "PASS: 0 errors, nothing lost"
	if !r.Pass() {
		verdict = fmt.Sprintf("FAIL: %d errors, %d lost commands, %d lost deployments, %d lost alerts, %d unfinished notification jobs, %d agents lost their credentials",
			r.Errors, len(r.Outcome.LostCommands), len(r.Outcome.LostDeployments), len(r.Outcome.LostAlerts), len(r.Outcome.UnfinishedJobs), r.Fleet.CredentialsWiped)
	}
	fmt.Fprintf(w, "%s\n", verdict)

	fmt.Fprintf(w, "\nRequests, client side (p50/p99 of 2xx answers; E22 wait includes the agent's execution)\n")
	fmt.Fprintf(w, "  %-46s %7s %9s %9s %9s  %s\n", "endpoint", "n", "p50", "p99", "max", "statuses (expected failures / errors)")
	for _, e := range r.Endpoints {
		keys := make([]string, 0, len(e.Codes))
		for k := range e.Codes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var st []string
		for _, k := range keys {
			st = append(st, fmt.Sprintf("%s×%d", k, e.Codes[k]))
		}
		extra := ""
		if e.Expected > 0 || e.Unexpected > 0 {
			extra = fmt.Sprintf("  (%d / %d)", e.Expected, e.Unexpected)
		}
		fmt.Fprintf(w, "  %-46s %7d %9s %9s %9s  %s%s\n", e.Endpoint, e.Requests, ms(e.P50), ms(e.P99), ms(e.Max), strings.Join(st, " "), extra)
	}
	fmt.Fprintf(w, "  steady phase: %.1f API req/s, %.1f agent Firestore req/s\n", r.APIRate, r.AgentFSRate)

	fmt.Fprintf(w, "\nErrors (unexpected outcomes): %d; expected failures during faults: %d\n", r.Errors, r.Expected)
	for _, f := range r.ErrorSamples {
		fmt.Fprintf(w, "  %s\n", f)
	}

	o := r.Outcome
	fmt.Fprintf(w, "\nWork followed to its end\n")
	fmt.Fprintf(w, "  commands      %d sent (%d with wait), %d finished %v, %d lost", o.Commands, o.CommandsWait, o.CommandsDone, o.CommandsByStatus, len(o.LostCommands))
	if o.LostAtAgent > 0 {
		fmt.Fprintf(w, " (%d of them at the agent: its own result write failed)", o.LostAtAgent)
	}
	fmt.Fprintln(w)
	for _, l := range o.LostCommands {
		fmt.Fprintf(w, "    lost: %s\n", l)
	}
	fmt.Fprintf(w, "  deployments   %d created, by status %v, %d not terminal\n", o.Deployments, o.DeploymentsByStatus, len(o.LostDeployments))
	for _, l := range o.LostDeployments {
		fmt.Fprintf(w, "    open: %s\n", l)
	}
	fmt.Fprintf(w, "  alerts        %d accepted, %d delivered to the webhook (raise → delivery p50 %s, max %s), %d duplicate deliveries, %d lost\n",
		o.Alerts, o.AlertsDelivered, o.AlertDelay50.Round(time.Millisecond), o.AlertDelayMax.Round(time.Millisecond), o.DuplicateDeliveries, len(o.LostAlerts))
	for _, l := range o.LostAlerts {
		fmt.Fprintf(w, "    lost: %s\n", l)
	}
	for _, j := range o.UnfinishedJobs {
		fmt.Fprintf(w, "    unfinished notification job: %s\n", j)
	}
	fmt.Fprintf(w, "  webhook       %d deliveries received, %d bad signatures\n", r.Webhook.Received, r.Webhook.BadSignature)
	e := r.Eventarc
	fmt.Fprintf(w, "  triggers      %d events, %d delivered (%d after retries), %d refused, %d given up; event → handled p50 %s p99 %s max %s\n",
		e.Received, e.Delivered, e.Retried, e.Dropped, e.GaveUp, ms(e.P50), ms(e.P99), ms(e.Max))

	f := r.Fleet
	fmt.Fprintf(w, "\nAgents: %d running (%d pairing failures); heartbeats written in the steady phase %d (the 30 s cadence alone makes %.0f; agents also write one after each command); %d failed (%d for want of a token)\n",
		f.Running, f.PairFailures, r.HBSteady, r.HBWanted, f.HeartbeatFailed, f.HeartbeatNoToken)
	fmt.Fprintf(w, "  token refreshes %d ok, %d failed (backed off, credentials kept); credentials wiped: %d; stopped with an error: %d\n",
		f.Refreshed, f.RefreshFailed, f.CredentialsWiped, f.StoppedErr)
	for _, s := range append(f.PairErrors, f.StopErrors...) {
		fmt.Fprintf(w, "    %s\n", s)
	}

	fmt.Fprintf(w, "\nServer (dev server process, steady phase): CPU %.0f%% of one core on average, %.0f%% peak (10 s); RSS %.0f MiB average, %.0f MiB peak; %.1f CPU-s in all\n",
		r.Server.CPUAvg, r.Server.CPUPeak10s, r.Server.RSSAvg, r.Server.RSSPeak, r.Server.CPUSeconds)
	fmt.Fprintf(w, "Machine (2 cores, shared): %.0f%% busy; Firestore emulator %.0f%% of one core (shared with everyone's tests), Auth emulator %.0f%%, this load generator %.0f%%\n",
		r.Machine.Busy, r.Machine.FirestoreEm, r.Machine.AuthEm, r.Machine.LoadGen)
	fmt.Fprintf(w, "Firestore operations per minute (steady): %.0f server RPCs + %.0f agent REST requests = %.0f; Auth emulator calls %.0f/min\n",
		r.FSServer, r.FSAgents, r.FSServer+r.FSAgents, r.AuthOps)
	fmt.Fprintf(w, "  by operation (whole run): %s\n", topOps(r.FSOps, 14))
	if len(r.AuthOpsL) > 0 {
		fmt.Fprintf(w, "  Auth (whole run): %s\n", topOps(r.AuthOpsL, 6))
	}

	if len(r.Faults) > 0 {
		fmt.Fprintf(w, "\nFaults\n")
		for _, f := range r.Faults {
			rec := "no success seen after it"
			if f.Recovery >= 0 {
				rec = "first success through it " + f.Recovery.Round(100*time.Millisecond).String() + " after"
			}
			last := ""
			if !f.LastFailure.IsZero() && f.LastFailure.After(f.End) {
				last = fmt.Sprintf(", the last one ended %s after the fault", f.LastFailure.Sub(f.End).Round(100*time.Millisecond))
			}
			fmt.Fprintf(w, "  %-9s at +%s of the steady phase: %s; %d retryable failures seen by clients%s; %s\n", f.Kind,
				fmtDur(f.Start.Sub(r.steadyStart)), f.Note, f.Failures, last, rec)
		}
		if len(r.Restarts) > 0 {
			fmt.Fprintf(w, "  server kill → serving again: %v\n", r.Restarts)
		}
		for k, v := range r.AuthProbe {
			fmt.Fprintf(w, "  forced agent refreshes %s the Auth outage: %v (status → count)\n", k, v)
		}
	}

	fmt.Fprintf(w, "\nPer minute\n  %3s %-6s %7s %6s %5s %5s %6s %6s %6s %6s %6s %8s %8s %6s  %s\n",
		"min", "phase", "req", "api", "err", "exp", "srvCPU", "RSS", "fsEmu", "loadgn", "busy", "fsRPC", "fsREST", "auth", "faults")
	for _, m := range r.Minutes {
		fmt.Fprintf(w, "  %3d %-6s %7d %6d %5d %5d %5.0f%% %6.0f %5.0f%% %5.0f%% %5.0f%% %8d %8d %6d  %s\n",
			m.Minute, m.Phase, m.Requests, m.API, m.Errors, m.Expected, m.ServerCPU, m.ServerRSS, m.FirestoreEm, m.LoadGen, m.Busy, m.FSServer, m.FSAgents, m.AuthCall, m.Faults)
	}
	for _, s := range r.SetupErrors {
		fmt.Fprintf(w, "\nrun error: %s\n", s)
	}
	fmt.Fprintln(w, line)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

func topOps(ops []opCount, n int) string {
	var s []string
	for i, o := range ops {
		if i == n {
			s = append(s, "…")
			break
		}
		s = append(s, fmt.Sprintf("%s %d", o.Op, o.Count))
	}
	return strings.Join(s, ", ")
}
