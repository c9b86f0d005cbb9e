package apidocs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/owlette/server/shared/apidocs"
	"github.com/owlette/server/shared/browsertest"
	"github.com/owlette/server/shared/openapi"
)

// TestBrowserRendersEveryOperation opens the page in headless Chromium, with
// the CSP it is served with, and checks that Swagger UI starts (no CSP
// violation, no script error), loads the document from the same origin and
// lists all 80 operations, and that nothing was fetched from elsewhere.
func TestBrowserRendersEveryOperation(t *testing.T) {
	spec, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	docs := apidocs.Handler("/api/docs", "/api/openapi")
	mux.Handle("GET /api/docs", docs)
	mux.Handle("GET /api/docs/", docs)
	mux.HandleFunc("GET /api/openapi", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(spec)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// Ending ctx (cancelT) ends the console reader below.
	ctx, cancelT := context.WithCancel(browsertest.New(t, 90*time.Second))
	defer cancelT()

	var (
		mu       sync.Mutex
		problems []string
	)
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/api/docs")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	n, err := chromedp.Run(ctx, chromedp.Poll[int](
		`(() => { const n = document.querySelectorAll('.opblock').length; return n >= 80 ? n : 0; })()`,
		chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		t.Fatalf("Swagger UI did not list the operations: %v", err)
	}
	if n != 80 {
		t.Errorf("%d operations rendered, want 80", n)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(".info .title"))
	if err != nil || !strings.Contains(title, "owlette API") {
		t.Errorf("title = %q (%v)", title, err)
	}
	browsertest.FetchedOnlyFrom(ctx, t, srv.URL)
	if p := os.Getenv("APIDOCS_SCREENSHOT"); p != "" {
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			_ = os.WriteFile(p, png, 0o644)
		}
	}
	cancelT()
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser console: %s", p)
	}
}
