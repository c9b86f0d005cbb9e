package webhook

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Connect-time refusals: validation is skipped on purpose (a stored URL
// from before the check, or a name whose DNS answer changed).

func TestClientRefusesBlockedLiterals(t *testing.T) {
	live := newReceiver(t, nil) // a reachable loopback port, so only policy can refuse
	port := liveURL(t, live).Port()
	for _, policy := range []Policy{{}, dev} {
		client := NewClient(policy, Timeout)
		for _, u := range []string{
			"https://10.1.2.3/hook",
			"https://169.254.169.254/latest/meta-data/",
			"https://100.64.0.1/hook",
			"https://[fd00:ec2::254]/hook",
			"https://0.0.0.0:" + port + "/hook",
		} {
			res := Deliver(context.Background(), client, attempt(u, time.Now()))
			if res.Status != 0 || !errors.Is(res.Err, ErrBlockedAddress) {
				t.Errorf("%s (%+v): %+v", u, policy, res)
			}
		}
	}
	client := NewClient(Policy{}, Timeout)
	for _, u := range []string{
		"https://127.0.0.1:" + port + "/hook",
		"https://[::1]:" + port + "/hook",
		"https://[::ffff:127.0.0.1]:" + port + "/hook",
		"https://localhost:" + port + "/hook",
	} {
		res := Deliver(context.Background(), client, attempt(u, time.Now()))
		if res.Status != 0 || !errors.Is(res.Err, ErrBlockedAddress) {
			t.Errorf("%s: %+v", u, res)
		}
	}
	if n := len(live.got()); n != 0 {
		t.Errorf("loopback receiver reached %d times", n)
	}
}

func TestClientRefusesNamesResolvingToBlockedAddresses(t *testing.T) {
	for _, policy := range []Policy{{}, dev} {
		client := newClient(policy, Timeout, dns)
		for _, host := range []string{"rebind.example.com", "metadata.example.com", "cgnat.example.com", "mixed.example.com"} {
			res := Deliver(context.Background(), client, attempt("https://"+host+"/hook", time.Now()))
			if res.Status != 0 || !errors.Is(res.Err, ErrBlockedAddress) {
				t.Errorf("%s (%+v): %+v", host, policy, res)
			}
		}
	}
	client := newClient(Policy{}, Timeout, dns)
	for _, host := range []string{"v6loop.example.com", "mapped.example.com"} {
		res := Deliver(context.Background(), client, attempt("https://"+host+"/hook", time.Now()))
		if res.Status != 0 || !errors.Is(res.Err, ErrBlockedAddress) {
			t.Errorf("%s: %+v", host, res)
		}
	}
}

// DNS rebinding: the name is public when the URL is validated and points at
// a live loopback service when the delivery connects.
func TestClientRefusesRebinding(t *testing.T) {
	live := newReceiver(t, nil)
	port := liveURL(t, live).Port()
	target := "https://hooks.example.com:" + port + "/hook"
	if err := ValidateTarget(context.Background(), target, Policy{}, dns); err != nil {
		t.Fatalf("validation: %v", err)
	}
	later := fakeResolver{"hooks.example.com": {"127.0.0.1"}}
	res := Deliver(context.Background(), newClient(Policy{}, Timeout, later), attempt(target, time.Now()))
	if res.Status != 0 || !errors.Is(res.Err, ErrBlockedAddress) {
		t.Errorf("rebound name: %+v", res)
	}
	if len(live.got()) != 0 {
		t.Fatal("rebound name reached the loopback service")
	}
	// The same name, resolver and port connect when loopback is allowed, so
	// the refusal above is the policy's, not a broken setup's.
	d := newClient(dev, Timeout, later).Transport.(*guardTransport).dialer
	conn, err := d.dialContext(context.Background(), "tcp", "hooks.example.com:"+port)
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	conn.Close()
}

// The dialler's Control hook refuses a blocked address on its own, below
// the resolution step: whatever address a connect is about to reach.
func TestControlHookRefusesDialledAddress(t *testing.T) {
	live := newReceiver(t, nil)
	addr := liveURL(t, live).Host
	strict := NewClient(Policy{}, Timeout).Transport.(*guardTransport).dialer
	if _, err := strict.inner.DialContext(context.Background(), "tcp", addr); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("inner dialler connected to %s: %v", addr, err)
	}
	loose := NewClient(dev, Timeout).Transport.(*guardTransport).dialer
	conn, err := loose.inner.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("loopback allowed: %v", err)
	}
	conn.Close()
	for _, c := range []struct{ network, address string }{
		{"tcp4", "10.0.0.1:443"}, {"tcp6", "[::ffff:169.254.169.254]:443"}, {"tcp6", "[fe80::1%eth0]:443"},
		{"udp4", "8.8.8.8:53"}, {"tcp4", "not-an-address"},
	} {
		if err := (Policy{}).control(c.network, c.address, nil); !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("control(%s, %s) = %v", c.network, c.address, err)
		}
	}
	if err := (Policy{}).control("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Errorf("public address refused: %v", err)
	}
}

func TestClientLoopbackNeedsAllowLoopback(t *testing.T) {
	live := newReceiver(t, nil)
	res := Deliver(context.Background(), NewClient(Policy{}, Timeout), attempt(live.URL, time.Now()))
	if res.Status != 0 || !errors.Is(res.Err, ErrInvalidTarget) { // plain http
		t.Errorf("http loopback without AllowLoopback: %+v", res)
	}
	if len(live.got()) != 0 {
		t.Fatal("reached loopback without AllowLoopback")
	}
	if res := Deliver(context.Background(), NewClient(dev, Timeout), attempt(live.URL, time.Now())); !res.OK() {
		t.Errorf("with AllowLoopback: %+v", res)
	}
	port := liveURL(t, live).Port()
	res = Deliver(context.Background(), NewClient(dev, Timeout), attempt("http://localhost:"+port+"/x", time.Now()))
	if !res.OK() {
		t.Errorf("localhost with AllowLoopback: %+v", res)
	}
}

func TestClientSettings(t *testing.T) {
	c := NewClient(Policy{}, TestTimeout)
	g, ok := c.Transport.(*guardTransport)
	if !ok {
		t.Fatalf("transport %T", c.Transport)
	}
	if g.next.Proxy != nil {
		t.Error("proxy from the environment would bypass the address check")
	}
	if c.Timeout != TestTimeout || g.dialer.inner.Control == nil {
		t.Errorf("timeout %v, control set %v", c.Timeout, g.dialer.inner.Control != nil)
	}
}

func TestErrorsDoNotLeakURL(t *testing.T) {
	u := "https://10.0.0.1/discord.com/api/webhooks/123/SECRET-TOKEN"
	res := Deliver(context.Background(), NewClient(Policy{}, Timeout), attempt(u, time.Now()))
	if res.Err == nil || strings.Contains(res.Err.Error(), "SECRET-TOKEN") {
		t.Errorf("error %v", res.Err)
	}
	var ne net.Error
	if errors.As(res.Err, &ne) && ne.Timeout() {
		t.Error("a refused address must not look like a timeout")
	}
}

func liveURL(t *testing.T, r *receiver) *url.URL {
	t.Helper()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
