package utilities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/owlette/server/shared/store"
	"github.com/owlette/server/shared/web"
)

// tdTimeout bounds one upstream lookup (a variable for tests).
var tdTimeout = 15 * time.Second

// X07's upstream settings.
const (
	tdUserAgent = "Owlette/2.3 (deployment-manager)"
	// tdFresh is how long a lookup is reused; tdStale how long an older
	// one still answers when derivative.ca does not.
	tdFresh = time.Hour
	tdStale = 24 * time.Hour
	// tdMaxPage bounds what is read of the archive page.
	tdMaxPage = 8 << 20
	tdBuilds  = 10
)

var (
	tdFull = regexp.MustCompile(`https://download\.derivative\.ca/TouchDesigner\.(\d{4}\.\d+)\.exe`)
	tdWeb  = regexp.MustCompile(`https://download\.derivative\.ca/TouchDesignerWebInstaller\.(\d{4}\.\d+)\.exe`)
)

// tdBuild is one TouchDesigner build of the archive.
type tdBuild struct {
	Version          string  `json:"version"`
	FullInstallerURL string  `json:"full_installer_url"`
	WebInstallerURL  *string `json:"web_installer_url"`
}

// tdLookup is a cached answer.
type tdLookup struct {
	builds    []tdBuild
	scrapedAt time.Time
}

// tdCache keeps the last lookup per instance; concurrent misses share one
// upstream request.
type tdCache struct {
	mu     sync.Mutex
	last   *tdLookup
	flight singleflight.Group
	client *http.Client
}

var errTDTimeout = web.Errorf(http.StatusGatewayTimeout, "derivative.ca did not answer in time")

// tdVersion is X07: the newest TouchDesigner builds, scraped from
// derivative.ca's archive page (cached for an hour; a lookup up to a day old
// answers while the page cannot be read). 502 when the page answers with an
// error, 504 when it does not answer in time, 404 when it lists no build.
func (h handlers) tdVersion(w http.ResponseWriter, r *http.Request) error {
	now := h.d.Now()
	look, err := h.td.get(r.Context(), h.d.Config.TDArchiveURL, now)
	if err != nil {
		return err
	}
	if len(look.builds) == 0 {
		return web.NotFound("No TouchDesigner builds found on the archive page")
	}
	return web.OK(w, web.M{
		"latest":     look.builds[0],
		"builds":     look.builds[:min(len(look.builds), tdBuilds)],
		"scraped_at": store.ISO(look.scrapedAt),
	})
}

func (c *tdCache) get(ctx context.Context, url string, now time.Time) (*tdLookup, error) {
	c.mu.Lock()
	last := c.last
	c.mu.Unlock()
	if last != nil && now.Sub(last.scrapedAt) < tdFresh {
		return last, nil
	}
	v, err, _ := c.flight.Do(url, func() (any, error) {
		builds, err := c.scrape(ctx, url)
		if err != nil {
			return nil, err
		}
		look := &tdLookup{builds: builds, scrapedAt: now}
		c.mu.Lock()
		c.last = look
		c.mu.Unlock()
		return look, nil
	})
	if err != nil {
		if last != nil && now.Sub(last.scrapedAt) < tdStale {
			return last, nil
		}
		return nil, err
	}
	return v.(*tdLookup), nil
}

func (c *tdCache) scrape(ctx context.Context, url string) ([]tdBuild, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tdTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, web.Internal(err)
	}
	req.Header.Set("User-Agent", tdUserAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, errTDTimeout.Wrap(err)
		}
		return nil, web.Errorf(http.StatusBadGateway, "derivative.ca could not be reached").Wrap(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, web.Errorf(http.StatusBadGateway, "derivative.ca answered HTTP %d", resp.StatusCode)
	}
	page, err := io.ReadAll(io.LimitReader(resp.Body, tdMaxPage))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, errTDTimeout.Wrap(err)
		}
		return nil, web.Errorf(http.StatusBadGateway, "derivative.ca's answer could not be read").Wrap(err)
	}
	return parseTDBuilds(string(page)), nil
}

// parseTDBuilds lists the builds of the archive page in page order, each
// once, with its web installer when the page links one.
func parseTDBuilds(page string) []tdBuild {
	webURL := map[string]string{}
	for _, m := range tdWeb.FindAllStringSubmatch(page, -1) {
		if _, ok := webURL[m[1]]; !ok {
			webURL[m[1]] = m[0]
		}
	}
	seen := map[string]bool{}
	var out []tdBuild
	for _, m := range tdFull.FindAllStringSubmatch(page, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		b := tdBuild{Version: m[1], FullInstallerURL: m[0]}
		if u, ok := webURL[m[1]]; ok {
			b.WebInstallerURL = &u
		}
		out = append(out, b)
	}
	return out
}

func newTDCache() *tdCache {
	return &tdCache{client: &http.Client{Timeout: tdTimeout + time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return fmt.Errorf("too many redirects")
		}
		return nil
	}}}
}
