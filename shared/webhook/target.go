package webhook

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ValidateTarget checks a webhook URL when it is created (E45) or edited:
// its shape (checkURL) and every address its host resolves to now. nil
// resolver means net.DefaultResolver. Errors wrap ErrInvalidTarget or
// ErrBlockedAddress and their text can be shown to the admin.
//
// This is advice at creation time only: DNS can change afterwards, so the
// client from NewClient checks again at connect time.
func ValidateTarget(ctx context.Context, rawURL string, p Policy, r Resolver) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return invalid("cannot be parsed")
	}
	host, err := p.checkURL(u)
	if err != nil {
		return err
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // checked by checkURL
	}
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return invalid("host " + host + " does not resolve")
	}
	// Every address must be public: the dialler may pick any of them.
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			return err
		}
	}
	return nil
}

// checkURL checks everything about u that needs no DNS: https (http only
// to a loopback host when p allows loopback), no user:password@, a valid
// port, and checkHost. It returns the host name, lower case, without a
// trailing dot.
func (p Policy) checkURL(u *url.URL) (string, error) {
	if u.Opaque != "" || u.Host == "" {
		return "", invalid("has no host")
	}
	if u.User != nil {
		return "", invalid("must not contain credentials")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowLoopback || !isLoopbackHost(host) {
			return "", invalid("must use https")
		}
	default:
		return "", invalid("must use https")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", invalid("has an invalid port")
		}
	}
	return host, p.checkHost(host)
}

// Names that never denote a public host. Single-label names are refused
// too: resolvers complete them with search domains into internal names.
var (
	blockedNames    = []string{"localhost", "metadata", "metadata.google.internal", "instance-data"}
	blockedSuffixes = []string{".localhost", ".local", ".internal", ".home.arpa"}
)

// checkHost checks a host (lower case, no trailing dot) without DNS: an IP
// literal must be public, a name must look like a public DNS name.
func (p Policy) checkHost(host string) error {
	if host == "" {
		return invalid("has no host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(a)
	}
	if host == "localhost" && p.AllowLoopback {
		return nil // resolves to loopback, which the dialler admits
	}
	for _, c := range host {
		if c >= 0x80 {
			return invalid("host must be written in ASCII (xn-- form)")
		}
	}
	for _, n := range blockedNames {
		if host == n {
			return &targetError{ErrBlockedAddress, "webhook URL: host " + host + " is not public"}
		}
	}
	for _, s := range blockedSuffixes {
		if strings.HasSuffix(host, s) {
			return &targetError{ErrBlockedAddress, "webhook URL: host " + host + " is not public"}
		}
	}
	dot := strings.LastIndexByte(host, '.')
	if dot < 0 {
		return invalid("host " + host + " is not a fully qualified name")
	}
	// "127.1", "2130706433" or "0x7f.1" are addresses to some resolvers
	// (inet_aton), never names: no top-level domain is numeric.
	if numeric(host[dot+1:]) {
		return invalid("host " + host + " is not a valid name or address")
	}
	return nil
}

func numeric(label string) bool {
	digits, hex := label, false
	if strings.HasPrefix(label, "0x") {
		digits, hex = label[2:], true
	}
	for _, c := range digits {
		if !('0' <= c && c <= '9' || hex && 'a' <= c && c <= 'f') {
			return false
		}
	}
	return digits != "" || hex
}

// isLoopbackHost reports whether host is "localhost" or a loopback literal.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
