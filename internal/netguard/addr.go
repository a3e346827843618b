package netguard

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// allowHint ends every refusal of an address, so an operator knows the one
// switch that opens it.
const allowHint = "; allow it with TRIBUTARY_ALLOW_NETWORKS"

// deniedRange is an address range refused by default, with the noun phrase
// that names its class in an error ("a loopback address").
type deniedRange struct {
	prefix netip.Prefix
	class  string
}

// deniedRanges are matched in order against an unmapped address; the first
// match names the class. IPv6 addresses that embed an IPv4 address, and IPv6
// addresses outside global unicast 2000::/3, are handled in classify.
var deniedRanges = func() []deniedRange {
	table := []struct{ cidr, class string }{
		// IPv4 (RFC 6890 special-purpose registry, and multicast/reserved).
		{"0.0.0.0/8", "an unspecified (\"this network\") address"},
		{"10.0.0.0/8", "a private (RFC 1918) address"},
		{"100.64.0.0/10", "a shared carrier-grade NAT (CGNAT) address"},
		{"127.0.0.0/8", "a loopback address"},
		{"169.254.169.254/32", "the cloud metadata address (link-local)"},
		{"169.254.0.0/16", "a link-local address"},
		{"172.16.0.0/12", "a private (RFC 1918) address"},
		{"192.0.0.0/24", "an IETF protocol assignment address"},
		{"192.0.2.0/24", "a documentation (TEST-NET-1) address"},
		{"192.88.99.0/24", "a 6to4 relay anycast address"},
		{"192.168.0.0/16", "a private (RFC 1918) address"},
		{"198.18.0.0/15", "a benchmarking address"},
		{"198.51.100.0/24", "a documentation (TEST-NET-2) address"},
		{"203.0.113.0/24", "a documentation (TEST-NET-3) address"},
		{"224.0.0.0/4", "a multicast address"},
		{"255.255.255.255/32", "the broadcast address"},
		{"240.0.0.0/4", "a reserved address"},
		// IPv6.
		{"::/128", "an unspecified address"},
		{"::1/128", "a loopback address"},
		{"64:ff9b:1::/48", "a local-use NAT64 address"},
		{"100::/64", "a discard-only address"},
		{"2001::/32", "a Teredo tunnelling address"},
		{"2001:2::/48", "a benchmarking address"},
		{"2001:db8::/32", "a documentation address"},
		{"3fff::/20", "a documentation address"},
		{"fc00::/7", "a unique local address"},
		{"fe80::/10", "a link-local address"},
		{"fec0::/10", "a site-local address"},
		{"ff00::/8", "a multicast address"},
	}
	out := make([]deniedRange, len(table))
	for i, r := range table {
		out[i] = deniedRange{netip.MustParsePrefix(r.cidr), r.class}
	}
	return out
}()

var (
	ipv4Compatible = netip.MustParsePrefix("::/96")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// classify says whether a (unmapped, zone-less) address is denied by default
// and names its class.
func classify(a netip.Addr) (class string, denied bool) {
	for _, r := range deniedRanges {
		if r.prefix.Contains(a) {
			return r.class, true
		}
	}
	if a.Is4() {
		return "", false
	}
	b := a.As16()
	switch {
	case ipv4Compatible.Contains(a):
		// Deprecated (RFC 4291); no legitimate destination uses it, and
		// some stacks route it to the embedded IPv4 address.
		return embeddedClass("an IPv4-compatible address", netip.AddrFrom4([4]byte(b[12:16])), true)
	case nat64.Contains(a):
		return embeddedClass("a NAT64 address", netip.AddrFrom4([4]byte(b[12:16])), false)
	case sixToFour.Contains(a):
		return embeddedClass("a 6to4 address", netip.AddrFrom4([4]byte(b[2:6])), false)
	case !globalUnicast6.Contains(a):
		return "a non-global IPv6 address", true
	}
	return "", false
}

// embeddedClass classifies an IPv6 address that embeds v4: denied when v4
// is, or always when deny is set.
func embeddedClass(kind string, v4 netip.Addr, deny bool) (string, bool) {
	if class, denied := classify(v4); denied {
		return fmt.Sprintf("%s embedding %s, %s", kind, v4, class), true
	}
	return kind, deny
}

// CheckAddr returns nil if a connection to addr is allowed: addr is in the
// allow list or in no denied class. Otherwise it returns an error wrapping
// [ErrForbidden] that names the class. IPv4-mapped IPv6 addresses are
// checked as the IPv4 address they map; an IPv6 zone is ignored.
func (g *Guard) CheckAddr(addr netip.Addr) error {
	return g.checkAddr("", addr)
}

// checkAddr is CheckAddr naming host (the name that resolved to addr, or "")
// in the error.
func (g *Guard) checkAddr(host string, addr netip.Addr) error {
	if !addr.IsValid() {
		return forbidden("destination has no valid IP address")
	}
	addr = addr.WithZone("")
	plain := addr.Unmap()
	for _, p := range g.cfg.AllowNetworks {
		if p.Contains(plain) {
			return nil
		}
	}
	class, denied := classify(plain)
	if !denied {
		return nil
	}
	if addr.Is4In6() {
		class = fmt.Sprintf("an IPv4-mapped form of %s, %s", plain, class)
	}
	dest := addr.String()
	if host != "" && host != dest {
		dest = fmt.Sprintf("%s (%s)", host, addr)
	}
	return forbidden(fmt.Sprintf("destination %s is %s%s", dest, class, allowHint))
}

// checkHostSpelling refuses a host that is not a plain IP literal but that
// some resolvers read as an IPv4 address: decimal (2130706433), octal
// (0177.0.0.1), hexadecimal (0x7f.1), shortened (127.1) or with a trailing
// dot. Resolvers disagree on these (C's inet_aton accepts them, Go's parser
// does not), so whatever they mean they are refused rather than guessed at.
// A host whose last label is numeric is never a valid DNS name anyway.
func checkHostSpelling(host string) error {
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	h := strings.TrimSuffix(host, ".")
	last := h[strings.LastIndexByte(h, '.')+1:]
	if !isNumericLabel(last) {
		return nil
	}
	if a, ok := parseLooseIPv4(h); ok {
		return forbidden(fmt.Sprintf("host %q is a non-standard spelling of the IP address %s; write it as %s", host, a, a))
	}
	return forbidden(fmt.Sprintf("host %q looks like an IP address but is not a valid one", host))
}

// isNumericLabel reports whether s is a decimal, octal or 0x-hexadecimal
// number, as an inet_aton part.
func isNumericLabel(s string) bool {
	if len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X") {
		return strings.Trim(s[2:], "0123456789abcdefABCDEF") == ""
	}
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// parseLooseIPv4 parses s the way inet_aton does: one to four parts, each
// decimal, octal (leading 0) or hexadecimal (leading 0x); the last part
// fills the remaining bytes.
func parseLooseIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(parts)
	var ip uint64
	for i := range n - 1 {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		ip = ip<<8 | vals[i]
	}
	restBits := 8 * (5 - n)
	if vals[n-1] >= 1<<restBits {
		return netip.Addr{}, false
	}
	ip = ip<<restBits | vals[n-1]
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}
