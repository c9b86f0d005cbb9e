package webhook

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// fakeResolver answers from a table; unknown names do not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, ip := range ips {
		out = append(out, netip.MustParseAddr(ip))
	}
	return out, nil
}

var dns = fakeResolver{
	"hooks.example.com":        {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
	"hooks.slack.com":          {"52.1.2.3"},
	"rebind.example.com":       {"10.0.0.5"},
	"mixed.example.com":        {"93.184.216.34", "192.168.0.10"},
	"metadata.example.com":     {"169.254.169.254"},
	"cgnat.example.com":        {"100.64.1.1"},
	"v6loop.example.com":       {"::1"},
	"mapped.example.com":       {"::ffff:127.0.0.1"},
	"empty.example.com":        {},
	"localhost":                {"127.0.0.1", "::1"},
	"trailing-dot.example.com": {"93.184.216.34"},
	// A search domain completes a single label to whatever it likes.
	"intranet": {"93.184.216.40"},
	// What an inet_aton-style resolver makes of numeric names.
	"127.1":      {"127.0.0.1"},
	"2130706433": {"127.0.0.1"},
	"0x7f.0.0.1": {"127.0.0.1"},
}

func TestValidateTarget(t *testing.T) {
	ctx := context.Background()
	dev := Policy{AllowLoopback: true}
	for _, c := range []struct {
		url    string
		policy Policy
		want   error // nil, ErrInvalidTarget or ErrBlockedAddress
	}{
		{"https://hooks.example.com/owlette", Policy{}, nil},
		{"https://hooks.example.com:8443/x?y=1", Policy{}, nil},
		{"https://HOOKS.Example.COM./x", Policy{}, nil},
		{"https://hooks.slack.com/services/T/B/x", Policy{}, nil},
		{"https://93.184.216.34/x", Policy{}, nil},
		{"https://[2606:4700:4700::1111]/x", Policy{}, nil},

		{"http://hooks.example.com/x", Policy{}, ErrInvalidTarget},
		{"http://hooks.example.com/x", dev, ErrInvalidTarget}, // http only to loopback
		{"ftp://hooks.example.com/x", Policy{}, ErrInvalidTarget},
		{"hooks.example.com/x", Policy{}, ErrInvalidTarget},
		{"https:hooks.example.com", Policy{}, ErrInvalidTarget},
		{"https:///x", Policy{}, ErrInvalidTarget},
		{"https://user:pw@hooks.example.com/x", Policy{}, ErrInvalidTarget},
		{"https://hooks.example.com:0/x", Policy{}, ErrInvalidTarget},
		{"https://hooks.example.com:99999/x", Policy{}, ErrInvalidTarget},
		{"https://nowhere.example.com/x", Policy{}, ErrInvalidTarget},
		{"https://empty.example.com/x", Policy{}, ErrInvalidTarget},
		{"https://intranet/x", Policy{}, ErrInvalidTarget},
		{"https://127.1/x", Policy{}, ErrInvalidTarget},
		{"https://2130706433/x", Policy{}, ErrInvalidTarget},
		{"https://0x7f.0.0.1/x", Policy{}, ErrInvalidTarget},
		{"https://hooks.exämple.com/x", Policy{}, ErrInvalidTarget},
		{"%%", Policy{}, ErrInvalidTarget},

		{"https://localhost/x", Policy{}, ErrBlockedAddress},
		{"https://LOCALHOST./x", Policy{}, ErrBlockedAddress},
		{"https://app.localhost/x", Policy{}, ErrBlockedAddress},
		{"https://app.localhost/x", dev, ErrBlockedAddress},
		{"https://metadata/computeMetadata/v1/", Policy{}, ErrBlockedAddress},
		{"https://metadata.google.internal/computeMetadata/v1/", Policy{}, ErrBlockedAddress},
		{"https://printer.local/x", Policy{}, ErrBlockedAddress},
		{"https://nas.home.arpa/x", Policy{}, ErrBlockedAddress},
		{"https://127.0.0.1/x", Policy{}, ErrBlockedAddress},
		{"https://10.1.2.3/x", Policy{}, ErrBlockedAddress},
		{"https://169.254.169.254/latest/meta-data/", Policy{}, ErrBlockedAddress},
		{"https://[::1]/x", Policy{}, ErrBlockedAddress},
		{"https://[::ffff:127.0.0.1]/x", Policy{}, ErrBlockedAddress},
		{"https://[::ffff:a9fe:a9fe]/x", Policy{}, ErrBlockedAddress},
		{"https://[fd00:ec2::254]/x", Policy{}, ErrBlockedAddress},
		{"https://[fe80::1%25eth0]/x", Policy{}, ErrBlockedAddress},
		{"https://rebind.example.com/x", Policy{}, ErrBlockedAddress},
		{"https://mixed.example.com/x", Policy{}, ErrBlockedAddress}, // any blocked address fails
		{"https://metadata.example.com/x", Policy{}, ErrBlockedAddress},
		{"https://cgnat.example.com/x", Policy{}, ErrBlockedAddress},
		{"https://v6loop.example.com/x", Policy{}, ErrBlockedAddress},
		{"https://mapped.example.com/x", Policy{}, ErrBlockedAddress},

		// Local development.
		{"http://localhost:8080/hook", dev, nil},
		{"https://localhost/hook", dev, nil},
		{"http://127.0.0.1:9000/hook", dev, nil},
		{"http://[::1]:9000/hook", dev, nil},
		{"https://v6loop.example.com/x", dev, nil},
		{"https://10.1.2.3/x", dev, ErrBlockedAddress},
	} {
		err := ValidateTarget(ctx, c.url, c.policy, dns)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s (%+v): %v", c.url, c.policy, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s (%+v): got %v, want %v", c.url, c.policy, err, c.want)
		case err != nil && !strings.HasPrefix(err.Error(), "webhook"):
			t.Errorf("%s: message %q", c.url, err)
		}
	}
}

func TestNumericHost(t *testing.T) {
	for label, want := range map[string]bool{"1": true, "0x7f": true, "0x": true, "com": false, "": false, "1a": false, "0xg": false} {
		if got := numeric(label); got != want {
			t.Errorf("numeric(%q) = %v", label, got)
		}
	}
}
