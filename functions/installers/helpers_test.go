package installers_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/owlette/server/functions/installers"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/testenv"
)

// metadataHits counts requests that reached the fake GCE metadata server:
// any credential detection by the storage client would land there (and
// never on 169.254.169.254). TestMain fails the run if it is not 0.
var metadataHits atomic.Int64

func TestMain(m *testing.M) {
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metadataHits.Add(1)
		fmt.Fprintf(os.Stderr, "credential detection reached the metadata server: %s %s\n", r.Method, r.URL)
		http.Error(w, "no metadata in tests", http.StatusForbidden)
	}))
	os.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(trap.URL, "http://"))
	os.Setenv("GCE_METADATA_IP", strings.TrimPrefix(trap.URL, "http://"))
	code := m.Run()
	trap.Close()
	if n := metadataHits.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d request(s) to the metadata server\n", n)
		code = 1
	}
	os.Exit(code)
}

const testAccount = "installer-test@demo-owlette.iam.gserviceaccount.com"

var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

// fixture is an Env with the installers group signing with testKey, its
// own bucket in fake-gcs-server, an admin and a member.
type fixture struct {
	*apptest.Env
	bucket string
	admin  *apptest.User
	member *apptest.User
}

func newFixture(t testing.TB) *fixture {
	return newFixtureWith(t, installers.RegisterWith(installers.Options{Signer: installers.KeySigner(testAccount, testKey)}))
}

func newFixtureWith(t testing.TB, reg app.Register) *fixture {
	t.Helper()
	testenv.Require(t, "STORAGE_EMULATOR_HOST")
	e := apptest.New(t, reg)
	ctx := context.Background()
	gcs, err := e.D.Storage(ctx)
	if err != nil {
		t.Fatalf("storage client: %v", err)
	}
	bucket := e.D.Config.StorageBucket
	if err := gcs.Bucket(bucket).Create(ctx, e.Project, nil); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	f := &fixture{Env: e, bucket: bucket, admin: e.Admin()}
	f.member = e.Member()
	e.Site("s1", f.member.UID)
	return f
}

// initiate runs E37 as the admin and returns the response.
func (f *fixture) initiate(t testing.TB, body map[string]any) *apptest.Response {
	t.Helper()
	r := f.Do("POST", "/api/admin/installer/upload", apptest.WithCookie(f.admin.Cookie()), body, nil)
	if r.StatusCode != 200 {
		t.Fatalf("initiate: %d %s", r.StatusCode, r.Raw)
	}
	return r
}

// put uploads data to a signed URL the way a browser or script does.
func put(t testing.TB, signed, contentType string, data []byte) {
	t.Helper()
	req, err := http.NewRequest("PUT", signed, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT %s: %d %s", signed, resp.StatusCode, b)
	}
}

// prepared is an initiated upload whose bytes are in the bucket.
func (f *fixture) prepared(t testing.TB, version string, data []byte) string {
	t.Helper()
	r := f.initiate(t, map[string]any{"version": version, "fileName": "Owlette-Installer.exe"})
	put(t, r.JSON["uploadUrl"].(string), installers.DefaultContentType, data)
	return r.JSON["uploadId"].(string)
}

func get(t testing.TB, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

// verifyV4 checks a V4 signed URL against pub by rebuilding the canonical
// request (Cloud Storage's V4 signing process) for the given method and
// signed headers, and returns the URL's query.
func verifyV4(t testing.TB, pub *rsa.PublicKey, signed, method string, headers map[string]string) url.Values {
	t.Helper()
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	sig, err := hex.DecodeString(q.Get("X-Goog-Signature"))
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	q2 := url.Values{}
	for k, v := range q {
		if k != "X-Goog-Signature" {
			q2[k] = v
		}
	}
	names := []string{"host"}
	hv := map[string]string{"host": u.Hostname()}
	for k, v := range headers {
		names = append(names, k)
		hv[k] = v
	}
	sort.Strings(names)
	var canon []string
	for _, n := range names {
		canon = append(canon, n+":"+hv[n])
	}
	signedHeaders := strings.Join(names, ";")
	if q.Get("X-Goog-SignedHeaders") != signedHeaders {
		t.Errorf("signed headers %q, want %q", q.Get("X-Goog-SignedHeaders"), signedHeaders)
	}
	creq := strings.Join([]string{
		method, u.EscapedPath(), strings.ReplaceAll(q2.Encode(), "+", "%20"),
		strings.Join(canon, "\n") + "\n", signedHeaders, "UNSIGNED-PAYLOAD",
	}, "\n")
	sum := sha256.Sum256([]byte(creq))
	scope := strings.TrimPrefix(q.Get("X-Goog-Credential"), testAccountOf(q)+"/")
	sts := "GOOG4-RSA-SHA256\n" + q.Get("X-Goog-Date") + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	digest := sha256.Sum256([]byte(sts))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("V4 signature does not verify: %v\ncanonical request:\n%s", err, creq)
	}
	return q
}

func testAccountOf(q url.Values) string {
	c := q.Get("X-Goog-Credential")
	return c[:strings.Index(c, "/")]
}

// verifyV2 checks a V2 signed GET URL against pub and returns its query.
func verifyV2(t testing.TB, pub *rsa.PublicKey, signed string) url.Values {
	t.Helper()
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	sig, err := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	sts := "GET\n\n\n" + q.Get("Expires") + "\n" + u.Path
	digest := sha256.Sum256([]byte(sts))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("V2 signature does not verify: %v", err)
	}
	return q
}
