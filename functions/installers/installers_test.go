package installers_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/owlette/server/functions/installers"
	"github.com/owlette/server/shared/app"
	"github.com/owlette/server/shared/apptest"
)

const (
	latestPath   = "/api/admin/installer/latest"
	versionsPath = "/api/admin/installer/versions"
	uploadPath   = "/api/admin/installer/upload"
)

func TestCredentials(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.FS.Doc(installers.LatestDoc).Set(ctx, map[string]any{"version": "2.0.0"}); err != nil {
		t.Fatal(err)
	}
	agent := f.IDTokenFor("agent_s1_m1", map[string]any{"role": "agent", "site_id": "s1", "machine_id": "m1", "version": "2.4.0"})
	creds := []struct {
		name   string
		cred   func() apptest.Cred
		status int
	}{
		{"none", func() apptest.Cred { return apptest.NoCred }, 401},
		{"forged bearer", func() apptest.Cred { return apptest.WithBearer("forged.id.token") }, 401},
		{"unknown API key", func() apptest.Cred { return apptest.WithAPIKey("owk_unknownunknownunknownunknownunknownunknown1") }, 401},
		{"member cookie (site owner)", func() apptest.Cred { return apptest.WithCookie(f.member.Cookie()) }, 403},
		{"member API key", func() apptest.Cred { return apptest.WithAPIKey(f.member.APIKey()) }, 403},
		{"member ID token", func() apptest.Cred { return apptest.WithBearer(f.member.IDToken()) }, 403},
		{"agent token", func() apptest.Cred { return apptest.WithBearer(agent) }, 403},
		{"admin cookie", func() apptest.Cred { return apptest.WithCookie(f.admin.Cookie()) }, 200},
		{"admin API key", func() apptest.Cred { return apptest.WithAPIKey(f.admin.APIKey()) }, 200},
		{"admin ID token", func() apptest.Cred { return apptest.WithBearer(f.admin.IDToken()) }, 200},
	}
	var scenarios []apptest.Scenario
	for i, c := range creds {
		finalizeBody := map[string]any{"uploadId": "not-prepared"}
		if c.status == 200 {
			finalizeBody["uploadId"] = f.prepared(t, fmt.Sprintf("3.0.%d", i), []byte("MZ installer "+c.name))
		}
		scenarios = append(scenarios,
			apptest.Scenario{Name: "E35 latest: " + c.name, Method: "GET", Path: latestPath, Cred: c.cred(), Status: c.status},
			apptest.Scenario{Name: "E36 versions: " + c.name, Method: "GET", Path: versionsPath, Cred: c.cred(), Status: c.status},
			apptest.Scenario{Name: "E37 upload: " + c.name, Method: "POST", Path: uploadPath, Cred: c.cred(), Status: c.status,
				Body: map[string]any{"version": "4.0.0", "fileName": "x.exe"}},
			apptest.Scenario{Name: "E38 finalize: " + c.name, Method: "PUT", Path: uploadPath, Cred: c.cred(), Status: c.status, Body: finalizeBody},
		)
	}
	// Order: the guard comes before the body (api.md E37/E38).
	scenarios = append(scenarios,
		apptest.Scenario{Name: "E37 bad body, no credential", Method: "POST", Path: uploadPath, Body: apptest.Raw("{"), Status: 401},
		apptest.Scenario{Name: "E38 bad body, member", Method: "PUT", Path: uploadPath, Cred: apptest.WithCookie(f.member.Cookie()), Body: apptest.Raw("{"), Status: 403},
		apptest.Scenario{Name: "unknown route", Method: "GET", Path: "/api/admin/installer/nope", Cred: apptest.WithCookie(f.admin.Cookie()), Status: 404},
		apptest.Scenario{Name: "wrong method", Method: "DELETE", Path: uploadPath, Cred: apptest.WithCookie(f.admin.Cookie()), Status: 405},
	)
	f.Run(t, scenarios)
}

func TestLatestAndVersions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cookie := apptest.WithCookie(f.admin.Cookie())
	f.Run(t, []apptest.Scenario{
		{Name: "latest: none yet", Method: "GET", Path: latestPath, Cred: cookie, Status: 404, Want: map[string]any{"error": installers.ErrNoLatest.Message}},
		{Name: "versions: none yet", Method: "GET", Path: versionsPath, Cred: cookie, Status: 200, Want: map[string]any{"success": true, "versions": []any{}}},
	})

	// A dashboard upload: no uploaded_at, release_date a Timestamp, falsy values.
	rd := time.Date(2026, 10, 1, 12, 0, 0, 500_000, time.UTC)
	if _, err := f.FS.Doc(installers.LatestDoc).Set(ctx, map[string]any{
		"version": "2.1.0", "download_url": "https://dl.example/o.exe", "checksum_sha256": "", "file_size": int64(0),
		"release_date": rd, "downloadUrl": "ignored",
	}); err != nil {
		t.Fatal(err)
	}
	f.Run(t, []apptest.Scenario{{Name: "latest: dashboard upload", Method: "GET", Path: latestPath, Cred: cookie, Status: 200,
		Want: map[string]any{"success": true, "installer": map[string]any{
			"version": "2.1.0", "download_url": "https://dl.example/o.exe", "checksum_sha256": nil, "release_notes": nil, "file_size": nil,
			"uploaded_at": map[string]any{"_seconds": rd.Unix(), "_nanoseconds": 500_000},
		}}}})
	// An API upload: uploaded_at ms wins over the ISO release_date.
	if _, err := f.FS.Doc(installers.LatestDoc).Set(ctx, map[string]any{
		"version": "2.2.0", "download_url": "https://x/y", "checksum_sha256": "ab", "release_notes": "Notes", "file_size": int64(1234),
		"uploaded_at": int64(1790000000000), "uploaded_by": "u1", "release_date": "2026-09-21T14:13:20.000Z",
	}); err != nil {
		t.Fatal(err)
	}
	f.Run(t, []apptest.Scenario{{Name: "latest: API upload", Method: "GET", Path: latestPath, Cred: cookie, Status: 200,
		Want: map[string]any{"installer": map[string]any{
			"version": "2.2.0", "download_url": "https://x/y", "checksum_sha256": "ab", "release_notes": "Notes", "file_size": 1234, "uploaded_at": 1790000000000,
		}}}})
	// Only stored release_date (ISO string).
	if _, err := f.FS.Doc(installers.LatestDoc).Set(ctx, map[string]any{"release_date": "2026-09-21T14:13:20.000Z"}); err != nil {
		t.Fatal(err)
	}
	f.Run(t, []apptest.Scenario{{Name: "latest: ISO release_date", Method: "GET", Path: latestPath, Cred: cookie, Status: 200,
		Want: map[string]any{"installer.uploaded_at": "2026-09-21T14:13:20.000Z", "installer.version": nil}}})

	for i := 1; i <= 25; i++ {
		data := map[string]any{"version": fmt.Sprintf("1.0.%d", i), "download_url": "https://x/" + fmt.Sprint(i), "uploaded_at": int64(1700000000000 + i), "uploaded_by": "u"}
		if _, err := f.FS.Doc(fmt.Sprintf("%s/1.0.%d", installers.VersionsPath, i)).Set(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	// Without a version field (id used), and a dashboard version without uploaded_at (never listed).
	if _, err := f.FS.Doc(installers.VersionsPath+"/9.9.9").Set(ctx, map[string]any{"uploaded_at": int64(1800000000000)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.FS.Doc(installers.VersionsPath+"/0.9.0").Set(ctx, map[string]any{"version": "0.9.0", "release_date": rd}); err != nil {
		t.Fatal(err)
	}
	versions := func(q string) []any {
		r := f.Do("GET", versionsPath+q, apptest.WithAPIKey(f.admin.APIKey()), nil, nil)
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		return r.JSON["versions"].([]any)
	}
	for q, n := range map[string]int{"": 20, "?limit=3": 3, "?limit=0": 20, "?limit=x": 20, "?limit=-1": 1, "?limit=1000": 26} {
		if got := len(versions(q)); got != n {
			t.Errorf("versions%s: %d, want %d", q, got, n)
		}
	}
	all := versions("?limit=100")
	if want := (map[string]any{"version": "9.9.9", "download_url": nil, "checksum_sha256": nil, "release_notes": nil, "file_size": nil,
		"uploaded_at": float64(1800000000000), "uploaded_by": nil}); !reflect.DeepEqual(all[0], want) {
		t.Errorf("first %#v", all[0])
	}
	if v := all[1].(map[string]any); v["version"] != "1.0.25" || v["uploaded_by"] != "u" || v["download_url"] != "https://x/25" {
		t.Errorf("second %v", v)
	}
	for _, v := range all {
		if v.(map[string]any)["version"] == "0.9.0" {
			t.Error("version without uploaded_at listed")
		}
	}
}

func TestInitiateBadInput(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.admin.Cookie())
	body := func(kv ...any) map[string]any {
		return apptest.Override(map[string]any{"version": "1.2.3", "fileName": "Owlette.exe"}, kv...)
	}
	var scenarios []apptest.Scenario
	for _, v := range []string{"1.2", "v1.2.3", "1.2.3.4", "1.2.3 ", " 1.2.3", "1.2.3\n", "1..3", "a.b.c", "１.２.３", "1.2.3-beta", "1.2.3/../x", strings.Repeat("1", 70) + ".2.3"} {
		scenarios = append(scenarios, apptest.Scenario{Name: "version " + v, Method: "POST", Path: uploadPath, Cred: cookie, Body: body("version", v),
			Status: 400, Want: map[string]any{"error": installers.ErrVersion.Message}})
	}
	for _, n := range []string{"setup.msi", "exe", "x.exe.zip", "x.ex"} {
		scenarios = append(scenarios, apptest.Scenario{Name: "fileName " + n, Method: "POST", Path: uploadPath, Cred: cookie, Body: body("fileName", n),
			Status: 400, Want: map[string]any{"error": installers.ErrFileName.Message}})
	}
	scenarios = append(scenarios, []apptest.Scenario{
		{Name: "version missing", Method: "POST", Path: uploadPath, Cred: cookie, Body: body("version", nil), Status: 400, Want: map[string]any{"error": "Missing required field: version"}},
		{Name: "fileName missing", Method: "POST", Path: uploadPath, Cred: cookie, Body: body("fileName", nil), Status: 400, Want: map[string]any{"error": "Missing required field: fileName"}},
		{Name: "version a number", Method: "POST", Path: uploadPath, Cred: cookie, Body: body("version", 1.2), Status: 400, Want: map[string]any{"error": `Field "version" must be a string, not number`}},
		{Name: "fileName an array", Method: "POST", Path: uploadPath, Cred: cookie, Body: body("fileName", []string{"a.exe"}), Status: 400},
		{Name: "releaseNotes an object", Method: "POST", Path: uploadPath, Cred: cookie, Body: body("releaseNotes", map[string]any{}), Status: 400},
		{Name: "releaseNotes too long", Method: "POST", Path: uploadPath, Cred: cookie, Body: body("releaseNotes", strings.Repeat("n", installers.MaxReleaseNotes+1)), Status: 400},
		{Name: "contentType with a newline", Method: "POST", Path: uploadPath, Cred: cookie, Body: body("contentType", "application/x\r\nX-Evil: 1"), Status: 400},
		{Name: "contentType a number", Method: "POST", Path: uploadPath, Cred: cookie, Body: body("contentType", 5), Status: 400},
		{Name: "empty body", Method: "POST", Path: uploadPath, Cred: cookie, Status: 400},
		{Name: "malformed", Method: "POST", Path: uploadPath, Cred: cookie, Body: apptest.Raw(`{"version":"1.2.3",`), Status: 400},
		{Name: "huge", Method: "POST", Path: uploadPath, Cred: cookie, Body: apptest.Raw(`{"releaseNotes":"` + strings.Repeat("x", 2<<20) + `"}`), Status: 413},
		{Name: "upper-case .EXE is fine", Method: "POST", Path: uploadPath, Cred: cookie, Body: body("fileName", "SETUP.EXE"), Status: 200},
	}...)
	f.Run(t, scenarios)
	if n := f.Count(installers.UploadsCollection); n != 1 {
		t.Errorf("%d upload records, want only the valid one", n)
	}
}

// TestUploadRoundTrip: initiate → PUT the bytes to the signed URL (against
// fake-gcs-server) → finalize → latest and versions return it, and its
// download URL serves the bytes.
func TestUploadRoundTrip(t *testing.T) {
	f := newFixture(t)
	start := f.Clock.Now()
	r := f.initiate(t, map[string]any{"version": "2.5.0", "fileName": "Owlette-Installer-v2.5.0.exe", "releaseNotes": "Faster sync", "contentType": "application/vnd.microsoft.portable-executable"})
	objectPath := "agent-installers/versions/2.5.0/Owlette-Installer-v2.5.0.exe"
	uploadURL, uploadID := r.JSON["uploadUrl"].(string), r.JSON["uploadId"].(string)
	if r.JSON["signedUrl"] != uploadURL || r.JSON["success"] != true {
		t.Errorf("signedUrl must equal uploadUrl: %s", r.Raw)
	}
	if r.JSON["storagePath"] != objectPath || r.JSON["expiresAt"] != start.Add(15*time.Minute).UTC().Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("response %s", r.Raw)
	}
	wantPrefix := "http://" + os.Getenv("STORAGE_EMULATOR_HOST") + "/" + f.bucket + "/" + objectPath + "?"
	if !strings.HasPrefix(uploadURL, wantPrefix) {
		t.Errorf("upload URL %s, want prefix %s", uploadURL, wantPrefix)
	}
	q := verifyV4(t, &testKey.PublicKey, uploadURL, "PUT", map[string]string{"content-type": "application/vnd.microsoft.portable-executable"})
	if q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" || !strings.HasPrefix(q.Get("X-Goog-Credential"), testAccount+"/") {
		t.Errorf("query %v", q)
	}
	if exp := q.Get("X-Goog-Expires"); exp != "900" && exp != "899" {
		t.Errorf("X-Goog-Expires %s", exp)
	}
	// The record, exactly.
	rec := f.Doc(installers.UploadsCollection + "/" + uploadID)
	if _, ok := rec["createdAt"].(time.Time); !ok {
		t.Errorf("createdAt %#v", rec["createdAt"])
	}
	if exp, _ := rec["expiresAt"].(time.Time); !exp.Equal(start.Add(15 * time.Minute)) {
		t.Errorf("expiresAt %v", rec["expiresAt"])
	}
	delete(rec, "createdAt")
	delete(rec, "expiresAt")
	if want := map[string]any{"version": "2.5.0", "fileName": "Owlette-Installer-v2.5.0.exe", "storagePath": objectPath, "userId": f.admin.UID,
		"releaseNotes": "Faster sync", "setAsLatest": true, "status": "pending"}; !reflect.DeepEqual(rec, want) {
		t.Errorf("upload record\n got %#v\nwant %#v", rec, want)
	}

	data := append([]byte("MZ"), make([]byte, 300_000)...)
	_, _ = rand.Read(data[2:])
	put(t, uploadURL, "application/vnd.microsoft.portable-executable", data)
	sum := sha256.Sum256(data)
	checksum := hex.EncodeToString(sum[:])

	f.Clock.Advance(10 * time.Minute) // still inside the 15 minutes
	now := f.Clock.Now()
	fin := f.Do("PUT", uploadPath, apptest.WithAPIKey(f.admin.APIKey()), map[string]any{"uploadId": uploadID}, nil)
	if fin.StatusCode != 200 {
		t.Fatalf("finalize: %d %s", fin.StatusCode, fin.Raw)
	}
	downloadURL, _ := fin.JSON["download_url"].(string)
	if fin.JSON["success"] != true || fin.JSON["version"] != "2.5.0" || fin.JSON["checksum_sha256"] != checksum || fin.JSON["file_size"] != float64(len(data)) {
		t.Errorf("finalize response %s", fin.Raw)
	}
	dq := verifyV2(t, &testKey.PublicKey, downloadURL)
	if dq.Get("Expires") != "1893456000" || dq.Get("GoogleAccessId") != testAccount {
		t.Errorf("download URL query %v (want Expires 2030-01-01 = 1893456000)", dq)
	}
	if !strings.HasPrefix(downloadURL, wantPrefix) {
		t.Errorf("download URL %s", downloadURL)
	}
	if got := get(t, downloadURL); !reflect.DeepEqual(got, data) {
		t.Errorf("download returned %d bytes, want the %d uploaded", len(got), len(data))
	}

	wantMeta := map[string]any{"version": "2.5.0", "download_url": downloadURL, "checksum_sha256": checksum, "release_notes": "Faster sync",
		"file_size": int64(len(data)), "uploaded_at": now.UnixMilli(), "uploaded_by": f.admin.UID}
	if got := f.Doc(installers.VersionsPath + "/2.5.0"); !reflect.DeepEqual(got, wantMeta) {
		t.Errorf("version doc\n got %#v\nwant %#v", got, wantMeta)
	}
	wantMeta["release_date"] = now.UTC().Format("2006-01-02T15:04:05.000Z")
	if got := f.Doc(installers.LatestDoc); !reflect.DeepEqual(got, wantMeta) {
		t.Errorf("latest doc\n got %#v\nwant %#v", got, wantMeta)
	}
	rec = f.Doc(installers.UploadsCollection + "/" + uploadID)
	if rec["status"] != "completed" || rec["completedAt"] != now.UnixMilli() || rec["file_size"] != int64(len(data)) {
		t.Errorf("upload record after finalize %v", rec)
	}

	f.Run(t, []apptest.Scenario{
		{Name: "latest returns it", Method: "GET", Path: latestPath, Cred: apptest.WithCookie(f.admin.Cookie()), Status: 200,
			Want: map[string]any{"success": true, "installer": map[string]any{"version": "2.5.0", "download_url": downloadURL,
				"checksum_sha256": checksum, "release_notes": "Faster sync", "file_size": len(data), "uploaded_at": now.UnixMilli()}}},
		{Name: "versions lists it", Method: "GET", Path: versionsPath, Cred: apptest.WithCookie(f.admin.Cookie()), Status: 200,
			Want: map[string]any{"versions.0.version": "2.5.0", "versions.0.uploaded_by": f.admin.UID, "versions.0.file_size": len(data)}},
		{Name: "finalize again", Method: "PUT", Path: uploadPath, Cred: apptest.WithCookie(f.admin.Cookie()), Body: map[string]any{"uploadId": uploadID},
			Status: 409, Want: map[string]any{"error": "Upload already completed"}},
	})
}

// TestFinalizeOptions: a client checksum is stored as given; setAsLatest
// false leaves latest alone; re-uploading a version overwrites it.
func TestFinalizeOptions(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.admin.Cookie())
	first := f.prepared(t, "1.0.0", []byte("MZ one"))
	if r := f.Do("PUT", uploadPath, cookie, map[string]any{"uploadId": first}, nil); r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	latestBefore := f.Doc(installers.LatestDoc)

	r := f.initiate(t, map[string]any{"version": "1.1.0", "fileName": "o.exe", "setAsLatest": false})
	put(t, r.JSON["uploadUrl"].(string), installers.DefaultContentType, []byte("MZ two"))
	if rec := f.Doc(installers.UploadsCollection + "/" + r.JSON["uploadId"].(string)); rec["setAsLatest"] != false || rec["releaseNotes"] != nil {
		t.Errorf("record %v", rec)
	}
	fin := f.Do("PUT", uploadPath, cookie, map[string]any{"uploadId": r.JSON["uploadId"], "checksum_sha256": "client-said-so"}, nil)
	if fin.StatusCode != 200 || fin.JSON["checksum_sha256"] != "client-said-so" || fin.JSON["file_size"] != float64(6) {
		t.Fatalf("%d %s", fin.StatusCode, fin.Raw)
	}
	if got := f.Doc(installers.LatestDoc); !reflect.DeepEqual(got, latestBefore) {
		t.Errorf("latest changed: %v", got)
	}
	if v := f.Doc(installers.VersionsPath + "/1.1.0"); v["checksum_sha256"] != "client-said-so" || v["release_notes"] != nil {
		t.Errorf("version %v", v)
	}

	// "setAsLatest": anything but false counts as true.
	f.Clock.Advance(time.Second)
	again := f.initiate(t, map[string]any{"version": "1.0.0", "fileName": "o.exe", "setAsLatest": "no"})
	put(t, again.JSON["uploadUrl"].(string), installers.DefaultContentType, []byte("MZ one, rebuilt"))
	if r := f.Do("PUT", uploadPath, cookie, map[string]any{"uploadId": again.JSON["uploadId"]}, nil); r.StatusCode != 200 {
		t.Fatalf("%d %s", r.StatusCode, r.Raw)
	}
	sum := sha256.Sum256([]byte("MZ one, rebuilt"))
	if v := f.Doc(installers.VersionsPath + "/1.0.0"); v["checksum_sha256"] != hex.EncodeToString(sum[:]) || v["uploaded_at"] != f.Clock.Now().UnixMilli() {
		t.Errorf("re-upload did not overwrite: %v", v)
	}
	if l := f.Doc(installers.LatestDoc); l["version"] != "1.0.0" || l["file_size"] != int64(15) {
		t.Errorf("latest %v", l)
	}
}

func TestFinalizeErrors(t *testing.T) {
	f := newFixture(t)
	cookie := apptest.WithCookie(f.admin.Cookie())
	noObject := f.initiate(t, map[string]any{"version": "5.0.0", "fileName": "o.exe"}).JSON["uploadId"].(string)
	expiring := f.prepared(t, "5.1.0", []byte("MZ late"))
	f.Run(t, []apptest.Scenario{
		{Name: "uploadId missing", Method: "PUT", Path: uploadPath, Cred: cookie, Body: map[string]any{}, Status: 400, Want: map[string]any{"error": "Missing required field: uploadId"}},
		{Name: "uploadId a number", Method: "PUT", Path: uploadPath, Cred: cookie, Body: map[string]any{"uploadId": 5}, Status: 400},
		{Name: "checksum a number", Method: "PUT", Path: uploadPath, Cred: cookie, Body: map[string]any{"uploadId": noObject, "checksum_sha256": 5}, Status: 400},
		{Name: "no body", Method: "PUT", Path: uploadPath, Cred: cookie, Status: 400},
		{Name: "unknown upload", Method: "PUT", Path: uploadPath, Cred: cookie, Body: map[string]any{"uploadId": "00000000-0000-4000-8000-000000000000"}, Status: 404,
			Want: map[string]any{"error": installers.ErrUploadNotFound.Message}},
		{Name: "invalid upload id", Method: "PUT", Path: uploadPath, Cred: cookie, Body: map[string]any{"uploadId": "a/b"}, Status: 404},
		{Name: "object never uploaded", Method: "PUT", Path: uploadPath, Cred: cookie, Body: map[string]any{"uploadId": noObject}, Status: 404,
			Want: map[string]any{"error": installers.ErrObjectMissing.Message},
			Check: func(t *testing.T, r *apptest.Response) {
				if st := f.Doc(installers.UploadsCollection + "/" + noObject)["status"]; st != "pending" {
					t.Errorf("status %v", st)
				}
				if f.Doc(installers.VersionsPath+"/5.0.0") != nil || f.Doc(installers.LatestDoc) != nil {
					t.Error("metadata written")
				}
			}},
	})
	f.Clock.Advance(installers.UploadURLTTL + time.Millisecond)
	f.Run(t, []apptest.Scenario{
		{Name: "expired", Method: "PUT", Path: uploadPath, Cred: cookie, Body: map[string]any{"uploadId": expiring}, Status: 410,
			Check: func(t *testing.T, r *apptest.Response) {
				if st := f.Doc(installers.UploadsCollection + "/" + expiring)["status"]; st != "expired" {
					t.Errorf("status %v", st)
				}
				if f.Doc(installers.VersionsPath+"/5.1.0") != nil {
					t.Error("version written")
				}
			}},
		{Name: "expired, again", Method: "PUT", Path: uploadPath, Cred: cookie, Body: map[string]any{"uploadId": expiring}, Status: 409,
			Want: map[string]any{"error": "Upload already expired"}},
	})
}

// TestSignerFromConfig: without an injected signer the group signs with
// STORAGE_SIGNING_KEY_FILE (PEM or service-account JSON), or under the
// emulator with a throw-away key — never reaching for credentials.
func TestSignerFromConfig(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "key.pem")
	saFile := filepath.Join(dir, "sa.json")
	badFile := filepath.Join(dir, "bad.pem")
	saJSON, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "sa@demo.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))})
	for name, data := range map[string][]byte{pemFile: pemKey, saFile: saJSON, badFile: []byte("not a key")} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// initiate runs E37 on a group configured with keyFile and account
	// (STORAGE_SIGNING_KEY_FILE, STORAGE_SIGNING_ACCOUNT).
	initiate := func(t *testing.T, keyFile, account string) (*fixture, *apptest.Response) {
		f := newFixtureWith(t, func(rt *app.Router) {
			rt.D.Config.StorageSigningKeyFile, rt.D.Config.StorageSigningAccount = keyFile, account
			installers.Register(rt)
		})
		return f, f.Do("POST", uploadPath, apptest.WithCookie(f.admin.Cookie()), map[string]any{"version": "1.2.3", "fileName": "o.exe"}, nil)
	}
	t.Run("PEM key file and account", func(t *testing.T) {
		_, r := initiate(t, pemFile, "signer@demo.iam.gserviceaccount.com")
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		q := verifyV4(t, &key.PublicKey, r.JSON["uploadUrl"].(string), "PUT", map[string]string{"content-type": installers.DefaultContentType})
		if !strings.HasPrefix(q.Get("X-Goog-Credential"), "signer@demo.iam.gserviceaccount.com/") {
			t.Errorf("credential %s", q.Get("X-Goog-Credential"))
		}
	})
	t.Run("service-account JSON", func(t *testing.T) {
		f, r := initiate(t, saFile, "")
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		u := r.JSON["uploadUrl"].(string)
		q := verifyV4(t, &key.PublicKey, u, "PUT", map[string]string{"content-type": installers.DefaultContentType})
		if !strings.HasPrefix(q.Get("X-Goog-Credential"), "sa@demo.iam.gserviceaccount.com/") {
			t.Errorf("credential %s", q.Get("X-Goog-Credential"))
		}
		// And the whole round trip with it.
		put(t, u, installers.DefaultContentType, []byte("MZ env"))
		fin := f.Do("PUT", uploadPath, apptest.WithCookie(f.admin.Cookie()), map[string]any{"uploadId": r.JSON["uploadId"]}, nil)
		if fin.StatusCode != 200 {
			t.Fatalf("%d %s", fin.StatusCode, fin.Raw)
		}
		verifyV2(t, &key.PublicKey, fin.JSON["download_url"].(string))
	})
	t.Run("unreadable key file", func(t *testing.T) {
		f, r := initiate(t, badFile, "")
		if r.StatusCode != 500 || r.JSON["error"] != "Internal server error" {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		if n := f.Count(installers.UploadsCollection); n != 0 {
			t.Errorf("%d records", n)
		}
	})
	t.Run("emulator without key", func(t *testing.T) {
		f, r := initiate(t, "", "")
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.Raw)
		}
		u := r.JSON["uploadUrl"].(string)
		if !strings.Contains(u, "owlette-local-signer%40"+f.Project+".iam.gserviceaccount.com") {
			t.Errorf("url %s", u)
		}
		put(t, u, installers.DefaultContentType, []byte("MZ"))
		if fin := f.Do("PUT", uploadPath, apptest.WithCookie(f.admin.Cookie()), map[string]any{"uploadId": r.JSON["uploadId"]}, nil); fin.StatusCode != 200 {
			t.Fatalf("%d %s", fin.StatusCode, fin.Raw)
		}
	})
	if n := metadataHits.Load(); n != 0 {
		t.Errorf("%d metadata requests", n)
	}
}

func TestParseKey(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 1024)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for name, data := range map[string][]byte{"pkcs1": pkcs1, "pkcs8": pkcs8} {
		k, _, err := installers.ParseKey(data)
		if err != nil || !k.Equal(key) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, data := range map[string]string{"empty": "", "garbage": "xyz", "json without key": `{"client_email":"a"}`, "bad json": `{`} {
		if _, _, err := installers.ParseKey([]byte(data)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestLongestReleaseNotes: MaxReleaseNotes characters of four bytes each pass
// the body decoder's per-field cap and are stored whole.
func TestLongestReleaseNotes(t *testing.T) {
	f := newFixture(t)
	notes := strings.Repeat("🦉", installers.MaxReleaseNotes)
	r := f.initiate(t, map[string]any{"version": "2.6.0", "fileName": "Owlette-Installer.exe", "releaseNotes": notes})
	if rec := f.Doc(installers.UploadsCollection + "/" + r.JSON["uploadId"].(string)); rec["releaseNotes"] != notes {
		t.Errorf("stored release notes are %d bytes, want %d", len(fmt.Sprint(rec["releaseNotes"])), len(notes))
	}
}
