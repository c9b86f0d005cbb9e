package deploymentsweeper

import (
	"net/http"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/fn"
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

// Scheduled every 5 minutes with a 60 s timeout (datamodel.md §7.2).
func TestSpec(t *testing.T) {
	if p, err := Spec.Every(); err != nil || p != 5*time.Minute || Spec.Kind != fn.Scheduled || Spec.Timeout != time.Minute || Spec.Package() != "functions/deploymentsweeper" {
		t.Errorf("spec = %+v, every %v %v", Spec, p, err)
	}
}
