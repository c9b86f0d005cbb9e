package web

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr says how to find the client's address behind the front end
// (DECISIONS §3 "Client address"). The first X-Forwarded-For entry is
// written by the client and proves nothing; each trusted proxy appends the
// address it received the request from, so the client is the entry Hops
// places from the right.
//
// Firebase Hosting → Cloud Run appends two entries (Hosting's CDN writes the
// client, Google's front end writes the CDN's egress address): Hops = 2, the
// production default. Hops = 0 uses the direct peer (local default). Header,
// when set, names a header a trusted front end fills with the client address
// (e.g. Fastly-Client-IP); it wins when present and valid.
type ClientAddr struct {
	Hops   int
	Header string
}

type clientIPKey struct{}

// Resolve returns the client address of r as a canonical IP string, or
// "unknown" when nothing usable is found.
func (c ClientAddr) Resolve(r *http.Request) string {
	if c.Header != "" {
		if ip, ok := parseIP(r.Header.Get(c.Header)); ok {
			return ip
		}
	}
	if c.Hops > 0 {
		var entries []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			for _, e := range strings.Split(v, ",") {
				entries = append(entries, strings.TrimSpace(e))
			}
		}
		// Fewer entries than trusted hops: the request did not come
		// through every proxy (a direct call to the service); the
		// nearest entry is then what the platform's own front end saw.
		i := len(entries) - c.Hops
		if i < 0 {
			i = 0
		}
		if i < len(entries) {
			if ip, ok := parseIP(entries[i]); ok {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, ok := parseIP(host); ok {
		return ip
	}
	return "unknown"
}

func parseIP(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return "", false
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return "", false
	}
	return a.Unmap().String(), true
}

// ClientIP is the client address the middleware resolved for r (rate limits,
// failed-attempt limits and logs key on it).
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	return ClientAddr{}.Resolve(r)
}

// WithClientIP returns ctx carrying the resolved client address.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}
