package screenshots

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/storage"
)

func TestDecodeBase64(t *testing.T) {
	data := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0xFB, 0xEF, 0xBE, 0x3E, 0x3F} // has + and / in std form
	std := base64.StdEncoding.EncodeToString(data)
	if !strings.ContainsAny(std, "+/") || !strings.HasSuffix(std, "=") {
		t.Fatalf("fixture %q should exercise both alphabets and padding", std)
	}
	ok := []string{
		std,
		base64.RawStdEncoding.EncodeToString(data),
		base64.URLEncoding.EncodeToString(data),
		base64.RawURLEncoding.EncodeToString(data),
		"data:image/jpeg;base64," + std,
		"DATA:image/jpeg;base64," + std,
		" \n" + std[:4] + "\r\n" + std[4:8] + "\t " + std[8:] + "\n",
	}
	for _, s := range ok {
		got, valid := decodeBase64(s)
		if !valid || !bytes.Equal(got, data) {
			t.Errorf("%q: got %x, %v", s, got, valid)
		}
	}
	bad := []string{
		"!!!!", "abc$", std[:len(std)-2] + "=A", // padding in the middle
		"A", "AAAAA", // dangling bits
		std + "===",
		"data:image/jpeg;base64" + std, // no comma
		"data:" + strings.Repeat("x", 300) + "," + std,
	}
	for _, s := range bad {
		if got, valid := decodeBase64(s); valid {
			t.Errorf("%q decoded to %x", s, got)
		}
	}
	if got, valid := decodeBase64("  \n "); !valid || len(got) != 0 {
		t.Errorf("whitespace only: %x %v", got, valid)
	}
}

func TestSizeAndJPEG(t *testing.T) {
	for n, want := range map[int]int{0: 0, 511: 0, 512: 1, 1024: 1, 1535: 1, 1536: 2, 10240*1024 + 511: 10240, 10240*1024 + 512: 10241} {
		if got := sizeKB(n); got != want {
			t.Errorf("sizeKB(%d) = %d, want %d", n, got, want)
		}
	}
	for b, want := range map[string]bool{"\xFF\xD8\xFF\xE0": true, "\xFF\xD8\xFF": true, "\xFF\xD8": false, "\x89PNG": false, "": false} {
		if isJPEG([]byte(b)) != want {
			t.Errorf("isJPEG(%q) != %v", b, want)
		}
	}
}

func TestObjectFromURL(t *testing.T) {
	const b = "proj.firebasestorage.app"
	cases := []struct {
		url, name string
		own       bool
	}{
		{PublicBase + b + "/screenshots/s/m/history/1.jpg", "screenshots/s/m/history/1.jpg", true},
		{PublicBase + b + "/screenshots/s/m/latest.jpg?t=123", "screenshots/s/m/latest.jpg", true},
		{PublicBase + b + "/screenshots/s/m2/history/1.jpg", "screenshots/s/m2/history/1.jpg", false},
		{PublicBase + b + "/screenshots/s/m/", "screenshots/s/m/", false},
		{PublicBase + "other-bucket/screenshots/s/m/history/1.jpg", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		name, _ := objectFromURL(b, c.url)
		if name != c.name {
			t.Errorf("objectFromURL(%q) = %q, want %q", c.url, name, c.name)
		}
		if _, own := ownObject(b, "s", "m", c.url); own != c.own {
			t.Errorf("ownObject(%q) = %v", c.url, own)
		}
	}
}

// A bucket with uniform bucket-level access refuses the per-object ACL: the
// upload is retried without it, and later uploads skip it.
func TestUniformBucketAccess(t *testing.T) {
	var (
		mu      sync.Mutex
		withACL int
		plain   int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || !strings.HasPrefix(r.URL.Path, "/upload/storage/v1/b/ubla/o") {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusNotImplemented)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("predefinedAcl") != "" {
			withACL++
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":400,"message":"Cannot insert legacy ACL for an object when uniform bucket-level access is enabled. Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access","errors":[{"message":"Cannot insert legacy ACL for an object when uniform bucket-level access is enabled.","domain":"global","reason":"invalid"}]}}`))
			return
		}
		plain++
		_ = json.NewEncoder(w).Encode(map[string]any{"bucket": "ubla", "name": r.URL.Query().Get("name"), "size": "4"})
	}))
	defer srv.Close()
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL, "http://"))
	ctx := context.Background()
	c, err := storage.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	h := &handlers{}
	img := []byte{0xFF, 0xD8, 0xFF, 0xE0}
	for i := 0; i < 2; i++ {
		if err := h.put(ctx, c, "ubla", "screenshots/s/m/latest.jpg", CacheLatest, img, nil); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	if withACL != 1 || plain != 2 || !h.noACL.Load() {
		t.Errorf("requests with ACL %d (want 1), without %d (want 2), noACL %v", withACL, plain, h.noACL.Load())
	}
}
