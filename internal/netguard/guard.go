package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Guard makes outbound connections to user-supplied destinations, refusing
// denied addresses at connect time. A Guard is immutable and safe for
// concurrent use; create one per process with [New] and share it, so that
// HTTP connections are pooled.
type Guard struct {
	cfg       Config
	resolver  Resolver
	dialer    *net.Dialer
	transport *guardTransport
	client    *http.Client
}

// New returns a Guard for cfg, with defaults filled in. It panics if
// cfg.Validate fails: validate configuration from operators first.
func New(cfg Config) *Guard {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	g := &Guard{cfg: cfg, resolver: cfg.Resolver}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	g.dialer = &net.Dialer{Control: g.control}
	g.transport = &guardTransport{g: g, base: &http.Transport{
		// No proxy, whatever HTTP_PROXY, HTTPS_PROXY and NO_PROXY say: a
		// proxy would make the connection for us, to an address we never
		// see, so the dial-time check would check the proxy instead.
		Proxy:             nil,
		DialContext:       g.DialContext,
		TLSClientConfig:   cfg.TLSConfig,
		ForceAttemptHTTP2: true,
		// Many pipelines often poll one API (a vendor's, or an internal
		// service): with a few idle connections per host, most of their
		// polls dialled anew (9% of a node's CPU polling 10,000 pipelines
		// of one host). Connections stay checked: they were checked when
		// dialled, and an idle one is closed after IdleConnTimeout.
		MaxIdleConns:           512,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}}
	g.client = g.Client()
	return g
}

// Client returns an HTTP client whose every connection, including those of
// redirects, goes through the guard: [Guard.DialContext] checks each
// address, redirects are re-checked and counted, https never redirects to
// http, the request is bounded by Config.Timeout and response bodies by
// Config.MaxResponseBytes. Proxy environment variables are ignored. Each call
// returns a new *http.Client sharing one connection pool; changing its
// Transport or CheckRedirect removes the protection.
//
// Errors of this client quote the request URL (with the password masked but
// the user name and query kept); prefer [Guard.Do], which redacts them, when
// an error may reach a log or a user.
func (g *Guard) Client() *http.Client {
	return &http.Client{
		Transport:     g.transport,
		CheckRedirect: g.checkRedirect,
		Timeout:       g.cfg.Timeout,
	}
}

// Do sends req with the guarded client (see [Guard.Client]). The URL in a
// returned error is passed through [RedactURL], so credentials in the URL's
// user info or query never appear in it.
func (g *Guard) Do(req *http.Request) (*http.Response, error) {
	resp, err := g.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = RedactURL(ue.URL)
		}
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the shared pool; call
// it when the application stops.
func (g *Guard) CloseIdleConnections() { g.transport.base.CloseIdleConnections() }

// CheckURL checks a URL when it is saved, so a user hears at once about a
// destination that would be refused when fetched: the scheme must be
// allowed, the host present and, if it is an IP address, allowed. A host
// name is not resolved here (see [Guard.CheckURLResolve]), except that
// "localhost" and names under it are known to be loopback; it is checked
// when a connection is made, which is the check that counts. Refusals wrap
// [ErrForbidden]; errors never contain the URL.
func (g *Guard) CheckURL(rawURL string) error {
	u, err := parseURL(rawURL)
	if err != nil {
		return err
	}
	return g.checkURL(u)
}

// CheckURLResolve is [Guard.CheckURL] that also resolves a host name and
// refuses it if none of its addresses is allowed. It is advisory: DNS may
// answer differently when the URL is fetched, which the dial-time check
// covers. A failed lookup is returned as is (not wrapping [ErrForbidden]);
// a caller may accept a URL whose name does not resolve yet.
func (g *Guard) CheckURLResolve(ctx context.Context, rawURL string) error {
	u, err := parseURL(rawURL)
	if err != nil {
		return err
	}
	if err := g.checkURL(u); err != nil {
		return err
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // checked by checkURL
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.DialTimeout)
	defer cancel()
	addrs, err := g.resolve(ctx, "ip", host)
	if err != nil {
		return err
	}
	_, err = g.allowedAddrs(host, addrs)
	return err
}

// parseURL parses rawURL without letting the URL into the error: url.Parse
// quotes the whole input, password included.
func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("netguard: invalid URL: %w", err)
	}
	return u, nil
}

// checkURL checks the scheme and, if it is an IP literal, the host of u.
func (g *Guard) checkURL(u *url.URL) error {
	if !slices.Contains(g.cfg.AllowedSchemes, u.Scheme) {
		want := strings.Join(g.cfg.AllowedSchemes, " or ")
		if u.Scheme == "" {
			return forbidden("URL has no scheme; use " + want)
		}
		return forbidden(fmt.Sprintf("scheme %q is not allowed; use %s", u.Scheme, want))
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("netguard: URL has no host")
	}
	if err := checkHostSpelling(host); err != nil {
		return err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return g.checkAddr("", a)
	}
	if isLocalhost(host) {
		// Known without DNS (see resolve), so refuse it now.
		_, err := g.allowedAddrs(host, localhostAddrs("ip"))
		return err
	}
	return nil
}

// checkRedirect is the client's CheckRedirect: it counts hops and refuses a
// downgrade from https; the target's scheme and literal address are checked
// here for a clear error, and its resolved address when it is dialled.
func (g *Guard) checkRedirect(req *http.Request, via []*http.Request) error {
	if g.cfg.MaxRedirects < 0 {
		return http.ErrUseLastResponse
	}
	if len(via) > g.cfg.MaxRedirects {
		return fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, g.cfg.MaxRedirects)
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return forbidden("redirect from https to http is not allowed")
	}
	return g.checkURL(req.URL)
}

// guardTransport checks every request's URL (the first and each redirect)
// before the base transport dials, and limits response bodies.
type guardTransport struct {
	g    *Guard
	base *http.Transport
}

// RoundTrip implements http.RoundTripper.
func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.g.checkURL(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if req.Method != http.MethodHead {
		limit := t.g.cfg.MaxResponseBytes
		lb := &limitedBody{rc: resp.Body, remaining: limit, limit: limit}
		if resp.ContentLength > limit {
			lb.err = tooLarge(limit) // fail before reading what we would discard
		}
		resp.Body = lb
	}
	return resp, nil
}

// limitedBody fails with ErrResponseTooLarge once more than limit bytes
// have been read, without passing on the excess.
type limitedBody struct {
	rc        io.ReadCloser
	remaining int64
	limit     int64
	err       error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	// Read one byte beyond the limit to tell "exactly limit" from "more".
	if b.remaining < math.MaxInt64 && int64(len(p)) > b.remaining+1 {
		p = p[:b.remaining+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.remaining {
		n = int(b.remaining)
		b.remaining = 0
		b.err = tooLarge(b.limit)
		return n, b.err
	}
	b.remaining -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

func tooLarge(limit int64) error {
	return fmt.Errorf("%w: it exceeds the limit of %d bytes", ErrResponseTooLarge, limit)
}

// RedactURL returns rawURL fit for logs and error messages: without user
// info and fragment, and with every query value replaced by "REDACTED"
// (parameter names are kept, a parameter without "=" is replaced whole). The path is kept, so a secret must not be put
// in a path. An unparseable URL yields a placeholder.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	if u.Opaque != "" {
		u.Opaque = "REDACTED"
	}
	if u.RawQuery != "" {
		params := strings.Split(u.RawQuery, "&")
		for i, p := range params {
			if name, _, ok := strings.Cut(p, "="); ok {
				params[i] = name + "=REDACTED"
			} else {
				params[i] = "REDACTED" // a bare token may be a key
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	u.ForceQuery = false
	return u.String()
}
