package config_test

import (
	"context"
	"testing"

	"github.com/owlette/server/shared/config"
)

// The admin address follows the original's environment split (api.md §1.14).
func TestAdminEmail(t *testing.T) {
	addrs := []string{"ADMIN_EMAIL_PROD", "prod@example.test", "ADMIN_EMAIL_DEV", "dev@example.test"}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"local uses the dev address", with(local, addrs...), "dev@example.test"},
		{"production uses the prod address", with(prod, addrs...), "prod@example.test"},
		{"production -dev project uses the dev address", with(prod, append(addrs, "GOOGLE_CLOUD_PROJECT", "owlette-dev")...), "dev@example.test"},
		{"unset", local, ""},
	}
	for _, c := range cases {
		cfg, err := config.Load(context.Background(), envOf(c.env), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if cfg.AdminEmail != c.want {
			t.Errorf("%s: AdminEmail %q, want %q", c.name, cfg.AdminEmail, c.want)
		}
	}
}
