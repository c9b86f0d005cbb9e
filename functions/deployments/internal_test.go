package deployments

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/guard"
	"github.com/owlette/server/shared/ratelimit"
)

func TestParseLimit(t *testing.T) {
	for s, want := range map[string]int{
		"": 20, "0": 20, "-0": 20, "abc": 20, "NaN": 20, "1": 1, "7": 7, " 7": 7, "\t+8x": 8, "100": 100, "101": 100,
		"99999999999999999999": 100, "-1": 1, "-50": 1, "0x10": 16, "0X1f": 31, "0x": 20, "1e3": 1, "3.9": 3, "- 3": 20,
	} {
		if got := ParseLimit(s); got != want {
			t.Errorf("ParseLimit(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestRollup(t *testing.T) {
	tg := func(sts ...string) []any {
		out := make([]any, len(sts))
		for i, s := range sts {
			out[i] = map[string]any{"machineId": "m", "status": s}
		}
		return out
	}
	for _, c := range []struct {
		targets []any
		want    string
		done    bool
	}{
		{tg("cancelled", "cancelled"), "cancelled", true},
		{tg("completed", "completed"), "completed", true},
		{tg("completed", "cancelled"), "partial", true},
		{tg("failed", "cancelled"), "partial", true},
		{tg("uninstalled", "cancelled"), "partial", true},
		{tg("cancelled", "installing"), "", false},
		{tg("cancelled", "pending"), "", false},
		{append(tg("cancelled"), "not a map"), "", false},
	} {
		st, done := rollup(c.targets)
		if st != c.want || done != c.done {
			t.Errorf("rollup(%v) = %q %v, want %q %v", c.targets, st, done, c.want, c.done)
		}
	}
}

func TestCheckInstallerURL(t *testing.T) {
	for u, want := range map[string]error{
		"https://dl.example/a.exe": nil, "HTTPS://dl.example/a.exe": nil, " https://dl.example/a.exe\n": nil,
		"https://dl.example:8443/a b.exe?x=1#f": nil, "https://user:pw@dl.example/": nil, "https://[::1]/a.exe": nil,
		"http://dl.example/a.exe": ErrNotHTTPS, "javascript:alert(1)": ErrNotHTTPS, "file:///c:/a.exe": ErrNotHTTPS,
		"ftp://x/a.exe": ErrNotHTTPS, "data:,x": ErrNotHTTPS, "mailto:a@b": ErrNotHTTPS,
		"": ErrBadURL, "a.exe": ErrBadURL, "//dl.example/a.exe": ErrBadURL, "https:a.exe": ErrBadURL, "https://": ErrBadURL,
		"https://:443/a": ErrBadURL, "https://%zz/": ErrBadURL, "://x": ErrBadURL,
	} {
		if got := CheckInstallerURL(u); got != want {
			t.Errorf("CheckInstallerURL(%q) = %v, want %v", u, got, want)
		}
	}
}

// registerWithHook builds the group with a hook between read and write.
func registerWithHook(hook *func()) app.Register {
	return func(rt *app.Router) {
		h := &handlers{d: rt.D, beforeCommit: func() {
			if *hook != nil {
				f := *hook
				*hook = nil // once
				f()
			}
		}}
		rt.Handle("DELETE /api/admin/deployments/{deploymentId}", guard.Member, ratelimit.None, h.remove)
		rt.Handle("POST /api/admin/deployments/{deploymentId}/cancel", guard.Member, ratelimit.None, h.cancel)
	}
}

// TestConcurrentChange: a trigger write between the handler's read and its
// write is not lost (cancel) and not overruled (delete).
func TestConcurrentChange(t *testing.T) {
	var hook func()
	e := apptest.New(t, registerWithHook(&hook))
	admin := e.Admin()
	e.Site("s", "")
	ctx := context.Background()
	ref := e.FS.Doc("sites/s/deployments/deploy-1")
	seed := func(status string, targets ...any) {
		if _, err := ref.Set(ctx, map[string]any{"status": status, "targets": targets, "createdAt": time.Now()}); err != nil {
			t.Fatal(err)
		}
	}

	// Cancel m1 while the trigger completes m2.
	seed("in_progress", map[string]any{"machineId": "m1", "status": "installing"}, map[string]any{"machineId": "m2", "status": "installing"})
	hook = func() {
		_, err := ref.Update(ctx, []firestore.Update{{Path: "targets", Value: []any{
			map[string]any{"machineId": "m1", "status": "installing"}, map[string]any{"machineId": "m2", "status": "completed"}}}})
		if err != nil {
			t.Error(err)
		}
	}
	r := e.Do("POST", "/api/admin/deployments/deploy-1/cancel", apptest.WithCookie(admin.Cookie()), map[string]any{"siteId": "s", "machineId": "m1", "installer_name": "x.exe"}, nil)
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	snap, _ := ref.Get(ctx)
	ts := snap.Data()["targets"].([]any)
	if ts[0].(map[string]any)["status"] != "cancelled" || ts[1].(map[string]any)["status"] != "completed" || snap.Data()["status"] != "partial" {
		t.Errorf("after concurrent change: %v", snap.Data())
	}

	// Delete a failed deployment while the trigger flips it back to work.
	seed("failed", map[string]any{"machineId": "m1", "status": "failed"})
	hook = func() {
		if _, err := ref.Update(ctx, []firestore.Update{{Path: "status", Value: "in_progress"}}); err != nil {
			t.Error(err)
		}
	}
	r = e.Do("DELETE", "/api/admin/deployments/deploy-1?siteId=s", apptest.WithCookie(admin.Cookie()), nil, nil)
	if r.StatusCode != 409 {
		t.Errorf("delete after concurrent change: %d %s", r.StatusCode, r.Raw)
	}
	if snap, err := ref.Get(ctx); err != nil || !snap.Exists() {
		t.Errorf("deployment deleted: %v", err)
	}
}
