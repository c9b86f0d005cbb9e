// Command bench measures the local dev server the way a user meets it: the
// cold start of the process until its first 200 answer, the latency of
// GET /api/admin/sites with an API key (p50/p99), throughput with a few
// concurrent clients, and the process's memory (RSS). It needs the emulators:
// run it with `make bench`.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/owlette/server/shared/apikey"
)

func main() {
	n := flag.Int("n", 1000, "sequential requests to time")
	conc := flag.Int("c", 8, "concurrent clients for the throughput run")
	clients := flag.Int("ips", 20, "distinct client addresses (per-IP rate limits apply)")
	bin := flag.String("bin", "", "dev server binary (built if empty)")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	flag.Parse()
	res, err := run(*bin, *n, *conc, *clients)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if res.Non200 > 0 {
		defer os.Exit(1) // latencies of refused requests are not the figure asked for
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Print(res.String())
}

// Result is what one run measured.
type Result struct {
	ColdStartMs    float64 `json:"coldStartMs"`
	FirstRequestMs float64 `json:"firstRequestMs"`
	Requests       int     `json:"requests"`
	P50Ms          float64 `json:"p50Ms"`
	P90Ms          float64 `json:"p90Ms"`
	P99Ms          float64 `json:"p99Ms"`
	MaxMs          float64 `json:"maxMs"`
	Concurrency    int     `json:"concurrency"`
	ThroughputRPS  float64 `json:"throughputRps"`
	RSSMiB         float64 `json:"rssMiB"`
	PeakRSSMiB     float64 `json:"peakRssMiB"`
	Non200         int     `json:"non200"`
}

func (r Result) String() string {
	return fmt.Sprintf(`dev server benchmark (GET /api/admin/sites, API key, Firestore + Auth emulators)
  cold start → first 200     %8.1f ms   (first request alone %.1f ms)
  sequential, %5d requests  p50 %.2f ms   p90 %.2f ms   p99 %.2f ms   max %.2f ms
  %d concurrent clients       %8.0f req/s
  RSS after the runs         %8.1f MiB  (peak %.1f MiB)
  non-200 answers            %8d
`, r.ColdStartMs, r.FirstRequestMs, r.Requests, r.P50Ms, r.P90Ms, r.P99Ms, r.MaxMs, r.Concurrency, r.ThroughputRPS, r.RSSMiB, r.PeakRSSMiB, r.Non200)
}

func run(bin string, n, conc, ips int) (*Result, error) {
	for _, v := range []string{"FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"} {
		if os.Getenv(v) == "" {
			return nil, fmt.Errorf("%s not set: run `make bench`", v)
		}
	}
	if os.Getenv("SESSION_SECRET") == "" {
		os.Setenv("SESSION_SECRET", "bench-session-secret-0123456789abcdef")
	}
	ctx := context.Background()
	if bin == "" {
		dir, err := os.MkdirTemp("", "owlette-bench")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "devserver")
		build := exec.Command("go", "build", "-o", bin, "./scripts/devserver")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("build dev server: %w", err)
		}
	}
	key, err := benchKey(ctx)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	url := "http://" + addr + "/api/admin/sites"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}, Timeout: 10 * time.Second}
	// Client addresses are only header values (per-IP rate limits); a fresh
	// block per run keeps repeated runs out of each other's hourly budgets.
	var rb [1]byte
	_, _ = rand.Read(rb[:])
	get := func(ip int) (int, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("x-api-key", key)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", rb[0], ip%250+1))
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var sink json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&sink)
		return resp.StatusCode, nil
	}

	cmd := exec.Command(bin, "-addr", addr)
	cmd.Env = append(os.Environ(), "LOG_LEVEL=error")
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	res := &Result{Requests: n, Concurrency: conc}
	for {
		t0 := time.Now()
		code, err := get(0)
		if err == nil && code == 200 {
			res.ColdStartMs = ms(time.Since(start))
			res.FirstRequestMs = ms(time.Since(t0))
			break
		}
		if time.Since(start) > 60*time.Second {
			return nil, fmt.Errorf("no 200 within 60 s (last: %d %v)", code, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for i := 0; i < 50; i++ { // warm connections and leases
		_, _ = get(i % ips)
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		code, err := get(i % ips)
		if err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
		if code != 200 {
			res.Non200++
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return ms(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
	res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs = pct(0.50), pct(0.90), pct(0.99), ms(lat[len(lat)-1])

	var wg sync.WaitGroup
	var mu sync.Mutex
	t0 := time.Now()
	per := n / conc
	for c := 0; c < conc; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				code, err := get(c*per + i)
				if err != nil || code != 200 {
					mu.Lock()
					res.Non200++
					mu.Unlock()
				}
			}
		}(c)
	}
	wg.Wait()
	res.ThroughputRPS = float64(per*conc) / time.Since(t0).Seconds()
	res.RSSMiB, res.PeakRSSMiB = rss(cmd.Process.Pid)
	return res, nil
}

// benchKey creates an admin and an API key directly in Firestore, stored as
// the API stores them.
func benchKey(ctx context.Context) (string, error) {
	fs, err := firestore.NewClient(ctx, os.Getenv("GOOGLE_CLOUD_PROJECT"))
	if err != nil {
		return "", err
	}
	defer fs.Close()
	key, err := apikey.New()
	if err != nil {
		return "", err
	}
	uid := "bench-admin"
	b := fs.Batch()
	b.Set(fs.Collection("users").Doc(uid), map[string]any{"email": "bench@owlette.local", "role": "admin", "sites": []string{}})
	key.Add(b, fs, uid, "bench")
	for i := 0; i < 10; i++ {
		b.Set(fs.Collection("sites").Doc(fmt.Sprintf("bench-site-%02d", i)), map[string]any{"name": fmt.Sprintf("Bench %02d", i), "createdAt": time.Now()})
	}
	_, err = b.Commit(ctx)
	return key.Raw, err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// rss reads VmRSS and VmHWM (peak) from /proc.
func rss(pid int) (cur, peak float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			cur = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return cur, peak
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
