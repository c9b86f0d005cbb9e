package webhook

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	blocked := []string{
		// IPv4
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
		"127.0.0.1", "127.8.9.10", "169.254.169.254", "169.254.1.1", "172.16.0.1", "172.31.255.255",
		"192.0.0.1", "192.0.0.192", "192.0.2.10", "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255",
		"198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
		// IPv6
		"::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:100.64.0.1",
		"::127.0.0.1", "::a9fe:a9fe", "::ffff:0:a00:1", "64:ff9b::a00:1", "64:ff9b::7f00:1",
		"64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "100::1", "2001::1", "2001:db8::1", "2002:a00:1::1",
		"3fff::1", "5f00::1", "fc00::1", "fd00:ec2::254", "fd12:3456::1", "fe80::1", "fe80::1%eth0",
		"fec0::1", "ff02::1", "4000::1", "e000::1",
	}
	public := []string{
		"8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
		"169.253.255.255", "192.169.0.1", "11.0.0.1", "223.255.255.255",
		"2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808",
	}
	for _, s := range blocked {
		a := netip.MustParseAddr(s)
		if err := (Policy{}).CheckAddr(a); !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("%s: got %v, want blocked", s, err)
		}
	}
	for _, s := range public {
		if err := (Policy{}).CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if err := (Policy{}).CheckAddr(netip.Addr{}); err == nil {
		t.Error("zero Addr allowed")
	}
}

func TestCheckAddrAllowLoopback(t *testing.T) {
	dev := Policy{AllowLoopback: true}
	for _, s := range []string{"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"} {
		if err := dev.CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s with AllowLoopback: %v", s, err)
		}
	}
	// Only loopback is relaxed; the NAT64 and IPv4-compatible forms of
	// loopback do not reach this host.
	for _, s := range []string{"10.0.0.1", "169.254.169.254", "::", "0.0.0.0", "64:ff9b::7f00:1", "::127.0.0.1", "fe80::1"} {
		if err := dev.CheckAddr(netip.MustParseAddr(s)); !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("%s with AllowLoopback: got %v, want blocked", s, err)
		}
	}
}

func TestCheckAddrSaysWhy(t *testing.T) {
	err := (Policy{}).CheckAddr(netip.MustParseAddr("169.254.169.254"))
	if err == nil || err.Error() != "webhook target address 169.254.169.254 is not public: cloud metadata" {
		t.Errorf("got %v", err)
	}
}
