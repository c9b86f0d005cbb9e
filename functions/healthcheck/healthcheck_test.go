package healthcheck

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/fn"
	"github.com/owlette/server/shared/guard"
)

const cronSecret = "apptest-cron-secret" // apptest.Config

// TestAuth: the check is behind guard.Cron (its credentials are tested in
// shared/guard); an empty fleet answers with zero counts.
func TestAuth(t *testing.T) {
	e := apptest.New(t, Register)
	admin := e.Admin()
	empty := map[string]any{"ok": true, "sitesChecked": 0.0, "machinesChecked": 0.0, "alertsSent": 0.0, "webhooksQueued": 0.0}
	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "POST", Path: "/", Status: http.StatusUnauthorized},
		{Name: "admin API key", Method: "POST", Path: "/", Cred: apptest.WithAPIKey(admin.APIKey()), Status: http.StatusUnauthorized},
		{Name: "wrong secret", Method: "POST", Path: "/", Header: map[string]string{guard.CronSecretHeader: "nope"}, Status: http.StatusUnauthorized},
		{Name: "cron secret", Method: "POST", Path: "/", Header: map[string]string{guard.CronSecretHeader: cronSecret}, Status: http.StatusOK, Want: empty},
		{Name: "cron secret GET", Method: "GET", Path: "/", Header: map[string]string{guard.CronSecretHeader: cronSecret}, Status: http.StatusOK},
		{Name: "PUT", Method: "PUT", Path: "/", Header: map[string]string{guard.CronSecretHeader: cronSecret}, Status: http.StatusMethodNotAllowed},
	})
	r := e.Do("POST", "/", nil, nil, map[string]string{guard.CronSecretHeader: cronSecret})
	if !reflect.DeepEqual(r.JSON, empty) {
		t.Errorf("empty fleet: %s", r.Raw)
	}
}

// Scheduled every 5 minutes (datamodel.md §7.4).
func TestSpec(t *testing.T) {
	if p, err := Spec.Every(); err != nil || p != 5*time.Minute || Spec.Kind != fn.Scheduled || Spec.Package() != "functions/healthcheck" {
		t.Errorf("spec = %+v, every %v %v", Spec, p, err)
	}
}
