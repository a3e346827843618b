package netguard

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Defaults used for the zero value of the corresponding Config fields.
const (
	DefaultMaxRedirects     = 5
	DefaultTimeout          = 30 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultMaxResponseBytes = 32 << 20 // 32 MiB
)

// defaultSchemes are the URL schemes allowed when Config.AllowedSchemes is
// empty, and the only ones that may be listed.
var defaultSchemes = []string{"http", "https"}

// Config configures a [Guard]. The zero value is usable: every zero field
// takes its default, and nothing but public addresses is reachable.
type Config struct {
	// AllowNetworks opens address ranges that are denied by default, such as
	// a private network of the operator's own services, or loopback in tests.
	// An address inside one of these prefixes is allowed whatever its class.
	// IPv4-mapped IPv6 prefixes (::ffff:a.b.c.d/n, n >= 96) are treated as
	// the IPv4 prefix they map. It comes from TRIBUTARY_ALLOW_NETWORKS; see
	// [ParseNetworks].
	AllowNetworks []netip.Prefix

	// AllowedSchemes are the URL schemes a request may use, lower case; only
	// "http" and "https" are valid. Empty means both.
	AllowedSchemes []string

	// MaxRedirects is how many redirects a request follows before failing
	// with [ErrTooManyRedirects]. Zero means [DefaultMaxRedirects]; a
	// negative value follows none: the 3xx response itself is returned.
	MaxRedirects int

	// Timeout bounds a whole HTTP request: connecting, every redirect, and
	// reading the response body. Zero means [DefaultTimeout].
	Timeout time.Duration

	// DialTimeout bounds resolving a host name and connecting to it, for
	// HTTP requests and for [Guard.DialContext]. Zero means
	// [DefaultDialTimeout].
	DialTimeout time.Duration

	// MaxResponseBytes is the largest response body, after gzip decoding,
	// that an HTTP request may read; beyond it reads fail with
	// [ErrResponseTooLarge]. Zero means [DefaultMaxResponseBytes].
	MaxResponseBytes int64

	// TLSConfig is the client TLS configuration of HTTP requests (for
	// example extra root CAs). Nil means Go's defaults. It is cloned.
	TLSConfig *tls.Config

	// Resolver looks up host names. Nil means [net.DefaultResolver]. Tests
	// set it to simulate DNS answers such as rebinding.
	Resolver Resolver
}

// Resolver looks up the IP addresses of a host name; network is "ip",
// "ip4" or "ip6". [*net.Resolver] implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// withDefaults returns a copy of c with every zero field set to its default
// and the allow list normalised. It is the only place defaults are applied.
func (c Config) withDefaults() Config {
	c.AllowNetworks = normalizePrefixes(c.AllowNetworks)
	if len(c.AllowedSchemes) == 0 {
		c.AllowedSchemes = defaultSchemes
	}
	c.AllowedSchemes = slices.Clone(c.AllowedSchemes)
	c.MaxRedirects = cmp.Or(c.MaxRedirects, DefaultMaxRedirects)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.DialTimeout = cmp.Or(c.DialTimeout, DefaultDialTimeout)
	c.MaxResponseBytes = cmp.Or(c.MaxResponseBytes, DefaultMaxResponseBytes)
	if c.TLSConfig != nil {
		c.TLSConfig = c.TLSConfig.Clone()
	}
	return c
}

// Validate reports every invalid setting at once, each naming the field.
// Zero values are valid (they mean the defaults).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, p := range c.AllowNetworks {
		if !p.IsValid() {
			bad("netguard: AllowNetworks: %v is not a valid network", p)
		}
	}
	for _, s := range c.AllowedSchemes {
		if !slices.Contains(defaultSchemes, s) {
			bad("netguard: AllowedSchemes: %q is not http or https", s)
		}
	}
	if c.Timeout < 0 {
		bad("netguard: Timeout must not be negative")
	}
	if c.DialTimeout < 0 {
		bad("netguard: DialTimeout must not be negative")
	}
	if c.MaxResponseBytes < 0 {
		bad("netguard: MaxResponseBytes must not be negative")
	}
	return errors.Join(errs...)
}

// ParseNetworks parses a comma-separated list of networks in CIDR notation,
// as TRIBUTARY_ALLOW_NETWORKS holds it, e.g. "10.1.0.0/16, 127.0.0.1/32".
// Blanks around entries and empty entries are ignored; a bare address means
// that single address (/32 or /128); host bits are cleared (10.1.2.3/8 is
// 10.0.0.0/8). The error names the first entry that does not parse.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			a, aerr := netip.ParseAddr(entry)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("netguard: allowed network %q is not a CIDR like 10.0.0.0/8 or an IP address", entry)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return normalizePrefixes(out), nil
}

// normalizePrefixes masks each prefix and turns IPv4-mapped IPv6 prefixes
// into the IPv4 prefixes they map, because addresses are unmapped before
// they are compared.
func normalizePrefixes(ps []netip.Prefix) []netip.Prefix {
	if len(ps) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			out = append(out, p) // Validate reports it; it matches nothing.
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}
