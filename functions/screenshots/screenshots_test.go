package screenshots_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/owlette/server/functions/screenshots"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

const uploadPath = "/api/agent/screenshot"

// env is an apptest.Env with its own bucket in fake-gcs-server.
type env struct {
	*apptest.Env
	gcs    *storage.Client
	bucket string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	testenv.Require(t, "STORAGE_EMULATOR_HOST")
	e := apptest.New(t, screenshots.Register)
	ctx := context.Background()
	gcs, err := e.D.Storage(ctx)
	if err != nil {
		t.Fatalf("storage client: %v", err)
	}
	bucket := e.D.Config.StorageBucket
	if err := gcs.Bucket(bucket).Create(ctx, e.Project, nil); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return &env{Env: e, gcs: gcs, bucket: bucket}
}

// agent returns an agent access token for a machine of a site, as the token
// exchange mints it (claims role/site_id/machine_id/version).
func (e *env) agent(site, machine string) string {
	return e.IDTokenFor("agent_"+site+"_"+machine, map[string]any{"role": "agent", "site_id": site, "machine_id": machine, "version": "2.4.0"})
}

// object returns an object's attributes and content, or nil attributes if it
// does not exist.
func (e *env) object(t *testing.T, name string) (*storage.ObjectAttrs, []byte) {
	t.Helper()
	ctx := context.Background()
	o := e.gcs.Bucket(e.bucket).Object(name)
	attrs, err := o.Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, nil
	}
	if err != nil {
		t.Fatalf("attrs %s: %v", name, err)
	}
	rd, err := o.NewReader(ctx)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer rd.Close()
	b, _ := io.ReadAll(rd)
	return attrs, b
}

// historyURLs lists the url of every history doc of a machine.
func (e *env) historyURLs(t *testing.T, site, machine string) []string {
	t.Helper()
	snaps, err := e.FS.Collection("sites/" + site + "/machines/" + machine + "/screenshots").Documents(context.Background()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range snaps {
		out = append(out, s.Data()["url"].(string))
	}
	sort.Strings(out)
	return out
}

func (e *env) url(name string) string {
	return "https://storage.googleapis.com/" + e.bucket + "/" + name
}

// testJPEG encodes a w×h JPEG; noisy pixels make it large.
func testJPEG(t testing.TB, w, h int, noisy bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(x), uint8(y), uint8(x + y), 255}
			if noisy {
				c = color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func body(site, machine, shot string) map[string]any {
	return map[string]any{"siteId": site, "machineId": machine, "screenshot": shot, "agentVersion": "2.4.0"}
}

func TestUploadCredentialsAndInput(t *testing.T) {
	e := newEnv(t)
	member, admin := e.Member("site-a"), e.Admin()
	e.Site("site-a", member.UID)
	agentA, agentB := e.agent("site-a", "PC-1"), e.agent("site-b", "PC-9")
	img := testJPEG(t, 64, 48, false)
	good := body("site-a", "PC-1", b64(img))
	var pngBuf bytes.Buffer
	_ = png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 8, 8)))
	// Just above the limit: round(bytes/1024) = 10241 KB. Only the size is
	// checked before the JPEG marker, so zeros after FF D8 FF do.
	huge := make([]byte, 11<<20)
	copy(huge, []byte{0xFF, 0xD8, 0xFF})
	edge := make([]byte, 10240*1024+511) // rounds to exactly 10240 KB: allowed by size
	copy(edge, []byte{0xFF, 0xD8, 0xFF, 0xE0})

	A := apptest.WithBearer(agentA)
	e.Run(t, []apptest.Scenario{
		// Credentials (checked before the body).
		{Name: "no credential", Method: "POST", Path: uploadPath, Body: good, Status: 401, Want: map[string]any{"error": "Missing or invalid Authorization header"}},
		{Name: "no credential, bad body", Method: "POST", Path: uploadPath, Body: apptest.Raw("{oops"), Status: 401},
		{Name: "Basic scheme", Method: "POST", Path: uploadPath, Body: good, Header: map[string]string{"Authorization": "Basic " + agentA}, Status: 401},
		{Name: "not a JWT", Method: "POST", Path: uploadPath, Cred: apptest.WithBearer("not-a-jwt"), Body: good, Status: 401},
		{Name: "forged unsigned token", Method: "POST", Path: uploadPath, Cred: apptest.WithBearer("eyJhbGciOiJub25lIn0.e30."), Body: good, Status: 401},
		{Name: "API key", Method: "POST", Path: uploadPath, Cred: apptest.WithAPIKey(admin.APIKey()), Body: good, Status: 401},
		{Name: "API key as bearer", Method: "POST", Path: uploadPath, Cred: apptest.WithBearer(admin.APIKey()), Body: good, Status: 401},
		{Name: "session cookie", Method: "POST", Path: uploadPath, Cred: apptest.WithCookie(member.Cookie()), Body: good, Status: 401},
		{Name: "user ID token is not an agent", Method: "POST", Path: uploadPath, Cred: apptest.WithBearer(member.IDToken()), Body: good, Status: 403,
			Want: map[string]any{"error": "Forbidden: not an agent token"}},
		{Name: "agent of another site", Method: "POST", Path: uploadPath, Cred: apptest.WithBearer(agentB), Body: good, Status: 403,
			Want: map[string]any{"error": "Forbidden: token is not valid for this site"}},

		// Order: body and required fields before the site claim, the claim
		// before the image.
		{Name: "agent of another site, missing field", Method: "POST", Path: uploadPath, Cred: apptest.WithBearer(agentB), Body: map[string]any{"siteId": "site-a"}, Status: 400},
		{Name: "agent of another site, bad base64", Method: "POST", Path: uploadPath, Cred: apptest.WithBearer(agentB), Body: body("site-a", "PC-1", "!!!"), Status: 403},
		{Name: "agent of another site, too large", Method: "POST", Path: uploadPath, Cred: apptest.WithBearer(agentB), Body: body("site-a", "PC-1", b64(huge)), Status: 403},

		// Bad input.
		{Name: "empty body", Method: "POST", Path: uploadPath, Cred: A, Status: 400},
		{Name: "malformed JSON", Method: "POST", Path: uploadPath, Cred: A, Body: apptest.Raw(`{"siteId":`), Status: 400},
		{Name: "array body", Method: "POST", Path: uploadPath, Cred: A, Body: apptest.Raw(`[]`), Status: 400},
		{Name: "siteId missing", Method: "POST", Path: uploadPath, Cred: A, Body: map[string]any{"machineId": "PC-1", "screenshot": b64(img)}, Status: 400,
			Want: map[string]any{"error": "Missing required field: siteId"}},
		{Name: "machineId missing", Method: "POST", Path: uploadPath, Cred: A, Body: map[string]any{"siteId": "site-a", "screenshot": b64(img)}, Status: 400,
			Want: map[string]any{"error": "Missing required field: machineId"}},
		{Name: "screenshot empty", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "PC-1", ""), Status: 400,
			Want: map[string]any{"error": "Missing required field: screenshot"}},
		{Name: "siteId a number", Method: "POST", Path: uploadPath, Cred: A, Body: map[string]any{"siteId": 5, "machineId": "PC-1", "screenshot": b64(img)}, Status: 400},
		{Name: "screenshot an array", Method: "POST", Path: uploadPath, Cred: A, Body: map[string]any{"siteId": "site-a", "machineId": "PC-1", "screenshot": []int{1}}, Status: 400},
		{Name: "machineId with a slash", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "PC/1", b64(img)), Status: 400},
		{Name: "machineId reserved", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "__x__", b64(img)), Status: 400},
		{Name: "not base64", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "PC-1", "this is *not* base64!"), Status: 400,
			Want: map[string]any{"error": "screenshot is not valid base64"}},
		{Name: "truncated base64", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "PC-1", b64(img)[:len(b64(img))-4]+"A"), Status: 400},
		{Name: "PNG is not a JPEG", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "PC-1", b64(pngBuf.Bytes())), Status: 400,
			Want: map[string]any{"error": "screenshot must be a base64-encoded JPEG"}},
		{Name: "text is not a JPEG", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "PC-1", b64([]byte("hello world"))), Status: 400,
			Want: map[string]any{"error": "screenshot must be a base64-encoded JPEG"}},
		{Name: "11 MB image", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "PC-1", b64(huge)), Status: 413,
			Want: map[string]any{"error": "Screenshot too large: 11264 KB (maximum 10240 KB)"}},
		{Name: "body over 15 MiB", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "PC-1", strings.Repeat("A", screenshots.MaxBody)), Status: 413},
		{Name: "10240 KB passes the size check", Method: "POST", Path: uploadPath, Cred: A, Body: body("site-a", "PC-big", b64(edge)), Status: 200,
			Want: map[string]any{"sizeKB": 10240}},
	})
	if n := e.Count("sites/site-a/machines/PC-1/screenshots"); n != 0 {
		t.Errorf("refused requests wrote %d history docs", n)
	}
	if a, _ := e.object(t, "screenshots/site-a/PC-1/latest.jpg"); a != nil {
		t.Error("refused requests uploaded latest.jpg")
	}

	// Lenient base64: data: prefix, MIME line breaks, URL-safe alphabet
	// without padding; the stored bytes are the image.
	lenient := []string{
		"data:image/jpeg;base64," + b64(img),
		mimeWrap(b64(img)),
		base64.RawURLEncoding.EncodeToString(img),
		"  " + base64.RawStdEncoding.EncodeToString(img) + "\n",
	}
	for i, s := range lenient {
		t.Run(fmt.Sprintf("lenient base64 %d", i), func(t *testing.T) {
			e.Clock.Advance(time.Second)
			r := e.Do("POST", uploadPath, A, body("site-a", "PC-1", s), nil)
			if r.StatusCode != 200 {
				t.Fatalf("%d %s", r.StatusCode, r.Raw)
			}
			if _, got := e.object(t, "screenshots/site-a/PC-1/latest.jpg"); !bytes.Equal(got, img) {
				t.Errorf("stored %d bytes, want the %d-byte image", len(got), len(img))
			}
		})
	}

	// An agent token without a site_id claim passes the claim check (G-AGENT:
	// the claim is compared only when present).
	t.Run("agent without site claim", func(t *testing.T) {
		tok := e.IDTokenFor("agent_legacy", map[string]any{"role": "agent"})
		if r := e.Do("POST", uploadPath, apptest.WithBearer(tok), body("site-a", "PC-2", b64(img)), nil); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	})
}

func mimeWrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

func TestUploadSideEffects(t *testing.T) {
	e := newEnv(t)
	e.Site("site-a", "")
	tok := e.agent("site-a", "PC-1")
	img := testJPEG(t, 320, 200, true)
	kb := (len(img) + 512) / 1024
	ctx := context.Background()

	// The machine doc exists with agent fields, and a stale lastScreenshot
	// with an extra field that the new value replaces.
	machinePath := "sites/site-a/machines/PC-1"
	if _, err := e.FS.Doc(machinePath).Set(ctx, map[string]any{"online": true, "agent_version": "2.4.0",
		"lastScreenshot": map[string]any{"url": "old", "sizeKB": 1, "stale": true}}); err != nil {
		t.Fatal(err)
	}
	ms := e.Clock.Now().UnixMilli()
	msS := strconv.FormatInt(ms, 10)
	latest, hist := "screenshots/site-a/PC-1/latest.jpg", "screenshots/site-a/PC-1/history/"+msS+".jpg"
	latestURL := e.url(latest) + "?t=" + msS

	e.Run(t, []apptest.Scenario{{
		Name: "upload", Method: "POST", Path: uploadPath, Cred: apptest.WithBearer(tok), Body: body("site-a", "PC-1", b64(img)), Status: 200,
		Want: map[string]any{"success": true, "sizeKB": kb, "url": latestURL},
		Check: func(t *testing.T, r *apptest.Response) {
			for _, o := range []struct{ name, cache string }{{latest, screenshots.CacheLatest}, {hist, screenshots.CacheHistory}} {
				attrs, content := e.object(t, o.name)
				if attrs == nil {
					t.Fatalf("%s missing", o.name)
				}
				if !bytes.Equal(content, img) {
					t.Errorf("%s: content differs (%d bytes)", o.name, len(content))
				}
				if attrs.ContentType != "image/jpeg" || attrs.CacheControl != o.cache {
					t.Errorf("%s: content type %q, cache control %q", o.name, attrs.ContentType, attrs.CacheControl)
				}
				want := map[string]string{"machineId": "PC-1", "siteId": "site-a", "capturedAt": msS}
				for k, v := range want {
					if attrs.Metadata[k] != v {
						t.Errorf("%s: metadata %v, want %v", o.name, attrs.Metadata, want)
						break
					}
				}
				if !slices.ContainsFunc(attrs.ACL, func(r storage.ACLRule) bool {
					return r.Entity == storage.AllUsers && r.Role == storage.RoleReader
				}) {
					t.Errorf("%s not public: ACL %v", o.name, attrs.ACL)
				}
			}
			m := e.Doc(machinePath)
			if m["online"] != true || m["agent_version"] != "2.4.0" {
				t.Errorf("agent fields lost: %v", m)
			}
			ls, _ := m["lastScreenshot"].(map[string]any)
			if ls["url"] != latestURL || ls["sizeKB"] != int64(kb) || len(ls) != 3 {
				t.Errorf("lastScreenshot %v", ls)
			}
			ts, ok := ls["timestamp"].(time.Time)
			if !ok || time.Since(ts) > time.Minute {
				t.Errorf("lastScreenshot.timestamp %v is not a server timestamp", ls["timestamp"])
			}
			snaps, err := e.FS.Collection(machinePath + "/screenshots").Documents(ctx).GetAll()
			if err != nil || len(snaps) != 1 {
				t.Fatalf("history docs: %d %v", len(snaps), err)
			}
			d := snaps[0].Data()
			if d["url"] != e.url(hist) || d["sizeKB"] != int64(kb) || len(d) != 3 {
				t.Errorf("history doc %v", d)
			}
			if hts, _ := d["timestamp"].(time.Time); !hts.Equal(ts) {
				t.Errorf("history timestamp %v, lastScreenshot %v: one commit gives one server time", d["timestamp"], ts)
			}
		},
	}})

	// No machine doc at all (an agent replaced or never wrote it): merged in.
	t.Run("missing machine doc", func(t *testing.T) {
		tok := e.agent("site-a", "PC-new")
		if r := e.Do("POST", uploadPath, apptest.WithBearer(tok), body("site-a", "PC-new", b64(img)), nil); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		m := e.Doc("sites/site-a/machines/PC-new")
		if len(m) != 1 || m["lastScreenshot"] == nil {
			t.Errorf("machine doc %v", m)
		}
	})

	// After the delete route set lastScreenshot to null, an upload sets it again.
	t.Run("lastScreenshot null", func(t *testing.T) {
		if _, err := e.FS.Doc(machinePath).Set(ctx, map[string]any{"online": true, "lastScreenshot": nil}); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(time.Second)
		if r := e.Do("POST", uploadPath, apptest.WithBearer(tok), body("site-a", "PC-1", b64(img)), nil); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if ls, _ := e.Doc(machinePath)["lastScreenshot"].(map[string]any); ls["sizeKB"] != int64(kb) {
			t.Errorf("lastScreenshot %v", ls)
		}
	})
}

// 22 uploads keep the newest 20 history docs and objects; the two oldest go.
// Also states what an upload costs in Firestore RPCs.
func TestPruneHistory(t *testing.T) {
	e := newEnv(t)
	tok := e.agent("site-a", "PC-1")
	img := testJPEG(t, 32, 32, false)
	ip := map[string]string{"X-Forwarded-For": "203.0.113.40"}
	var names []string
	for i := 0; i < 22; i++ {
		if i > 0 {
			e.Clock.Advance(1500 * time.Millisecond)
		}
		if i == 20 {
			e.RPCs.Reset()
		}
		names = append(names, "screenshots/site-a/PC-1/history/"+strconv.FormatInt(e.Clock.Now().UnixMilli(), 10)+".jpg")
		if r := e.Do("POST", uploadPath, apptest.WithBearer(tok), body("site-a", "PC-1", b64(img)), ip); r.StatusCode != 200 {
			t.Fatalf("upload %d: %d %s", i, r.StatusCode, r.Raw)
		}
		if i == 18 {
			// 19 docs: the next upload fills the history without pruning.
			if n := e.Count("sites/site-a/machines/PC-1/screenshots"); n != 19 {
				t.Fatalf("%d docs after 19 uploads", n)
			}
		}
	}
	rpcs := e.RPCs.Snapshot()
	t.Logf("Firestore RPCs for the last 2 uploads (history full): %v", rpcs)
	// Per upload with a full history: one count, one limited query, one commit
	// (the limiter may add a lease now and then).
	if rpcs["RunAggregationQuery"] != 2 || rpcs["RunQuery"] != 2 || rpcs["Commit"] < 2 || rpcs["Commit"] > 3 {
		t.Errorf("RPCs for 2 uploads: %v", rpcs)
	}

	var want []string
	for _, n := range names[2:] {
		want = append(want, e.url(n))
	}
	sort.Strings(want)
	if got := e.historyURLs(t, "site-a", "PC-1"); !slices.Equal(got, want) {
		t.Errorf("history docs:\n got %v\nwant %v", got, want)
	}
	for i, n := range names {
		a, _ := e.object(t, n)
		if exists := a != nil; exists != (i >= 2) {
			t.Errorf("object %d %s exists=%v", i, n, exists)
		}
	}
}

// Request latency of a ~1 MB screenshot against the emulators (reported,
// not asserted beyond a generous bound).
func TestUploadLatency1MB(t *testing.T) {
	e := newEnv(t)
	tok := e.agent("site-a", "PC-1")
	img := testJPEG(t, 1070, 1070, true)
	if len(img) < 900<<10 || len(img) > 1200<<10 {
		t.Fatalf("test image is %d bytes, want about 1 MB", len(img))
	}
	b := body("site-a", "PC-1", b64(img))
	ip := map[string]string{"X-Forwarded-For": "203.0.113.41"}
	var lat []time.Duration
	for i := 0; i < 10; i++ {
		e.Clock.Advance(time.Second)
		start := time.Now()
		r := e.Do("POST", uploadPath, apptest.WithBearer(tok), b, ip)
		lat = append(lat, time.Since(start))
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
	}
	slices.Sort(lat)
	t.Logf("%d-byte screenshot (%d KB): latency min %v, median %v, max %v over %d uploads (includes JSON encoding of the request in the test)",
		len(img), (len(img)+512)/1024, lat[0], lat[len(lat)/2], lat[len(lat)-1], len(lat))
	if lat[len(lat)/2] > 5*time.Second {
		t.Errorf("median latency %v", lat[len(lat)/2])
	}
}
