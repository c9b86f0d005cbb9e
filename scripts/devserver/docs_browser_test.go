package main

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/owlette/server/functions/registry"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/browsertest"
	"github.com/owlette/server/shared/fn"
)

// TestDocsPageTryItOut is the docs page as a user of `make dev` meets it:
// served by the dev server (the utilities function), loaded in headless
// Chromium with nothing but the dev server reachable, it lists every route
// group, and a "try it out" call of GET /api/admin/sites with an API key
// answers 200.
func TestDocsPageTryItOut(t *testing.T) {
	e := apptest.New(t)
	admin := e.Admin()
	e.Site("docs-site", "")
	key := admin.APIKey()
	srv := httptest.NewServer(NewRouter(e.D))
	defer srv.Close()

	ctx := browsertest.New(t, 3*time.Minute)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/api/docs")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	// Every route group is a tag section of the page.
	tags, err := chromedp.Run(ctx, chromedp.Poll[[]string](
		`(() => { const t = [...document.querySelectorAll('.opblock-tag')].map(e => e.getAttribute('data-tag')); return t.length >= 20 ? t : null; })()`,
		chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		t.Fatalf("the page did not list the route groups: %v", err)
	}
	listed := map[string]bool{}
	for _, tag := range tags {
		listed[tag] = true
	}
	for _, s := range registry.Of(fn.HTTP) {
		if !listed[s.Name] {
			t.Errorf("route group %s is not on the page (tags %v)", s.Name, tags)
		}
	}

	// Try it out: authorize with the API key, open GET /api/admin/sites,
	// execute it, read the status the page shows.
	open := fmt.Sprintf(`(() => {
		window.ui.preauthorizeApiKey('apiKey', %q);
		const block = document.querySelector('#operations-sites-listSites');
		if (!block) return 'no operation block';
		block.querySelector('.opblock-summary-control').click();
		return 'ok';
	})()`, key)
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](open)); err != nil || got != "ok" {
		t.Fatalf("open the operation: %q %v", got, err)
	}
	// A loaded machine renders slowly: the waits below are generous.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`(() => { const b = document.querySelector('#operations-sites-listSites .execute'); if (!b) return false; b.click(); return true; })()`,
		chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("no Execute button: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(() => { const c = document.querySelector('#operations-sites-listSites .live-responses-table tr.response .response-col_status'); return c ? c.textContent.trim() : ''; })()`,
		chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		t.Fatalf("no response shown: %v", err)
	}
	if !strings.HasPrefix(status, "200") {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#operations-sites-listSites .live-responses-table').innerText`))
		t.Fatalf("try it out answered %q: %s", status, body)
	}
	browsertest.FetchedOnlyFrom(ctx, t, srv.URL)
}
