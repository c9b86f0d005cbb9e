package machinemetrics

import (
	"math"
	"strings"
)

// Rule is one threshold rule of settings/alerts (§2.13).
type Rule struct {
	ID, Name, Metric, Operator, Severity string
	Value                                float64
	Threshold                            any // as stored, for the alert
	Email, Webhook                       bool
	CooldownSeconds                      int64
}

// metricPaths maps rule metrics to the machine document's metrics (§7.3).
var metricPaths = map[string][2]string{
	"cpu_percent":         {"cpu", "percent"},
	"memory_percent":      {"memory", "percent"},
	"disk_percent":        {"disk", "percent"},
	"gpu_percent":         {"gpu", "usage_percent"},
	"cpu_temp":            {"cpu", "temperature"},
	"gpu_temp":            {"gpu", "temperature"},
	"network_latency":     {"network", "latency_ms"},
	"network_packet_loss": {"network", "packet_loss_pct"},
}

// ParseRules reads settings/alerts.rules: entries need a string id and
// metric; disabled rules, unknown metrics and non-numeric values are left
// out. A cooldownMinutes below the contract's minimum of 1 (or missing)
// counts as 1.
func ParseRules(doc map[string]any) []Rule {
	list, _ := doc["rules"].([]any)
	var out []Rule
	for _, v := range list {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		id, _ := m["id"].(string)
		metric, _ := m["metric"].(string)
		if id == "" || metric == "" || !truthy(m["enabled"]) {
			continue
		}
		if _, ok := metricPaths[metric]; !ok {
			continue
		}
		val, ok := Number(m["value"])
		if !ok {
			continue
		}
		r := Rule{ID: id, Metric: metric, Value: val, Threshold: m["value"]}
		r.Name, _ = m["name"].(string)
		if r.Name == "" {
			r.Name = id
		}
		r.Operator, _ = m["operator"].(string)
		r.Severity, _ = m["severity"].(string)
		if r.Severity == "" {
			r.Severity = "warning"
		}
		channels, _ := m["channels"].([]any)
		for _, c := range channels {
			switch c {
			case "email":
				r.Email = true
			case "webhook":
				r.Webhook = true
			}
		}
		mins, _ := Number(m["cooldownMinutes"])
		r.CooldownSeconds = int64(math.Max(1, mins) * 60)
		out = append(out, r)
	}
	return out
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case nil:
		return false
	case string:
		return x != ""
	case int64:
		return x != 0
	case float64:
		return x != 0 && !math.IsNaN(x)
	}
	return true
}

// Measure reads the rule's metric from an upload's metrics (raw as
// stored); ok is false when it is missing or not a number.
func (r Rule) Measure(metrics map[string]any) (raw any, v float64, ok bool) {
	p := metricPaths[r.Metric]
	sub, _ := metrics[p[0]].(map[string]any)
	raw = sub[p[1]]
	if _, isString := raw.(string); isString {
		return raw, 0, false
	}
	v, ok = Number(raw)
	return raw, v, ok
}

// Breached compares a value with the rule's threshold.
func (r Rule) Breached(v float64) bool {
	switch strings.TrimSpace(r.Operator) {
	case ">":
		return v > r.Value
	case "<":
		return v < r.Value
	case ">=":
		return v >= r.Value
	case "<=":
		return v <= r.Value
	}
	return false
}
