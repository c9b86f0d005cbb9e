package email

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ThresholdAlert is the X09 metric-rule mail for one recipient.
type ThresholdAlert struct {
	SiteID      string
	SiteName    string
	MachineID   string
	MachineName string
	RuleName    string
	Metric      string // cpu_percent, memory_percent, … (unknown: shown as is)
	Operator    string // >, <, >=, <=
	Severity    string // info | warning | critical; others get the warning colour
	// Value and Threshold are the request's values, any JSON type
	// (X09 only checks they are present); numbers get the metric's unit.
	Value     any
	Threshold any
	Time      time.Time
	Timezone  string
	Links
}

// metricInfo is a metric's label and unit suffix.
type metricInfo struct{ label, unit string }

// metrics are the rule metrics of settings/alerts (datamodel.md §2.13).
var metrics = map[string]metricInfo{
	"cpu_percent":         {"CPU usage", "%"},
	"memory_percent":      {"Memory usage", "%"},
	"disk_percent":        {"Disk usage", "%"},
	"gpu_percent":         {"GPU usage", "%"},
	"cpu_temp":            {"CPU temperature", "°C"},
	"gpu_temp":            {"GPU temperature", "°C"},
	"network_latency":     {"Network latency", " ms"},
	"network_packet_loss": {"Packet loss", "%"},
}

// MetricLabel is the human label of a metric ("CPU usage"), the metric
// name itself when unknown.
func MetricLabel(metric string) string {
	if m, ok := metrics[metric]; ok {
		return m.label
	}
	return metric
}

// severityColor: info blue, warning amber, critical red; anything else is
// drawn as a warning (api.md X09).
func severityColor(s string) string {
	switch strings.ToLower(s) {
	case "info":
		return colorBlue
	case "critical":
		return colorRed
	}
	return colorAmber
}

// Render builds the mail: subject "[<SEVERITY>] <ruleName> — <machineId>".
func (a ThresholdAlert) Render() Mail {
	sev := strings.ToUpper(a.Severity)
	label := MetricLabel(a.Metric)
	unit := metrics[a.Metric].unit
	value := formatMetric(a.Value, unit)
	limit := strings.TrimSpace(a.Operator + " " + formatMetric(a.Threshold, unit))
	machine := machineLabel(a.MachineID, a.MachineName)
	v := view{
		Subject: "[" + sev + "] " + a.RuleName + " — " + a.MachineID,
		Accent:  severityColor(a.Severity),
		Badge:   sev,
		Title:   a.RuleName,
		Intro:   label + " on " + machine + " is " + value + " (threshold " + limit + ").",
		Footer:  "alerts for " + siteLabel(a.SiteID, a.SiteName),
	}
	v.Preheader = v.Intro
	v.addRow("Rule", a.RuleName)
	v.addRow("Machine", machine)
	v.addRow("Site", siteLabel(a.SiteID, a.SiteName))
	v.addRow("Metric", label)
	v.addRow("Value", value)
	v.addRow("Threshold", limit)
	v.addRow("Severity", a.Severity)
	v.addRow("Time", timeRow(a.Time, a.Timezone))
	v.links(a.Links)
	return v.render()
}

// formatMetric shows a number with at most two decimals and the unit;
// other values as they are (JSON for composites).
func formatMetric(v any, unit string) string {
	var f float64
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		return x
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case json.Number:
		p, err := x.Float64()
		if err != nil {
			return x.String()
		}
		f = p
	case bool:
		return strconv.FormatBool(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprint(f)
	}
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) + unit
}
