// Package browsertest starts headless Chromium for the tests of
// browser-facing flows (passkeys, the API docs page). Chromium is required:
// a missing browser fails the test rather than skipping it, since `make
// test` and `.ci/run` install it.
package browsertest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// New starts a fresh headless Chromium with its own profile and returns a
// browser context that ends after timeout; everything is closed when the
// test ends.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("chromium is not installed: `make test` (make deps) and `.ci/run` install it (apt-get install -y chromium)")
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 900),
		// Nothing but the page under test may use the network.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelT(); cancel(); cancelAlloc() })
	return ctx
}

// FetchedOnlyFrom fails t for every resource the page in ctx loaded (its own
// address included) that is not under origin: the docs pages bundle their
// assets and must fetch nothing from a CDN.
func FetchedOnlyFrom(ctx context.Context, t testing.TB, origin string) {
	t.Helper()
	resources, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[location.href, ...performance.getEntriesByType('resource').map(e => e.name)]`))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range resources {
		if !strings.HasPrefix(u, origin+"/") {
			t.Errorf("the page fetched %s (not from %s)", u, origin)
		}
	}
}
