package mfa_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/owlette/server/functions/mfa"
	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/ratelimit"
	sess "github.com/owlette/server/shared/session"
)

// TestCorrectCodesDoNotSpendTheAddress: MFA verification shares the auth
// class with sign-in. Correct codes from one address (an office signing in
// at nine) are not limited by it: 50 in a minute all succeed, at no
// rate-limit write; wrong codes spend it, and the 11th failure of the minute
// from that address is refused.
func TestCorrectCodesDoNotSpendTheAddress(t *testing.T) {
	e := apptest.New(t, mfa.Register)
	office := map[string]string{"X-Forwarded-For": "203.0.113.30"}
	u := e.Member()
	backup := make([]string, 50)
	for i := range backup {
		backup[i] = fmt.Sprintf("C0DE%04d", i)
	}
	enrol(t, e, u.UID, seal(t, e, rfcSecret), backup...)
	c := apptest.WithCookie(u.CookieWith(sess.MFAPending))

	r := e.Do("POST", loginPath, c, map[string]any{"userId": u.UID, "code": code(t, rfcSecret, e.Clock.Now())}, office)
	if r.StatusCode != 200 {
		t.Fatalf("TOTP code: %d %s", r.StatusCode, r.Raw)
	}
	for i := range 49 {
		r := e.Do("POST", loginPath, c, map[string]any{"userId": u.UID, "code": backup[i], "isBackupCode": true}, office)
		if r.StatusCode != 200 || r.Header.Get("X-RateLimit-Remaining") != "10" {
			t.Fatalf("correct code %d: %d %s %v", i+2, r.StatusCode, r.Raw, r.Header)
		}
	}
	// Only the failed-attempt counters (each code is reserved, then given
	// back) exist; no request budget was written.
	for id := range e.Docs(ratelimit.Collection) {
		if !strings.HasPrefix(id, "fail-") {
			t.Fatalf("rate-limit document %s after correct codes", id)
		}
	}

	// Wrong codes of ten colleagues (one each: the per-user limit is 5).
	for i := range 10 {
		v := e.Member()
		enrol(t, e, v.UID, seal(t, e, rfcSecret))
		r := e.Do("POST", loginPath, apptest.WithCookie(v.CookieWith(sess.MFAPending)), map[string]any{"userId": v.UID, "code": "ZZZZ", "isBackupCode": true}, office)
		if r.StatusCode != 400 {
			t.Fatalf("wrong code %d: %d %s", i+1, r.StatusCode, r.Raw)
		}
	}
	r = e.Do("POST", loginPath, c, map[string]any{"userId": u.UID, "code": backup[49], "isBackupCode": true}, office)
	if r.StatusCode != 429 || r.JSON["error"] != "Rate limit exceeded" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures from the address: %d %s", r.StatusCode, r.Raw)
	}
	t.Logf("50 correct codes from one address: all 200; 10 wrong ones, then 429")
}
