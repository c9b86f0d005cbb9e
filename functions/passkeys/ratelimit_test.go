package passkeys_test

import (
	"strings"
	"testing"

	"github.com/owlette/server/shared/apptest"
	"github.com/owlette/server/shared/ratelimit"
)

// TestPasskeySignInsFromOneAddress: passkey sign-ins share the auth class
// with passwords and codes. A verified passkey spends its user's budget, not
// the address's: 50 sign-ins in a minute from one address all succeed. The
// challenges anyone may ask for (E09, a write each) are limited per address
// on their own counter (AnonymousFactor × 10 a minute); failed
// verifications spend the address's budget, and the 11th is refused.
func TestPasskeySignInsFromOneAddress(t *testing.T) {
	e := newEnv(t)
	u := e.Member()
	k := newSoftKey(t)
	registerKey(t, e, u, u.Cookie(), k, "Key")
	office := map[string]string{"X-Forwarded-For": "203.0.113.40"}
	opts := func() *apptest.Response {
		t.Helper()
		return e.Do("POST", authOptions, nil, nil, office)
	}

	for i := range 50 {
		o := opts()
		if o.StatusCode != 200 {
			t.Fatalf("options %d: %d %s", i+1, o.StatusCode, o.Raw)
		}
		r := e.Do("POST", authVerify, nil, map[string]any{"credential": k.get(o.JSON["options"].(map[string]any), nil), "challengeId": o.JSON["challengeId"]}, office)
		if r.StatusCode != 200 || r.JSON["userId"] != u.UID || r.Header.Get("X-RateLimit-Remaining") != "10" {
			t.Fatalf("passkey sign-in %d: %d %s %v", i+1, r.StatusCode, r.Raw, r.Header)
		}
	}
	if n := e.Count(ratelimit.Collection); n != 0 {
		t.Fatalf("%d rate-limit documents after valid sign-ins", n)
	}

	// Challenges: 60 a minute per address, counted apart from failures.
	for i := 50; i < 10*ratelimit.AnonymousFactor; i++ {
		if o := opts(); o.StatusCode != 200 {
			t.Fatalf("options %d: %d %s", i+1, o.StatusCode, o.Raw)
		}
	}
	if o := opts(); o.StatusCode != 429 || o.Header.Get("Retry-After") == "" || o.JSON["error"] != "Rate limit exceeded" {
		t.Fatalf("options %d: %d %s", 10*ratelimit.AnonymousFactor+1, o.StatusCode, o.Raw)
	}
	// Failed verifications spend the address's budget: the 11th is refused.
	bogus := map[string]any{"credential": map[string]any{"id": "x", "response": map[string]any{}}, "challengeId": strings.Repeat("0", 64)}
	for i := range 10 {
		if r := e.Do("POST", authVerify, nil, bogus, office); r.StatusCode != 400 {
			t.Fatalf("failure %d: %d %s", i+1, r.StatusCode, r.Raw)
		}
	}
	if r := e.Do("POST", authVerify, nil, bogus, office); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("11th failure: %d %s", r.StatusCode, r.Raw)
	}
	t.Logf("50 passkey sign-ins from one address: all 200; %d challenges, then 429; 10 failures, then 429", 10*ratelimit.AnonymousFactor)
}
