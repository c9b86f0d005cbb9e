package mfa_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/owlette/server/functions/mfa"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/secretbox"
)

// TestSetupTwiceShowsOneSecret is the dashboard's double call: its setup page
// calls E04 twice in a row, the second before the first answers. Both get
// the same secret and QR code from one write, so the code a user scanned
// from the first keeps verifying; a call after SetupReuseWindow starts a new
// setup.
func TestSetupTwiceShowsOneSecret(t *testing.T) {
	e := apptest.New(t, mfa.Register)
	u := e.Member()
	c := u.Cookie()
	cookie := apptest.WithCookie(c)
	body := map[string]any{"userId": u.UID, "email": u.Email}
	setup := func(body map[string]any) *apptest.Response {
		t.Helper()
		r := e.Do("POST", setupPath, cookie, body, nil)
		if r.StatusCode != 200 {
			t.Fatalf("setup: %d %s", r.StatusCode, r.Raw)
		}
		return r
	}
	stored := func() string {
		t.Helper()
		s, err := secretbox.Decrypt(e.D.Config.MFAEncryptionKey, e.Doc(mfa.PendingCollection + "/" + u.UID)["secret"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	e.RPCs.Reset()
	var first, second *apptest.Response
	var wg sync.WaitGroup
	wg.Go(func() { first = e.Do("POST", setupPath, cookie, body, nil) })
	wg.Go(func() { second = e.Do("POST", setupPath, cookie, body, nil) })
	wg.Wait()
	writes := e.RPCs.Writes()
	if first.StatusCode != 200 || second.StatusCode != 200 {
		t.Fatalf("parallel setups: %d %s / %d %s", first.StatusCode, first.Raw, second.StatusCode, second.Raw)
	}
	secret := first.JSON["secret"].(string)
	if second.JSON["secret"] != secret || second.JSON["qrCodeUrl"] != first.JSON["qrCodeUrl"] {
		t.Fatalf("two parallel setups showed two secrets or QR codes: %s / %s", first.JSON["secret"], second.JSON["secret"])
	}
	if writes != 1 || stored() != secret {
		t.Fatalf("parallel setups: %d write RPCs (%v), stored secret matches: %v; want 1", writes, e.RPCs.Snapshot(), stored() == secret)
	}
	t.Logf("two parallel setups: one secret, %d write and %d read RPCs", writes, e.RPCs.Reads())

	// Later within the window (a reload): the same answer, no write.
	e.Clock.Advance(mfa.SetupReuseWindow - time.Second)
	e.RPCs.Reset()
	if r := setup(body); r.JSON["secret"] != secret || r.JSON["qrCodeUrl"] != first.JSON["qrCodeUrl"] || e.RPCs.Writes() != 0 {
		t.Fatalf("setup within the window: secret changed %v, %d write RPCs", r.JSON["secret"] != secret, e.RPCs.Writes())
	}
	// Another label: the same secret under that label (the label is only
	// the QR code's caption; a new secret would break the scanned one).
	if r := setup(map[string]any{"userId": u.UID, "email": "other label"}); r.JSON["secret"] != secret || r.JSON["qrCodeUrl"] == first.JSON["qrCodeUrl"] {
		t.Fatalf("setup with another label: same secret %v, same QR %v", r.JSON["secret"] == secret, r.JSON["qrCodeUrl"] == first.JSON["qrCodeUrl"])
	}
	if e.Doc(mfa.PendingCollection + "/" + u.UID)["email"] != u.Email {
		t.Error("the reused setup was rewritten")
	}

	// After the window: a new secret, one write.
	e.Clock.Advance(time.Second)
	e.RPCs.Reset()
	renewed := setup(body)
	if renewed.JSON["secret"] == secret || stored() != renewed.JSON["secret"] || e.RPCs.Writes() != 1 {
		t.Fatalf("setup after the window: new secret %v, stored %v, %d write RPCs", renewed.JSON["secret"] != secret, stored() == renewed.JSON["secret"], e.RPCs.Writes())
	}
	if exp := e.Doc(mfa.PendingCollection + "/" + u.UID)["expiresAt"].(time.Time); !exp.Equal(e.Clock.Now().Add(mfa.PendingTTL)) {
		t.Errorf("renewed setup expires %v", exp)
	}
	secret = renewed.JSON["secret"].(string)

	// The scanned secret verifies.
	r := e.Do("POST", verifyPath, cookie, map[string]any{"userId": u.UID, "code": code(t, secret, e.Clock.Now()), "backupCodes": []string{"AAAA1111"}}, nil)
	if r.StatusCode != 200 {
		t.Fatalf("verify-setup: %d %s", r.StatusCode, r.Raw)
	}
}

// TestSetupIsNotReusedOnceMFAIsOn: for a user with MFA, a setup is a
// re-enrolment (rotating a secret that may be exposed): every call starts
// afresh. A pending setup that cannot be read any more (another key) is
// replaced too.
func TestSetupIsNotReusedOnceMFAIsOn(t *testing.T) {
	e := apptest.New(t, mfa.Register)
	u := e.Member()
	u.EnableMFA()
	cookie := apptest.WithCookie(u.Cookie())
	body := map[string]any{"userId": u.UID, "email": u.Email}
	a := e.Do("POST", setupPath, cookie, body, nil)
	b := e.Do("POST", setupPath, cookie, body, nil)
	if a.StatusCode != 200 || b.StatusCode != 200 || a.JSON["secret"] == b.JSON["secret"] {
		t.Fatalf("re-enrolment setups: %d %d, same secret %v", a.StatusCode, b.StatusCode, a.JSON["secret"] == b.JSON["secret"])
	}

	v := e.Member()
	sealed, err := secretbox.Encrypt("another-key", rfcSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.FS.Collection(mfa.PendingCollection).Doc(v.UID).Set(context.Background(), map[string]any{
		"secret": sealed, "email": v.Email, "createdAt": firestore.ServerTimestamp, "expiresAt": e.Clock.Now().Add(mfa.PendingTTL)}); err != nil {
		t.Fatal(err)
	}
	r := e.Do("POST", setupPath, apptest.WithCookie(v.Cookie()), map[string]any{"userId": v.UID, "email": v.Email}, nil)
	if r.StatusCode != 200 || r.JSON["secret"] == rfcSecret {
		t.Fatalf("unreadable pending setup: %d %s", r.StatusCode, r.Raw)
	}
	// The original server's plaintext pending secret is reused as it is.
	w := e.Member()
	if _, err := e.FS.Collection(mfa.PendingCollection).Doc(w.UID).Set(context.Background(), map[string]any{
		"secret": "JBSWY3DPEHPK3PXP", "email": w.Email, "createdAt": firestore.ServerTimestamp, "expiresAt": e.Clock.Now().Add(mfa.PendingTTL - time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if r := e.Do("POST", setupPath, apptest.WithCookie(w.Cookie()), map[string]any{"userId": w.UID, "email": w.Email}, nil); r.JSON["secret"] != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("plaintext pending setup: %d %s", r.StatusCode, r.Raw)
	}
}
