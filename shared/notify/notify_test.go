package notify

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/owlette/server/shared/config"
)

func TestOrigin(t *testing.T) {
	r := httptest.NewRequest("POST", "/api/agent/alert", nil)
	if got := Origin(&config.Config{EmailConfig: &config.EmailConfig{}}, r); got != "http://example.com" {
		t.Errorf("plain: %q", got)
	}
	r.TLS = &tls.ConnectionState{}
	if got := Origin(&config.Config{EmailConfig: &config.EmailConfig{}}, r); got != "https://example.com" {
		t.Errorf("tls: %q", got)
	}
	r.Header.Set("X-Forwarded-Proto", "https, http")
	r.Header.Set("X-Forwarded-Host", "owlette.app, internal")
	if got := Origin(&config.Config{EmailConfig: &config.EmailConfig{}}, r); got != "https://owlette.app" {
		t.Errorf("forwarded: %q", got)
	}
	r.Header.Set("X-Forwarded-Proto", "javascript")
	if got := Origin(&config.Config{EmailConfig: &config.EmailConfig{}}, r); got != "https://owlette.app" {
		t.Errorf("odd proto: %q", got)
	}
	if got := Origin(&config.Config{EmailConfig: &config.EmailConfig{BaseURL: "https://dash.example/"}}, r); got != "https://dash.example" {
		t.Errorf("BASE_URL wins: %q", got)
	}
}

func TestDedupeKey(t *testing.T) {
	a := DedupeKey(KindAgentAlert, "s", "m", "x")
	if len(a) != len(KindAgentAlert)+1+40 || a != DedupeKey(KindAgentAlert, "s", "m", "x") {
		t.Errorf("not stable: %q", a)
	}
	// Parts are delimited: moving a boundary changes the key.
	if a == DedupeKey(KindAgentAlert, "s", "mx") || a == DedupeKey(KindAgentAlert, "sm", "x") {
		t.Error("part boundaries ignored")
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if Bucket(t0) != Bucket(t0.Add(54*time.Second)) || Bucket(t0) == Bucket(t0.Add(55*time.Second)) {
		t.Error("buckets are not whole minutes")
	}
}

func TestAlertEvent(t *testing.T) {
	for in, want := range map[string]string{
		"process_crash": "process.crashed", "process_start_failed": "process.restarted",
		"connection_failure": "machine.offline", "": "machine.offline", "disk_full": "machine.offline",
	} {
		if got := AlertEvent(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestEnvLabel(t *testing.T) {
	cases := []struct {
		c    config.Config
		want string
	}{
		{config.Config{Base: config.Base{Env: "production"}}, "PRODUCTION"},
		{config.Config{Base: config.Base{Env: "production", Dev: true}}, "DEVELOPMENT"},
		{config.Config{Base: config.Base{Env: "local"}}, "DEVELOPMENT"},
	}
	for _, c := range cases {
		if got := EnvLabel(&c.c); got != c.want {
			t.Errorf("%+v: %s", c.c, got)
		}
	}
}
