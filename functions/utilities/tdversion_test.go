package utilities

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlette/server/shared/apptest"
)

const archivePage = `<html><body>
<a href="https://download.derivative.ca/TouchDesigner.2025.31550.exe">2025.31550</a>
<a href="https://download.derivative.ca/TouchDesignerWebInstaller.2025.31550.exe">web</a>
<a href="https://download.derivative.ca/TouchDesigner.2025.31550.exe">again</a>
<a href="https://download.derivative.ca/TouchDesigner.2024.12345.exe">2024.12345</a>
<a href="https://example.test/TouchDesigner.2099.1.exe">not derivative</a>
%s
</body></html>`

// TestTouchDesignerVersions is X07 against a loopback stand-in of
// derivative.ca's archive page: builds in page order, each once, with its
// web installer when linked; the answer cached for an hour; upstream errors
// and timeouts as 502 and 504; a page without builds as 404.
func TestTouchDesignerVersions(t *testing.T) {
	var hits atomic.Int64
	var status atomic.Int64
	status.Store(200)
	var extra atomic.Value
	extra.Store("")
	var delay atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("User-Agent") != tdUserAgent {
			t.Errorf("User-Agent %q", r.Header.Get("User-Agent"))
		}
		time.Sleep(time.Duration(delay.Load()))
		w.WriteHeader(int(status.Load()))
		fmt.Fprintf(w, archivePage, extra.Load())
	}))
	defer up.Close()
	old := tdTimeout
	tdTimeout = 300 * time.Millisecond
	defer func() { tdTimeout = old }()

	e := apptest.New(t, Register)
	e.D.Config.TDArchiveURL = up.URL
	admin := e.Admin()
	key := admin.APIKey()
	get := func() *apptest.Response {
		return e.Do("GET", "/api/admin/fetch-td-version", apptest.WithAPIKey(key), nil, nil)
	}

	r := get()
	if r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	builds, _ := r.JSON["builds"].([]any)
	latest, _ := r.JSON["latest"].(map[string]any)
	if len(builds) != 2 || latest["version"] != "2025.31550" || latest["web_installer_url"] != "https://download.derivative.ca/TouchDesignerWebInstaller.2025.31550.exe" ||
		latest["full_installer_url"] != "https://download.derivative.ca/TouchDesigner.2025.31550.exe" {
		t.Fatalf("answer %s", r.Raw)
	}
	if b := builds[1].(map[string]any); b["version"] != "2024.12345" || b["web_installer_url"] != nil {
		t.Errorf("second build %v", b)
	}
	if _, ok := r.JSON["scraped_at"].(string); !ok {
		t.Errorf("scraped_at %v", r.JSON["scraped_at"])
	}
	// Cached for an hour.
	if get(); hits.Load() != 1 {
		t.Fatalf("%d upstream requests for two lookups within the hour", hits.Load())
	}
	// An hour later the page is read again; an error answer is refused…
	e.Clock.Advance(tdFresh + time.Minute)
	status.Store(503)
	// …but a lookup younger than a day still answers.
	if r := get(); r.StatusCode != 200 || hits.Load() != 2 {
		t.Fatalf("upstream 503 with a recent lookup: %d, %d hits", r.StatusCode, hits.Load())
	}
	e.Clock.Advance(tdStale)
	if r := get(); r.StatusCode != http.StatusBadGateway {
		t.Fatalf("upstream 503, nothing recent: %d %s", r.StatusCode, r.Raw)
	}
	status.Store(200)
	delay.Store(int64(time.Second))
	if r := get(); r.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("upstream too slow: %d %s", r.StatusCode, r.Raw)
	}
	delay.Store(0)
	// Many builds: the ten newest are listed.
	more := ""
	for i := range 12 {
		more += fmt.Sprintf(`<a href="https://download.derivative.ca/TouchDesigner.2023.%05d.exe">x</a>`, 20000+i)
	}
	extra.Store(more)
	if r := get(); r.StatusCode != 200 || len(r.JSON["builds"].([]any)) != tdBuilds {
		t.Fatalf("many builds: %d %s", r.StatusCode, r.Raw)
	}
	// A page without builds.
	if got := parseTDBuilds("<html>nothing</html>"); len(got) != 0 {
		t.Fatalf("builds on an empty page: %v", got)
	}
	// Credentials: admins only.
	if r := e.Do("GET", "/api/admin/fetch-td-version", apptest.WithCookie(e.Member("x").Cookie()), nil, nil); r.StatusCode != 403 {
		t.Errorf("member: %d", r.StatusCode)
	}
	if r := e.Do("GET", "/api/admin/fetch-td-version", nil, nil, nil); r.StatusCode != 401 {
		t.Errorf("no credential: %d", r.StatusCode)
	}
}

// TestOpenAPIAndDocs: X14 serves the document publicly with its cache
// headers; the reference page and its assets come from the binary.
func TestOpenAPIAndDocs(t *testing.T) {
	e := apptest.New(t, Register)
	r := e.Do("GET", "/api/openapi", nil, nil, nil)
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("%d %v", r.StatusCode, r.Header)
	}
	if v, _ := r.JSON["openapi"].(string); v != "3.1.0" {
		t.Fatalf("openapi %v", r.JSON["openapi"])
	}
	page := e.Do("GET", DocsPath, nil, nil, nil)
	if page.StatusCode != 200 || !strings.Contains(string(page.Raw), "/api/openapi") {
		t.Fatalf("docs page: %d %.200s", page.StatusCode, page.Raw)
	}
	if a := e.Do("GET", DocsPath+"/assets/missing.js", nil, nil, nil); a.StatusCode != 404 || a.JSON["error"] == nil {
		t.Fatalf("missing asset: %d %s", a.StatusCode, a.Raw)
	}
}
