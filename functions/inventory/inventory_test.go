package inventory_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/inventory"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

const base = "/api/admin/software-inventory"

type fixture struct {
	*apptest.Env
	site, otherSite                string
	admin, member, owner, stranger *apptest.User
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	e := apptest.New(t, inventory.Register)
	f := &fixture{Env: e, site: testenv.UniqueID("site-"), otherSite: testenv.UniqueID("other-")}
	f.admin, f.member, f.owner, f.stranger = e.Admin(), e.Member(f.site), e.Member(), e.Member(f.otherSite)
	e.Site(f.site, f.owner.UID)
	e.Site(f.otherSite, "")
	return f
}

// softwareID is the agent's document id: "{name}_{version}" with / and \ as _.
func softwareID(name, version string) string {
	return strings.NewReplacer("/", "_", `\`, "_").Replace(name + "_" + version)
}

// seed writes installed_software documents as the agent does.
func (f *fixture) seed(t testing.TB, site, machine string, entries ...map[string]any) {
	t.Helper()
	b := f.FS.Batch()
	for _, e := range entries {
		name, _ := e["name"].(string)
		version, _ := e["version"].(string)
		if _, ok := e["detected_at"]; !ok {
			e["detected_at"] = time.Now()
		}
		b.Set(f.FS.Doc("sites/"+site+"/machines/"+machine+"/installed_software/"+softwareID(name, version)), e)
	}
	if _, err := b.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func entry(name, version, publisher, typ string) map[string]any {
	return map[string]any{
		"name": name, "version": version, "publisher": publisher,
		"install_location": `C:\Program Files\` + name, "uninstall_command": `"C:\Program Files\` + name + `\unins000.exe"`,
		"registry_key": `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\` + name, "installer_type": typ,
	}
}

func TestCredentials(t *testing.T) {
	f := newFixture(t)
	f.seed(t, f.site, "m1", entry("VLC media player", "3.0.20", "VideoLAN", "nsis"))
	f.seed(t, f.otherSite, "m1", entry("Secret", "1", "x", "msi"))
	url := func(site string) string { return base + "?siteId=" + site + "&machineId=m1" }
	agent := f.IDTokenFor("agent_"+f.site+"_m1", map[string]any{"role": "agent", "site_id": f.site, "machine_id": "m1", "version": "2.4.0"})
	ok := map[string]any{"success": true, "software.0.name": "VLC media player"}
	f.Run(t, []apptest.Scenario{
		{Name: "none", Method: "GET", Path: url(f.site), Cred: apptest.NoCred, Status: 401},
		{Name: "forged bearer", Method: "GET", Path: url(f.site), Cred: apptest.WithBearer("forged.token.x"), Status: 401},
		{Name: "unknown API key", Method: "GET", Path: url(f.site), Cred: apptest.WithAPIKey("owk_nopenopenopenopenopenopenopenopenopenopenope"), Status: 401},
		{Name: "admin cookie", Method: "GET", Path: url(f.site), Cred: apptest.WithCookie(f.admin.Cookie()), Status: 200, Want: ok},
		{Name: "admin API key", Method: "GET", Path: url(f.site), Cred: apptest.WithAPIKey(f.admin.APIKey()), Status: 200, Want: ok},
		{Name: "admin ID token", Method: "GET", Path: url(f.site), Cred: apptest.WithBearer(f.admin.IDToken()), Status: 200, Want: ok},
		{Name: "member cookie", Method: "GET", Path: url(f.site), Cred: apptest.WithCookie(f.member.Cookie()), Status: 200, Want: ok},
		{Name: "member API key", Method: "GET", Path: url(f.site), Cred: apptest.WithAPIKey(f.member.APIKey()), Status: 200, Want: ok},
		{Name: "member ID token", Method: "GET", Path: url(f.site), Cred: apptest.WithBearer(f.member.IDToken()), Status: 200, Want: ok},
		{Name: "owner cookie", Method: "GET", Path: url(f.site), Cred: apptest.WithCookie(f.owner.Cookie()), Status: 200, Want: ok},
		{Name: "owner API key", Method: "GET", Path: url(f.site), Cred: apptest.WithAPIKey(f.owner.APIKey()), Status: 200, Want: ok},
		{Name: "other-site member cookie", Method: "GET", Path: url(f.site), Cred: apptest.WithCookie(f.stranger.Cookie()), Status: 403},
		{Name: "other-site member API key", Method: "GET", Path: url(f.site), Cred: apptest.WithAPIKey(f.stranger.APIKey()), Status: 403},
		{Name: "member on the other site", Method: "GET", Path: url(f.otherSite), Cred: apptest.WithAPIKey(f.member.APIKey()), Status: 403},
		{Name: "agent token of the site", Method: "GET", Path: url(f.site), Cred: apptest.WithBearer(agent), Status: 403},
		{Name: "unknown site", Method: "GET", Path: url("no-such-site"), Cred: apptest.WithCookie(f.admin.Cookie()), Status: 404, Want: map[string]any{"error": "Site not found"}},
		{Name: "key in query refused", Method: "GET", Path: url(f.site) + "&api_key=" + f.admin.APIKey(), Cred: apptest.NoCred, Status: 400},
	})
}

func TestList(t *testing.T) {
	f := newFixture(t)
	key := apptest.WithAPIKey(f.member.APIKey())
	f.seed(t, f.site, "ws",
		entry("Zoom", "5.17", "Zoom Video", "msi"),
		entry("TouchDesigner", "2023.11880", "Derivative", "inno"),
		entry("7-Zip", "23.01", "Igor Pavlov", "nsis"),
		map[string]any{"name": "Bare", "version": "1"},                                       // nothing else
		map[string]any{"name": "Odd", "version": "", "publisher": nil, "installer_type": ""}, // falsy values
		entry("touchplayer", "2023", "Derivative", "custom"),
	)
	f.seed(t, f.site, "other", entry("Elsewhere", "1", "x", "msi"))
	url := func(machine, search string) string {
		return base + "?siteId=" + f.site + "&machineId=" + machine + "&search=" + search
	}
	f.Run(t, []apptest.Scenario{
		{Name: "all, in document id order, every field", Method: "GET", Path: url("ws", ""), Cred: key, Status: 200,
			Want: map[string]any{
				"success":                      true,
				"software.0.id":                "7-Zip_23.01",
				"software.1.id":                "Bare_1",
				"software.2.id":                "Odd_",
				"software.3.id":                "TouchDesigner_2023.11880",
				"software.4.id":                "Zoom_5.17",
				"software.5.id":                "touchplayer_2023",
				"software.0.name":              "7-Zip",
				"software.0.version":           "23.01",
				"software.0.publisher":         "Igor Pavlov",
				"software.0.install_location":  `C:\Program Files\7-Zip`,
				"software.0.uninstall_command": `"C:\Program Files\7-Zip\unins000.exe"`,
				"software.0.installer_type":    "nsis",
				// defaults
				"software.1.publisher": "", "software.1.install_location": "", "software.1.uninstall_command": "", "software.1.installer_type": "custom",
				"software.2.version": "", "software.2.publisher": "", "software.2.installer_type": "custom",
			},
			Absent: []string{"software.6", "software.0.registry_key", "software.0.detected_at"},
		},
		{Name: "search is a case-insensitive substring of name", Method: "GET", Path: url("ws", "TOUCH"), Cred: key, Status: 200,
			Want: map[string]any{"software.0.name": "TouchDesigner", "software.1.name": "touchplayer"}, Absent: []string{"software.2"}},
		{Name: "search matching nothing", Method: "GET", Path: url("ws", "derivative"), Cred: key, Status: 200, Want: map[string]any{"software": []any{}}},
		{Name: "search with special characters", Method: "GET", Path: url("ws", "7-z"), Cred: key, Status: 200, Want: map[string]any{"software.0.name": "7-Zip"}, Absent: []string{"software.1"}},
		{Name: "unknown machine", Method: "GET", Path: url("nope", ""), Cred: key, Status: 200, Want: map[string]any{"success": true, "software": []any{}}},
		{Name: "missing machineId", Method: "GET", Path: base + "?siteId=" + f.site, Cred: key, Status: 400},
		{Name: "missing siteId", Method: "GET", Path: base + "?machineId=ws", Cred: key, Status: 400},
		{Name: "missing params before auth", Method: "GET", Path: base, Cred: apptest.NoCred, Status: 400,
			Want: map[string]any{"error": "Missing required parameters: siteId and machineId"}},
		{Name: "machineId with a slash", Method: "GET", Path: base + "?siteId=" + f.site + "&machineId=a%2Fb", Cred: key, Status: 400},
		{Name: "wrong method", Method: "POST", Path: base, Cred: key, Status: 405},
	})
}

// TestListCost: an API-key request costs one read RPC in steady state (the
// inventory query; the key, the user and the site are in the instance's
// memory) and no write.
func TestListCost(t *testing.T) {
	f := newFixture(t)
	f.seed(t, f.site, "ws", entry("A", "1", "p", "msi"), entry("B", "2", "p", "msi"))
	key := f.member.APIKey()
	ip := map[string]string{"X-Forwarded-For": "203.0.113.40"}
	url := base + "?siteId=" + f.site + "&machineId=ws"
	for range 3 {
		f.Do("GET", url, apptest.WithAPIKey(key), nil, ip)
	}
	f.RPCs.Reset()
	const n = 10
	for range n {
		if r := f.Do("GET", url, apptest.WithAPIKey(key), nil, ip); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	}
	s := f.RPCs.Snapshot()
	if f.RPCs.Writes() > 3 || s["RunQuery"] != n || s["BatchGetDocuments"] > 3 {
		t.Errorf("RPCs for %d requests: %v", n, s)
	}
}
