package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckAddrClasses(t *testing.T) {
	t.Parallel()
	g := New(Config{})

	tests := []struct {
		addr string
		want string // substring of the refusal; "" means allowed
	}{
		// IPv4, denied.
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"10.0.0.1", "private (RFC 1918)"},
		{"10.255.255.255", "private (RFC 1918)"},
		{"100.64.0.1", "CGNAT"},
		{"100.100.100.200", "CGNAT"}, // Alibaba Cloud metadata
		{"100.127.255.255", "CGNAT"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.0.1", "link-local"},
		{"169.254.169.254", "cloud metadata"},
		{"172.16.0.1", "private (RFC 1918)"},
		{"172.31.255.255", "private (RFC 1918)"},
		{"192.0.0.192", "IETF protocol assignment"}, // Oracle Cloud metadata
		{"192.0.2.1", "documentation"},
		{"192.88.99.1", "6to4 relay"},
		{"192.168.1.1", "private (RFC 1918)"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "broadcast"},
		// IPv4, allowed: public, and the neighbours of denied ranges.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"9.255.255.255", ""},
		{"11.0.0.0", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"126.255.255.255", ""},
		{"128.0.0.0", ""},
		{"169.253.255.255", ""},
		{"169.255.0.0", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"192.167.255.255", ""},
		{"192.169.0.0", ""},
		{"198.20.0.0", ""},
		{"223.255.255.255", ""},
		// IPv6, denied.
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fec0::1", "site-local"},
		{"fc00::1", "unique local"},
		{"fd00::2", "unique local"},
		{"fd00:ec2::254", "unique local"}, // AWS metadata over IPv6
		{"ff02::1", "multicast"},
		{"ff05::1:3", "multicast"},
		{"100::1", "discard-only"},
		{"2001::1", "Teredo"},
		{"2001:2::1", "benchmarking"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"4000::1", "non-global"},
		{"1::1", "non-global"},
		{"64:ff9b:1::a00:1", "local-use NAT64"},
		// IPv4-mapped: checked as the IPv4 address.
		{"::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback address"},
		{"::ffff:7f00:1", "IPv4-mapped form of 127.0.0.1, a loopback address"},
		{"::ffff:169.254.169.254", "cloud metadata"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:0.0.0.0", "unspecified"},
		// IPv4-compatible: always denied, naming the embedded class.
		{"::127.0.0.1", "IPv4-compatible address embedding 127.0.0.1, a loopback address"},
		{"::169.254.169.254", "IPv4-compatible address embedding 169.254.169.254"},
		{"::8.8.8.8", "IPv4-compatible address"},
		// NAT64 and 6to4: denied when the embedded IPv4 address is.
		{"64:ff9b::127.0.0.1", "NAT64 address embedding 127.0.0.1, a loopback address"},
		{"64:ff9b::a9fe:a9fe", "NAT64 address embedding 169.254.169.254, the cloud metadata"},
		{"64:ff9b::10.1.2.3", "NAT64 address embedding 10.1.2.3, a private"},
		{"2002:7f00:1::1", "6to4 address embedding 127.0.0.1, a loopback"},
		{"2002:a9fe:a9fe::", "6to4 address embedding 169.254.169.254"},
		{"2002:c0a8:101::1", "6to4 address embedding 192.168.1.1"},
		// IPv6, allowed.
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::8.8.8.8", ""},
		{"2002:808:808::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			err := g.CheckAddr(netip.MustParseAddr(tt.addr))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckAddr(%s) = %v, want allowed", tt.addr, err)
				}
				return
			}
			if !errors.Is(err, ErrForbidden) {
				t.Fatalf("CheckAddr(%s) = %v, want ErrForbidden", tt.addr, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasSuffix(err.Error(), allowHint) {
				t.Errorf("CheckAddr(%s) = %q, want it to mention %q and end with %q", tt.addr, err, tt.want, allowHint)
			}
		})
	}
}

func TestCheckAddrMessage(t *testing.T) {
	t.Parallel()
	g := New(Config{})
	err := g.CheckAddr(netip.MustParseAddr("127.0.0.1"))
	const want = "destination 127.0.0.1 is a loopback address; allow it with TRIBUTARY_ALLOW_NETWORKS"
	if err == nil || err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	err = g.checkAddr("localhost", netip.MustParseAddr("127.0.0.1"))
	const wantHost = "destination localhost (127.0.0.1) is a loopback address; allow it with TRIBUTARY_ALLOW_NETWORKS"
	if err == nil || err.Error() != wantHost {
		t.Errorf("got %q, want %q", err, wantHost)
	}
	if err := g.CheckAddr(netip.Addr{}); !errors.Is(err, ErrForbidden) {
		t.Errorf("zero Addr: got %v, want ErrForbidden", err)
	}
}

func TestAllowListOverridesDeny(t *testing.T) {
	t.Parallel()
	nets, err := ParseNetworks("127.0.0.0/8, ::ffff:10.0.0.0/104, fd00::/8, 169.254.169.254")
	if err != nil {
		t.Fatal(err)
	}
	g := New(Config{AllowNetworks: nets})
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.2", true},
		{"::ffff:127.0.0.1", true},
		{"10.1.2.3", true}, // from the IPv4-mapped prefix
		{"::ffff:10.1.2.3", true},
		{"fd00::2", true},
		{"169.254.169.254", true},
		{"169.254.169.253", false},
		{"::1", false},             // IPv4 loopback allowed, IPv6 not
		{"64:ff9b::7f00:1", false}, // NAT64 is not unmapped
		{"::127.0.0.1", false},     // nor IPv4-compatible
		{"192.168.0.1", false},
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		err := g.CheckAddr(netip.MustParseAddr(tt.addr))
		if got := err == nil; got != tt.allowed {
			t.Errorf("CheckAddr(%s) = %v, want allowed=%v", tt.addr, err, tt.allowed)
		}
	}
}

func TestParseLooseIPv4(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "" means not an inet_aton address
	}{
		{"2130706433", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"0X7F.0.0.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0xA9FEA9FE", "169.254.169.254"},
		{"2852039166", "169.254.169.254"},
		{"0251.0376.0251.0376", "169.254.169.254"},
		{"0", "0.0.0.0"},
		{"10.1", "10.0.0.1"},
		{"256.1.1.1", ""},
		{"1.2.3.4.5", ""},
		{"08.1.1.1", ""},
		{"4294967296", ""},
		{"1..2", ""},
		{"0x", ""},
		{"127.0.0.1.", ""}, // checkHostSpelling trims the dot first
	}
	for _, tt := range tests {
		a, ok := parseLooseIPv4(tt.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("parseLooseIPv4(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckHostSpelling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want string // substring of the refusal; "" means accepted
	}{
		{"example.com", ""},
		{"example.com.", ""},
		{"1password.com", ""},
		{"a.1b", ""},
		{"127.0.0.1", ""},
		{"::ffff:127.0.0.1", ""},
		{"fe80::1%eth0", ""},
		{"2130706433", "non-standard spelling of the IP address 127.0.0.1"},
		{"0177.0.0.1", "non-standard spelling of the IP address 127.0.0.1"},
		{"0x7f.1", "non-standard spelling of the IP address 127.0.0.1"},
		{"127.1", "non-standard spelling of the IP address 127.0.0.1"},
		{"127.0.0.1.", "non-standard spelling of the IP address 127.0.0.1"},
		{"0xa9fea9fe", "169.254.169.254"},
		{"0", "0.0.0.0"},
		{"08.8.8.8", "not a valid one"},
		{"1.2.3.4.5", "not a valid one"},
		{"99999999999", "not a valid one"},
		{"example.123", "not a valid one"},
	}
	for _, tt := range tests {
		err := checkHostSpelling(tt.host)
		if tt.want == "" {
			if err != nil {
				t.Errorf("checkHostSpelling(%q) = %v, want nil", tt.host, err)
			}
			continue
		}
		if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkHostSpelling(%q) = %v, want ErrForbidden mentioning %q", tt.host, err, tt.want)
		}
	}
}
