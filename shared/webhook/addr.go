package webhook

import (
	"errors"
	"net/netip"
)

// Policy says which targets may be reached. The zero value is production:
// public addresses only.
type Policy struct {
	// AllowLoopback admits loopback addresses (and plain http to a loopback
	// host) for local development and tests. Never set it in production.
	AllowLoopback bool
}

var (
	// ErrInvalidTarget: the URL is not an acceptable target (scheme,
	// credentials, host name, unresolvable). The message says why.
	ErrInvalidTarget = errors.New("webhook: invalid target")
	// ErrBlockedAddress: the host is, or resolves to, a non-public address.
	ErrBlockedAddress = errors.New("webhook: blocked address")
)

// targetError carries a message fit to show the admin who entered the URL,
// and the sentinel it belongs to.
type targetError struct {
	kind error
	msg  string
}

func (e *targetError) Error() string { return e.msg }
func (e *targetError) Unwrap() error { return e.kind }

func invalid(msg string) error { return &targetError{ErrInvalidTarget, "webhook URL: " + msg} }

type blockedRange struct {
	prefix netip.Prefix
	why    string
}

func ranges(rs ...string) []blockedRange {
	out := make([]blockedRange, 0, len(rs)/2)
	for i := 0; i < len(rs); i += 2 {
		out = append(out, blockedRange{netip.MustParsePrefix(rs[i]), rs[i+1]})
	}
	return out
}

// Non-public IPv4 ranges (IANA special-purpose registry, those not globally
// reachable or with no business receiving webhooks). Order matters only for
// the reason given: the narrower entry comes first.
var blocked4 = ranges(
	"0.0.0.0/8", `"this network" (includes unspecified)`,
	"10.0.0.0/8", "private (RFC 1918)",
	"100.64.0.0/10", "shared address space (CGNAT)",
	"127.0.0.0/8", "loopback",
	"169.254.169.254/32", "cloud metadata",
	"169.254.0.0/16", "link-local",
	"172.16.0.0/12", "private (RFC 1918)",
	"192.0.0.0/24", "IETF protocol assignments",
	"192.0.2.0/24", "documentation",
	"192.88.99.0/24", "6to4 relay anycast",
	"192.168.0.0/16", "private (RFC 1918)",
	"198.18.0.0/15", "benchmarking",
	"198.51.100.0/24", "documentation",
	"203.0.113.0/24", "documentation",
	"224.0.0.0/4", "multicast",
	"255.255.255.255/32", "broadcast",
	"240.0.0.0/4", "reserved",
)

// Non-public IPv6 ranges inside or outside 2000::/3. Anything outside
// 2000::/3 (global unicast) that is not listed is refused as well, except
// ::1 (loopback, by policy), IPv4-mapped addresses (judged as IPv4) and
// the NAT64 prefix (judged by the IPv4 address it embeds).
var blocked6 = ranges(
	"::/128", "unspecified",
	"::/96", "IPv4-compatible (deprecated)",
	"::ffff:0:0:0/96", "IPv4-translated",
	"64:ff9b:1::/48", "local-use NAT64",
	"100::/64", "discard-only",
	"2001::/23", "IETF protocol assignments (incl. Teredo)",
	"2001:db8::/32", "documentation",
	"2002::/16", "6to4",
	"3fff::/20", "documentation",
	"5f00::/16", "SRv6 SIDs",
	"fd00:ec2::254/128", "cloud metadata",
	"fc00::/7", "unique local (RFC 4193)",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local (deprecated)",
	"ff00::/8", "multicast",
)

var (
	loopback6     = netip.MustParseAddr("::1")
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	globalUnicast = netip.MustParsePrefix("2000::/3")
)

// CheckAddr returns nil if a may receive webhooks under p, else an error
// wrapping ErrBlockedAddress that names the range.
func (p Policy) CheckAddr(a netip.Addr) error {
	if why := p.blockedWhy(a); why != "" {
		return &targetError{ErrBlockedAddress, "webhook target address " + a.String() + " is not public: " + why}
	}
	return nil
}

func (p Policy) blockedWhy(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid address"
	}
	a = a.WithZone("").Unmap() // ::ffff:10.0.0.1 is 10.0.0.1
	if a.Is4() {
		if a.IsLoopback() && p.AllowLoopback {
			return ""
		}
		return lookup(blocked4, a)
	}
	switch {
	case a == loopback6:
		if p.AllowLoopback {
			return ""
		}
		return "loopback"
	case nat64.Contains(a):
		// A NAT64 gateway forwards to the embedded IPv4 address; never
		// treat that as loopback, whatever the policy.
		b := a.As16()
		if why := (Policy{}).blockedWhy(netip.AddrFrom4([4]byte(b[12:]))); why != "" {
			return "NAT64 of " + why
		}
		return ""
	}
	if why := lookup(blocked6, a); why != "" {
		return why
	}
	if !globalUnicast.Contains(a) {
		return "not global unicast"
	}
	return ""
}

func lookup(rs []blockedRange, a netip.Addr) string {
	for _, r := range rs {
		if r.prefix.Contains(a) {
			return r.why
		}
	}
	return ""
}
