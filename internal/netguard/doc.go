// Package netguard makes outbound connections to destinations that users
// supply — source and GraphQL URLs, HTTP sinks, S3 endpoints, Kafka brokers,
// PostgreSQL sinks — without letting a user turn Tributary against the
// network it runs in (server-side request forgery, SSRF).
//
// # What it guarantees
//
// A [Guard] never opens a connection to a denied IP address. The check is
// made on the address actually connected to, at connect time:
// [Guard.DialContext] resolves the host name itself, checks every address
// of the answer, and dials only the addresses that passed, by IP, so a DNS
// answer that changes between a check and the connection (DNS rebinding)
// cannot get through; the socket's Control hook checks once more just
// before connect(2). Everything else — the URL checks, the redirect checks —
// exists to fail early with a clearer message, not to provide the
// guarantee.
//
// Denied by default, IPv4 and IPv6:
//
//   - loopback (127.0.0.0/8, ::1), unspecified (0.0.0.0/8, ::)
//   - private networks: RFC 1918 (10/8, 172.16/12, 192.168/16), IPv6 unique
//     local fc00::/7 and deprecated site-local fec0::/10
//   - link-local (169.254.0.0/16, including the cloud metadata address
//     169.254.169.254, and fe80::/10)
//   - carrier-grade NAT 100.64.0.0/10
//   - multicast (224/4, ff00::/8), broadcast and reserved (240/4)
//   - special-purpose ranges: IETF protocol assignments 192.0.0.0/24,
//     documentation, benchmarking, the 6to4 relay anycast, Teredo, local-use
//     NAT64, discard-only, and any IPv6 address outside global unicast
//     2000::/3
//   - IPv6 forms that embed an IPv4 address: IPv4-mapped ::ffff:a.b.c.d is
//     checked as a.b.c.d; IPv4-compatible ::a.b.c.d is always refused;
//     NAT64 64:ff9b::/96 and 6to4 2002::/16 are refused when the embedded
//     IPv4 address is denied (and allowed otherwise, since IPv6-only
//     networks reach the IPv4 internet through them).
//
// An operator opens ranges with [Config.AllowNetworks]
// (TRIBUTARY_ALLOW_NETWORKS, parsed by [ParseNetworks]); the allow list wins
// over every denial. Tests allow 127.0.0.0/8 to reach their loopback
// servers. Production's default is closed.
//
// When a name resolves to several addresses, denied ones are skipped and
// the connection goes to an allowed one; only if none is allowed is the
// destination refused.
//
// Host names that some resolvers read as IPv4 addresses but Go's parser does
// not — decimal http://2130706433/, octal 0177.0.0.1, hexadecimal 0x7f.1,
// shortened 127.1, dotted with a trailing dot 127.0.0.1. — are refused
// outright, whatever address they denote, even when it is allowed. Names under "localhost" resolve to loopback without DNS.
//
// # HTTP
//
// [Guard.Client] and [Guard.Do] send HTTP requests through the guarded
// dialer, and add:
//
//   - only http and https URLs (file:, gopher:, ftp:, ... are refused);
//   - redirects re-checked hop by hop (scheme, literal address, and the
//     dial-time check of the new host), at most Config.MaxRedirects of them,
//     never from https to http;
//   - a whole-request timeout (Config.Timeout) that includes reading the
//     body, and a body limit (Config.MaxResponseBytes, counted after gzip
//     decoding so a compressed bomb is caught) enforced by the body reader
//     with [ErrResponseTooLarge];
//   - no proxy: HTTP_PROXY, HTTPS_PROXY and NO_PROXY are ignored, because a
//     proxy would connect on our behalf to an address the guard never sees.
//     A deployment that must egress through a proxy needs the proxy itself
//     to enforce the same policy.
//
// # Errors
//
// Every refusal wraps [ErrForbidden] and reads as one sentence a user can act
// on, e.g. "destination localhost (127.0.0.1) is a loopback address; allow
// it with TRIBUTARY_ALLOW_NETWORKS"; a run error can show it as it is.
// Errors of [Guard.Do] and [Guard.CheckURL] never contain credentials from
// the URL: use [RedactURL] to log a URL.
//
// # Use
//
// The application builds one Guard from configuration and hands it to every
// source and sink:
//
//	nets, err := netguard.ParseNetworks(os.Getenv("TRIBUTARY_ALLOW_NETWORKS"))
//	if err != nil {
//		return err
//	}
//	guard := netguard.New(netguard.Config{AllowNetworks: nets})
//
//	// When a pipeline is saved:
//	if err := guard.CheckURL(spec.URL); err != nil { ... }
//
//	// When it runs:
//	resp, err := guard.Do(req) // or guard.Client() for libraries that take one
//
//	// For other protocols, the dialer:
//	kgo.Dialer(guard.DialContext)             // franz-go
//	pgxConfig.DialFunc = guard.DialContext     // pgx
package netguard
