package webhook

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Per-attempt timeouts (api.md §1.13): a delivery, and the E47 test send.
const (
	Timeout     = 5 * time.Second
	TestTimeout = 10 * time.Second
)

// NewClient returns the client for deliveries under p; create it once per
// instance and share it (it pools connections). Each request is bounded by
// timeout (Timeout, or TestTimeout for E47).
//
// The client is the SSRF guard: it refuses URLs checkURL rejects, resolves
// names itself and refuses a host if any of its addresses is blocked, and
// its dialler's Control hook re-checks the address actually being
// connected, so DNS rebinding between validation and delivery fails. It
// uses no proxy from the environment (a proxy would make the connection we
// vet) and follows no redirect (a 3xx is returned as a failed delivery).
func NewClient(p Policy, timeout time.Duration) *http.Client {
	return newClient(p, timeout, net.DefaultResolver)
}

func newClient(p Policy, timeout time.Duration, r Resolver) *http.Client {
	d := &dialer{
		policy:   p,
		resolver: r,
		inner:    net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.control},
	}
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.dialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    timeout,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: &guardTransport{policy: p, next: t, dialer: d},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// guardTransport refuses requests to URLs the policy rejects before any
// lookup or connection. Deliver only accepts clients built on it.
type guardTransport struct {
	policy Policy
	next   *http.Transport
	dialer *dialer // next's dialler, reachable for inspection in tests
}

func (g *guardTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, err := g.policy.checkURL(r.URL); err != nil {
		if r.Body != nil {
			r.Body.Close() // a RoundTripper owns the body, even on error
		}
		return nil, err
	}
	return g.next.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (g *guardTransport) CloseIdleConnections() { g.next.CloseIdleConnections() }

// dialer resolves and vets the addresses itself, then connects to them one
// by one (the Control hook vets each connect once more).
type dialer struct {
	policy   Policy
	resolver Resolver
	inner    net.Dialer
}

func (d *dialer) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		name := strings.TrimSuffix(strings.ToLower(host), ".")
		if err := d.policy.checkHost(name); err != nil {
			return nil, err
		}
		if addrs, err = d.resolver.LookupNetIP(ctx, "ip", name); err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: name, IsNotFound: true}
		}
	}
	for _, a := range addrs {
		if err := d.policy.CheckAddr(a); err != nil {
			return nil, err
		}
	}
	var first error
	for i, a := range addrs {
		c, err := d.dialOne(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)), len(addrs)-i)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// dialOne connects to one address, leaving time for the remaining ones the
// way net.Dialer does (an equal share of what is left, at least 2 s).
func (d *dialer) dialOne(ctx context.Context, network string, ap netip.AddrPort, remaining int) (net.Conn, error) {
	if deadline, ok := ctx.Deadline(); ok && remaining > 1 {
		left := time.Until(deadline)
		share := max(left/time.Duration(remaining), min(left, 2*time.Second))
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, share)
		defer cancel()
	}
	return d.inner.DialContext(ctx, network, ap.String())
}

// control runs after the socket is created and before it connects: the
// last word on which address is reached.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return &targetError{ErrBlockedAddress, "webhook: refusing " + network + " connection"}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &targetError{ErrBlockedAddress, "webhook: cannot check address " + address}
	}
	return p.CheckAddr(ap.Addr())
}
