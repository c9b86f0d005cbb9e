package autonomous

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/shared/config"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestLock(t *testing.T) {
	l := parseLock(nil)
	l.take("a", t0)
	l.take("b", t0.Add(time.Minute))
	l.take("a", t0.Add(2*time.Minute)) // a claim refreshes its own slot
	if l.active != 2 || !l.holders["a"].Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("take: %+v", l)
	}
	if !l.release("a") || l.release("a") || l.active != 1 {
		t.Fatalf("release is once per holder: %+v", l)
	}
	// b (held since t0+1m) dies at t0+1m+ReclaimAfter.
	if d := l.expire(t0.Add(time.Minute + ReclaimAfter)); len(d) != 0 {
		t.Errorf("expired at the limit: %v", d)
	}
	if d := l.expire(t0.Add(time.Minute + ReclaimAfter + time.Millisecond)); len(d) != 1 || d[0] != "b" || l.active != 0 {
		t.Errorf("expire: %v %+v", d, l)
	}
	if l.release("b") {
		t.Error("released an expired slot again")
	}
}

func TestLegacyLock(t *testing.T) {
	// The original's document: a count, no holders.
	l := parseLock(map[string]any{"activeSessions": int64(3), "lastUpdated": t0})
	l.expire(t0.Add(ReclaimAfter))
	if l.active != 3 {
		t.Errorf("fresh anonymous slots dropped: %+v", l)
	}
	l.expire(t0.Add(ReclaimAfter + time.Second))
	if l.active != 0 {
		t.Errorf("stale anonymous slots kept: %+v", l)
	}
	// Holders always count, whatever the count says.
	l = parseLock(map[string]any{"activeSessions": 0.0, "holders": map[string]any{"x": t0, "y": t0}})
	if l.active != 2 {
		t.Errorf("holders not counted: %+v", l)
	}
	doc := l.doc(t0)
	if doc["activeSessions"] != int64(2) || len(doc["holders"].(map[string]any)) != 2 || doc["lastUpdated"] != t0 {
		t.Errorf("doc %v", doc)
	}
}

func TestParseSettings(t *testing.T) {
	d := ParseSettings(nil)
	if d.AutonomousEnabled || d.MaxTier != 2 || d.Cooldown != 15*time.Minute || !d.EscalationEmail || d.Directive != "" {
		t.Errorf("defaults %+v", d)
	}
	s := ParseSettings(map[string]any{"autonomousEnabled": "yes", "maxTier": int64(7), "cooldownMinutes": 2.5, "escalationEmail": false, "directive": "be careful"})
	if !s.AutonomousEnabled || s.MaxTier != 3 || s.Cooldown != 150*time.Second || s.EscalationEmail || s.Directive != "be careful" {
		t.Errorf("parsed %+v", s)
	}
	// Wrong types and out-of-range values take the defaults; only false
	// turns e-mails off (the original's === false).
	s = ParseSettings(map[string]any{"autonomousEnabled": 0.0, "maxTier": "3", "cooldownMinutes": -1.0, "escalationEmail": "false"})
	if s.AutonomousEnabled || s.MaxTier != 2 || s.Cooldown != 15*time.Minute || !s.EscalationEmail {
		t.Errorf("lenient %+v", s)
	}
	if s := ParseSettings(map[string]any{"maxTier": int64(0)}); s.MaxTier != 2 {
		t.Errorf("maxTier 0 → %d", s.MaxTier)
	}
}

func TestValidate(t *testing.T) {
	ok := Request{SiteID: "s", MachineID: "WS-01", ProcessName: "TD", EventType: "process_crash"}
	q := ok
	if err := q.Validate(); err != nil || q.MachineName != "WS-01" {
		t.Errorf("valid: %v %+v", err, q)
	}
	for name, mut := range map[string]func(*Request){
		"siteId":       func(r *Request) { r.SiteID = "" },
		"machineId":    func(r *Request) { r.MachineID = "" },
		"processName":  func(r *Request) { r.ProcessName = "  " },
		"eventType":    func(r *Request) { r.EventType = "" },
		"bad site id":  func(r *Request) { r.SiteID = "a/b" },
		"bad machine":  func(r *Request) { r.MachineID = "__x__" },
		"long message": func(r *Request) { r.ErrorMessage = strings.Repeat("e", 9000) },
	} {
		q := ok
		mut(&q)
		if err := q.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The notification trigger's entry: a body that can never be an
// investigation is refused (not retried), before anything is read.
func TestAcceptBodyInvalid(t *testing.T) {
	accepted, reason, id, err := AcceptBody(context.Background(), nil, map[string]any{"siteId": "s", "machineId": 7})
	if accepted || reason != ReasonInvalid || id != "" || err != nil {
		t.Errorf("%v %q %q %v", accepted, reason, id, err)
	}
	r := RequestFromBody(map[string]any{"siteId": "s", "machineId": "m", "machineName": 3, "processName": "p", "eventType": "e", "errorMessage": "x", "agentVersion": "2"})
	if r != (Request{SiteID: "s", MachineID: "m", ProcessName: "p", EventType: "e", ErrorMessage: "x", AgentVersion: "2"}) {
		t.Errorf("%+v", r)
	}
}

func TestIDs(t *testing.T) {
	if got := EventID(1700000000123, "WS.01 (lobby)/ü"); got != "evt_1700000000123_WS01lobby" {
		t.Errorf("EventID %q", got)
	}
	if got := ChatID(5, "a_b-c"); got != "auto_5_a_b-c" {
		t.Errorf("ChatID %q", got)
	}
	if ProcessVerb("process_start_failed") != "failed to start" || ProcessVerb("process_crash") != "crashed" {
		t.Error("ProcessVerb")
	}
}

func TestStorable(t *testing.T) {
	v := StorableJSON([]byte(`{"a":[[1,2],{"b":[3]}],"":1,"__k__":2,"big":12345678901234567890,"n":7,"f":0.5}`)).(map[string]any)
	b, _ := json.Marshal(v)
	want := `{"_":1,"a":["[1,2]",{"b":[3]}],"big":12345678901234567000,"f":0.5,"k__k__":2,"n":7}`
	if string(b) != want {
		t.Errorf("storable %s\nwant %s", b, want)
	}
	if v["n"] != int64(7) {
		t.Errorf("safe integers are int64: %T", v["n"])
	}
	deep := strings.Repeat(`{"x":`, 30) + "1" + strings.Repeat("}", 30)
	if _, err := json.Marshal(StorableJSON([]byte(deep))); err != nil {
		t.Error(err)
	}
	if StorableJSON([]byte("{")) != nil {
		t.Error("invalid JSON stored")
	}
}

func TestEscalationOrigin(t *testing.T) {
	for _, c := range []struct {
		env, base string
		dev       bool
		want      string
	}{
		{"production", "", false, "https://owlette.app"},
		{"production", "", true, "https://dev.owlette.app"},
		{"local", "", false, "https://dev.owlette.app"},
		{"production", "https://dash.example/", false, "https://dash.example"},
	} {
		cfg := configFor(c.env, c.base, c.dev)
		if got := EscalationOrigin(cfg); got != c.want {
			t.Errorf("%+v → %s", c, got)
		}
	}
}

func configFor(env, base string, dev bool) *config.Config {
	return &config.Config{Base: config.Base{Env: env, Dev: dev}, EmailConfig: &config.EmailConfig{BaseURL: base}}
}
