package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ipNetworks maps the networks DialContext accepts to the address family
// to resolve for them.
var ipNetworks = map[string]string{
	"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6",
	"udp": "ip", "udp4": "ip4", "udp6": "ip6",
}

// DialContext connects to address ("host:port") on network (tcp, tcp4,
// tcp6, udp, udp4 or udp6), like [net.Dialer.DialContext], but only to an
// allowed IP address. It has the signature that franz-go's kgo.Dialer and
// pgx's DialFunc expect, so non-HTTP clients (Kafka brokers, PostgreSQL
// sinks) can connect through the guard too; it returns a plain connection,
// so TLS, if any, is layered on top by the caller.
//
// It resolves the host itself (within Config.DialTimeout), checks every
// resolved address, and connects only to addresses that passed — the very
// addresses it checked, so a DNS answer that changes between a check and the
// connection (DNS rebinding) cannot slip through. Denied addresses among the
// answers are skipped; if none is allowed, the error wraps [ErrForbidden]
// and names the first denied one. Allowed addresses are tried one after
// another, in the resolver's order, each with a share of the time left. As a
// second line of defence the socket's Control hook checks the address again
// just before connect(2). Other networks (unix sockets, raw IP) are refused.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	family, ok := ipNetworks[network]
	if !ok {
		return nil, fmt.Errorf("netguard: network %q is not supported; use tcp or udp", network)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("netguard: dial %q: %w", address, err)
	}
	if host == "" {
		// net.Dial would connect to the local system.
		return nil, forbidden(fmt.Sprintf("destination %q has no host", address))
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.DialTimeout)
	defer cancel()

	addrs, err := g.resolve(ctx, family, host)
	if err != nil {
		return nil, err
	}
	allowed, err := g.allowedAddrs(host, addrs)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for i, a := range allowed {
		conn, err := g.dialAttempt(ctx, network, net.JoinHostPort(a.String(), port), len(allowed)-i)
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// dialAttempt dials one address, giving it a fair share of the time left
// when remaining addresses are still to be tried (as net.Dialer does), so
// one unreachable address cannot use up the whole dial timeout.
func (g *Guard) dialAttempt(ctx context.Context, network, address string, remaining int) (net.Conn, error) {
	if deadline, ok := ctx.Deadline(); ok && remaining > 1 {
		share := max(time.Until(deadline)/time.Duration(remaining), minAttemptTimeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, share)
		defer cancel()
	}
	return g.dialer.DialContext(ctx, network, address)
}

// minAttemptTimeout is the least time one address of several gets.
const minAttemptTimeout = 2 * time.Second

// resolve returns the addresses of host for family ("ip", "ip4", "ip6"),
// unmapped and without duplicates. A literal IP is returned as is; names
// under "localhost" resolve to loopback without asking DNS (RFC 6761).
func (g *Guard) resolve(ctx context.Context, family, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if err := checkHostSpelling(host); err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if isLocalhost(host) {
		addrs = localhostAddrs(family)
	} else {
		var err error
		addrs, err = g.resolver.LookupNetIP(ctx, family, host)
		if err != nil {
			return nil, err
		}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a = a.Unmap(); !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// allowedAddrs returns the addresses of host that pass the check, or, if
// none does, the refusal of the first.
func (g *Guard) allowedAddrs(host string, addrs []netip.Addr) ([]netip.Addr, error) {
	allowed := make([]netip.Addr, 0, len(addrs))
	var denied error
	for _, a := range addrs {
		if err := g.checkAddr(host, a); err != nil {
			if denied == nil {
				denied = err
			}
			continue
		}
		allowed = append(allowed, a)
	}
	if len(allowed) == 0 {
		if denied == nil {
			denied = &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return nil, denied
	}
	return allowed, nil
}

// localhostAddrs are the addresses "localhost" has for family.
func localhostAddrs(family string) []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1})} {
		if family == "ip" || (family == "ip4") == a.Is4() {
			out = append(out, a)
		}
	}
	return out
}

// isLocalhost reports whether host is "localhost" or a name under it.
func isLocalhost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// control is the net.Dialer Control hook: it checks the address a socket is
// about to connect to, whatever path led there.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return forbidden(fmt.Sprintf("destination %q is not an IP address and port", address))
	}
	return g.CheckAddr(ap.Addr())
}
