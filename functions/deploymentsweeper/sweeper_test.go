package deploymentsweeper

import (
	"net/http"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/background"
	"github.com/owlette/server/shared/guard"
)

const cronSecret = "apptest-cron-secret" // apptest.Config

// TestAuth: the sweep is behind guard.Cron (its credentials are tested in
// shared/guard).
func TestAuth(t *testing.T) {
	e := apptest.New(t, Register)
	admin := e.Admin()
	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "POST", Path: "/", Status: http.StatusUnauthorized},
		{Name: "admin API key", Method: "POST", Path: "/", Cred: apptest.WithAPIKey(admin.APIKey()), Status: http.StatusUnauthorized},
		{Name: "cron secret", Method: "POST", Path: "/", Header: map[string]string{guard.CronSecretHeader: cronSecret}, Status: http.StatusOK},
		{Name: "cron secret GET", Method: "GET", Path: "/", Header: map[string]string{guard.CronSecretHeader: cronSecret}, Status: http.StatusOK},
		{Name: "PUT", Method: "PUT", Path: "/", Header: map[string]string{guard.CronSecretHeader: cronSecret}, Status: http.StatusMethodNotAllowed},
	})
}

// The shared table runs this function every 5 minutes with a 60 s timeout.
func TestBackgroundTable(t *testing.T) {
	s, ok := background.ScheduleByName(Name)
	if !ok || s.Cron != "*/5 * * * *" || s.Every != 5*time.Minute || s.Timeout != 60 || s.Package != "functions/deploymentsweeper" {
		t.Errorf("schedule = %+v, %v", s, ok)
	}
	if p, err := background.CronPeriod(s.Cron); err != nil || p != s.Every {
		t.Errorf("cron period %v %v", p, err)
	}
}
