package screenshots_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
)

func deletePath(params ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return "/api/admin/screenshots?" + q.Encode()
}

// seed uploads n screenshots for a machine through E18 and returns the
// history doc ids, oldest first, and the history object names.
func (e *env) seed(t *testing.T, site, machine string, n int) (ids, objects []string) {
	t.Helper()
	tok := e.agent(site, machine)
	img := testJPEG(t, 16, 16, false)
	for i := 0; i < n; i++ {
		e.Clock.Advance(time.Second)
		objects = append(objects, "screenshots/"+site+"/"+machine+"/history/"+strconv.FormatInt(e.Clock.Now().UnixMilli(), 10)+".jpg")
		if r := e.Do("POST", uploadPath, apptest.WithBearer(tok), body(site, machine, b64(img)), nil); r.StatusCode != 200 {
			t.Fatalf("seed: %d %s", r.StatusCode, r.Raw)
		}
	}
	snaps, err := e.FS.Collection("sites/"+site+"/machines/"+machine+"/screenshots").OrderBy("timestamp", 1).Documents(context.Background()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		ids = append(ids, s.Ref.ID)
	}
	return ids, objects
}

func (e *env) exists(t *testing.T, name string) bool {
	t.Helper()
	a, _ := e.object(t, name)
	return a != nil
}

func TestDeleteScreenshots(t *testing.T) {
	e := newEnv(t)
	owner, member, admin := e.Member(), e.Member("site-a"), e.Admin()
	e.Site("site-a", owner.UID)
	ids, objects := e.seed(t, "site-a", "PC-1", 3)
	cookie := apptest.WithCookie(admin.Cookie())
	one := deletePath("siteId", "site-a", "machineId", "PC-1", "screenshotId", ids[0])
	all := deletePath("siteId", "site-a", "machineId", "PC-1")
	untouched := func(t *testing.T, r *apptest.Response) {
		if n := e.Count("sites/site-a/machines/PC-1/screenshots"); n != 3 {
			t.Errorf("%d history docs left, want 3", n)
		}
	}

	e.Run(t, []apptest.Scenario{
		{Name: "no credential", Method: "DELETE", Path: one, Status: 401, Check: untouched},
		{Name: "forged bearer", Method: "DELETE", Path: one, Cred: apptest.WithBearer("eyJhbGciOiJub25lIn0.e30."), Status: 401},
		{Name: "invalid API key", Method: "DELETE", Path: one, Cred: apptest.WithAPIKey("owk_nope"), Status: 401},
		{Name: "site owner is not an admin", Method: "DELETE", Path: one, Cred: apptest.WithCookie(owner.Cookie()), Status: 403},
		{Name: "assigned member", Method: "DELETE", Path: all, Cred: apptest.WithCookie(member.Cookie()), Status: 403, Check: untouched},
		{Name: "member API key", Method: "DELETE", Path: all, Cred: apptest.WithAPIKey(member.APIKey()), Status: 403},
		{Name: "agent token", Method: "DELETE", Path: all, Cred: apptest.WithBearer(e.agent("site-a", "PC-1")), Status: 403, Check: untouched},
		{Name: "siteId missing", Method: "DELETE", Path: deletePath("machineId", "PC-1"), Cred: cookie, Status: 400,
			Want: map[string]any{"error": "Missing required parameter: siteId"}},
		{Name: "machineId missing", Method: "DELETE", Path: deletePath("siteId", "site-a"), Cred: cookie, Status: 400,
			Want: map[string]any{"error": "Missing required parameter: machineId"}},
		{Name: "unknown site", Method: "DELETE", Path: deletePath("siteId", "nowhere", "machineId", "PC-1"), Cred: cookie, Status: 404},
		{Name: "invalid siteId", Method: "DELETE", Path: deletePath("siteId", "a/b", "machineId", "PC-1"), Cred: cookie, Status: 404},
		{Name: "invalid machineId", Method: "DELETE", Path: deletePath("siteId", "site-a", "machineId", "__m__"), Cred: cookie, Status: 400},
		{Name: "machineId with a slash", Method: "DELETE", Path: deletePath("siteId", "site-a", "machineId", "PC-1/screenshots/x"), Cred: cookie, Status: 400},
		{Name: "invalid screenshotId", Method: "DELETE", Path: deletePath("siteId", "site-a", "machineId", "PC-1", "screenshotId", "a/b"), Cred: cookie, Status: 404, Check: untouched},
		{Name: "empty screenshotId", Method: "DELETE", Path: deletePath("siteId", "site-a", "machineId", "PC-1", "screenshotId", ""), Cred: cookie, Status: 404, Check: untouched},
		{Name: "unknown screenshotId", Method: "DELETE", Path: deletePath("siteId", "site-a", "machineId", "PC-1", "screenshotId", "nope"), Cred: cookie, Status: 404,
			Want: map[string]any{"error": "Screenshot not found"}, Check: untouched},
		{Name: "screenshot of another machine", Method: "DELETE", Path: deletePath("siteId", "site-a", "machineId", "PC-2", "screenshotId", ids[0]), Cred: cookie, Status: 404, Check: untouched},

		{Name: "one screenshot (ID token)", Method: "DELETE", Path: one, Cred: apptest.WithBearer(admin.IDToken()), Status: 200,
			Want: map[string]any{"success": true, "deleted": 1},
			Check: func(t *testing.T, r *apptest.Response) {
				if e.Doc("sites/site-a/machines/PC-1/screenshots/"+ids[0]) != nil || e.exists(t, objects[0]) {
					t.Error("screenshot doc or object remains")
				}
				if e.Count("sites/site-a/machines/PC-1/screenshots") != 2 || !e.exists(t, objects[1]) || !e.exists(t, objects[2]) {
					t.Error("other screenshots touched")
				}
				if e.Doc("sites/site-a/machines/PC-1")["lastScreenshot"] == nil || !e.exists(t, "screenshots/site-a/PC-1/latest.jpg") {
					t.Error("deleting one screenshot must leave lastScreenshot and latest.jpg")
				}
			}},
		{Name: "same screenshot again", Method: "DELETE", Path: one, Cred: cookie, Status: 404},
		{Name: "whole history (API key)", Method: "DELETE", Path: all, Cred: apptest.WithAPIKey(admin.APIKey()), Status: 200,
			Want: map[string]any{"success": true, "deleted": 2},
			Check: func(t *testing.T, r *apptest.Response) {
				if n := e.Count("sites/site-a/machines/PC-1/screenshots"); n != 0 {
					t.Errorf("%d history docs remain", n)
				}
				for _, o := range append(objects, "screenshots/site-a/PC-1/latest.jpg") {
					if e.exists(t, o) {
						t.Errorf("%s remains", o)
					}
				}
				m := e.Doc("sites/site-a/machines/PC-1")
				if v, ok := m["lastScreenshot"]; !ok || v != nil {
					t.Errorf("lastScreenshot = %v (present %v), want null", v, ok)
				}
			}},
		{Name: "empty history", Method: "DELETE", Path: all, Cred: cookie, Status: 200, Want: map[string]any{"success": true, "deleted": 0}},
	})

	// History docs without a machine doc (an agent replaced or removed it):
	// the history goes, no machine doc is invented.
	t.Run("machine doc missing", func(t *testing.T) {
		_, objs := e.seed(t, "site-a", "PC-3", 2)
		if _, err := e.FS.Doc("sites/site-a/machines/PC-3").Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := e.Do("DELETE", deletePath("siteId", "site-a", "machineId", "PC-3"), cookie, nil, nil)
		if r.StatusCode != 200 || r.JSON["deleted"] != float64(2) {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if e.Doc("sites/site-a/machines/PC-3") != nil {
			t.Error("machine doc created")
		}
		if e.Count("sites/site-a/machines/PC-3/screenshots") != 0 || e.exists(t, objs[0]) || e.exists(t, "screenshots/site-a/PC-3/latest.jpg") {
			t.Error("history left behind")
		}
	})

	// A history doc whose url points outside the machine's folder loses its
	// doc but never deletes another machine's object.
	t.Run("foreign url", func(t *testing.T) {
		_, objs := e.seed(t, "site-a", "PC-4", 1)
		ref, _, err := e.FS.Collection("sites/site-a/machines/PC-5/screenshots").Add(context.Background(),
			map[string]any{"url": e.url(objs[0]), "timestamp": time.Now(), "sizeKB": 1})
		if err != nil {
			t.Fatal(err)
		}
		r := e.Do("DELETE", deletePath("siteId", "site-a", "machineId", "PC-5", "screenshotId", ref.ID), cookie, nil, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if !e.exists(t, objs[0]) {
			t.Error("another machine's object was deleted")
		}
	})
}
