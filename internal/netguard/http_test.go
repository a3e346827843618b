package netguard

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts accepted connections, to prove that a refused
// request never connected.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// testServer is an HTTP server on a loopback address that counts the
// connections it accepts.
type testServer struct {
	*httptest.Server
	ln *countingListener
}

// startServer starts h on ip (e.g. "127.0.0.1") with a random port.
func startServer(t *testing.T, ip string, h http.Handler) *testServer {
	t.Helper()
	return startServerOpts(t, ip, h, false)
}

func startServerOpts(t *testing.T, ip string, h http.Handler, useTLS bool) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	cl := &countingListener{Listener: ln}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = cl
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, ln: cl}
}

// port is the server's port as a string.
func (s *testServer) port() string {
	return strconv.Itoa(s.Listener.Addr().(*net.TCPAddr).Port)
}

// assertNoConnection proves that nothing connected to s before now: it
// makes one fresh connection of its own and checks that it was the first
// one accepted. Accept is FIFO, so an earlier connection, even one still
// waiting in the backlog, would have been counted before the probe's.
func (s *testServer) assertNoConnection(t *testing.T) {
	t.Helper()
	assertNoConnection(t, s.Listener.Addr().String(), &s.ln.accepted)
}

// assertNoConnection proves that the listener at addr, whose accepted
// connections accepted counts, accepted none before now (see above).
func assertNoConnection(t *testing.T, addr string, accepted *atomic.Int64) {
	t.Helper()
	before := accepted.Load()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for accepted.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%s accepted %d connections including the probe, want only the probe", addr, n)
	}
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	})
}

// loopbackNets allows the loopback test servers.
var loopbackNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func get(t *testing.T, g *Guard, rawURL string) (string, *http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatalf("new request %s: %v", rawURL, err)
	}
	resp, err := g.Do(req)
	if err != nil {
		return "", resp, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), resp, err
}

func TestHTTPRefusesLoopbackWithoutConnecting(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1", okHandler())
	p := srv.port()
	g := New(Config{})

	urls := []string{
		srv.URL + "/",
		"http://localhost:" + p + "/",
		"http://LocalHost.:" + p + "/",
		"http://2130706433:" + p + "/",
		"http://0177.0.0.1:" + p + "/",
		"http://0x7f.1:" + p + "/",
		"http://0x7f000001:" + p + "/",
		"http://127.1:" + p + "/",
		"http://127.0.0.1.:" + p + "/",
		"http://[::ffff:127.0.0.1]:" + p + "/",
		"http://[::ffff:7f00:1]:" + p + "/",
		"http://[::127.0.0.1]:" + p + "/",
		"http://[64:ff9b::127.0.0.1]:" + p + "/",
		"http://0.0.0.0:" + p + "/", // connects to the local host on Linux
		"http://[::]:" + p + "/",
	}
	for _, u := range urls {
		_, _, err := get(t, g, u)
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("GET %s: got %v, want ErrForbidden", u, err)
		}
		// The plain client refuses too.
		resp, err := g.Client().Get(u)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("Client().Get %s: got %v, want ErrForbidden", u, err)
		}
	}
	_, _, err := get(t, g, srv.URL+"/")
	const want = "is a loopback address; allow it with TRIBUTARY_ALLOW_NETWORKS"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not explain itself (%q)", err, want)
	}
	srv.assertNoConnection(t)
}

func TestHTTPAllowList(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1", okHandler())
	p := srv.port()
	g := New(Config{AllowNetworks: loopbackNets})

	for _, u := range []string{
		srv.URL + "/",
		"http://localhost:" + p + "/", // ::1 has no server; 127.0.0.1 does
		"http://[::ffff:127.0.0.1]:" + p + "/",
	} {
		body, resp, err := get(t, g, u)
		if err != nil || resp.StatusCode != http.StatusOK || body != "ok" {
			t.Errorf("GET %s with loopback allowed: %v %v %q", u, resp, err, body)
		}
	}
	// An allow list does not make ambiguous spellings acceptable.
	for _, u := range []string{"http://2130706433:" + p + "/", "http://127.1:" + p + "/"} {
		if _, _, err := get(t, g, u); !errors.Is(err, ErrForbidden) {
			t.Errorf("GET %s: got %v, want ErrForbidden", u, err)
		}
	}
	// Only the allowed range is open: 127.0.0.1/32 does not open ::1.
	g = New(Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if _, _, err := get(t, g, "http://[::1]:"+p+"/"); !errors.Is(err, ErrForbidden) {
		t.Errorf("GET [::1]: got %v, want ErrForbidden", err)
	}
}

func TestHTTPLocalhostOverIPv6(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
	srv := startServer(t, "::1", okHandler())
	if _, _, err := get(t, New(Config{}), srv.URL+"/"); !errors.Is(err, ErrForbidden) {
		t.Errorf("GET %s: got %v, want ErrForbidden", srv.URL, err)
	}
	srv.assertNoConnection(t)
	body, _, err := get(t, New(Config{AllowNetworks: loopbackNets}), srv.URL+"/")
	if err != nil || body != "ok" {
		t.Errorf("GET %s with ::1 allowed: %v %q", srv.URL, err, body)
	}
}

func TestHTTPRefusesSchemes(t *testing.T) {
	t.Parallel()
	g := New(Config{AllowNetworks: loopbackNets})
	for _, u := range []string{"file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/_GET", "ws://127.0.0.1/"} {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.Do(req)
		if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "is not allowed; use http or https") {
			t.Errorf("GET %s: got %v, want a forbidden scheme", u, err)
		}
	}
}

// canBind127002 reports whether 127.0.0.2 can be listened on (Linux routes
// all of 127/8 to lo; other systems may not).
func canBind127002(t *testing.T) bool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// redirector redirects to the URL in its "to" query parameter, or answers
// "ok" without one.
func redirector() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		fmt.Fprint(w, "ok")
	})
}

func TestRedirectToDeniedAddressRefused(t *testing.T) {
	t.Parallel()
	if !canBind127002(t) {
		t.Skip("127.0.0.2 cannot be bound here")
	}
	// Only 127.0.0.2 is allowed; the redirect targets on 127.0.0.1 (and
	// elsewhere) must be refused although the first hop was fine.
	first := startServer(t, "127.0.0.2", redirector())
	target := startServer(t, "127.0.0.1", okHandler())
	p := target.port()
	g := New(Config{
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
		Resolver:      fakeResolver{"internal.test": addrs("127.0.0.1")},
	})

	// The first hop alone, and a redirect to itself, are allowed.
	body, _, err := get(t, g, first.URL+"/?to="+url.QueryEscape(first.URL+"/"))
	if err != nil || body != "ok" {
		t.Fatalf("allowed redirect: %v %q", err, body)
	}

	for _, to := range []string{
		target.URL + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::ffff:127.0.0.1]:" + p + "/",
		"http://[::ffff:169.254.169.254]/",
		"http://localhost:" + p + "/",
		"http://2130706433:" + p + "/",
		"http://internal.test:" + p + "/", // a name: refused when dialled
		"file:///etc/passwd",
		"gopher://127.0.0.2:" + first.port() + "/",
		// Two allowed hops, then the denied one.
		first.URL + "/?to=" + url.QueryEscape(first.URL+"/?to="+url.QueryEscape(target.URL+"/")),
	} {
		_, _, err := get(t, g, first.URL+"/?to="+url.QueryEscape(to))
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("redirect to %s: got %v, want ErrForbidden", to, err)
		}
	}
	target.assertNoConnection(t)
}

func TestRedirectLimit(t *testing.T) {
	t.Parallel()
	// /n redirects to /n-1; /0 answers "ok".
	srv := startServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if n > 0 {
			http.Redirect(w, r, "/"+strconv.Itoa(n-1), http.StatusFound)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	tests := []struct {
		maxRedirects int
		hops         int
		wantErr      bool
		wantStatus   int
	}{
		{0, DefaultMaxRedirects, false, http.StatusOK},
		{0, DefaultMaxRedirects + 1, true, 0},
		{3, 3, false, http.StatusOK},
		{3, 4, true, 0},
		{1, 2, true, 0},
		{-1, 1, false, http.StatusFound}, // not followed
		{-1, 0, false, http.StatusOK},
	}
	for _, tt := range tests {
		g := New(Config{AllowNetworks: loopbackNets, MaxRedirects: tt.maxRedirects})
		_, resp, err := get(t, g, srv.URL+"/"+strconv.Itoa(tt.hops))
		if tt.wantErr {
			if !errors.Is(err, ErrTooManyRedirects) {
				t.Errorf("max %d, %d hops: got %v, want ErrTooManyRedirects", tt.maxRedirects, tt.hops, err)
			}
			continue
		}
		if err != nil || resp.StatusCode != tt.wantStatus {
			t.Errorf("max %d, %d hops: got %v, %v; want status %d", tt.maxRedirects, tt.hops, resp, err, tt.wantStatus)
		}
	}
}

func TestRedirectHTTPSToHTTPRefused(t *testing.T) {
	t.Parallel()
	plain := startServer(t, "127.0.0.1", okHandler())
	secure := startServerOpts(t, "127.0.0.1", redirector(), true)
	tlsConf := secure.Client().Transport.(*http.Transport).TLSClientConfig
	g := New(Config{AllowNetworks: loopbackNets, TLSConfig: &tls.Config{RootCAs: tlsConf.RootCAs}})

	body, _, err := get(t, g, secure.URL+"/?to="+url.QueryEscape(secure.URL+"/"))
	if err != nil || body != "ok" {
		t.Fatalf("https to https: %v %q", err, body)
	}
	_, _, err = get(t, g, secure.URL+"/?to="+url.QueryEscape(plain.URL+"/"))
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "redirect from https to http is not allowed") {
		t.Errorf("https to http: got %v, want a forbidden downgrade", err)
	}
	plain.assertNoConnection(t)
}

func TestResponseTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 1000
	srv := startServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		data := bytes.Repeat([]byte("x"), n)
		switch r.URL.Path {
		case "/length": // with Content-Length
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(data)
		case "/chunked": // no length: the reader must count
			half := n / 2
			w.Write(data[:half])
			w.(http.Flusher).Flush()
			w.Write(data[half:])
		case "/gzip": // small on the wire, large once decoded
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(data)
			zw.Close()
		}
	}))
	g := New(Config{AllowNetworks: loopbackNets, MaxResponseBytes: limit})

	for _, path := range []string{"/length", "/chunked", "/gzip"} {
		for _, tt := range []struct {
			n       int
			wantErr bool
		}{{0, false}, {limit - 1, false}, {limit, false}, {limit + 1, true}, {100 * limit, true}} {
			body, _, err := get(t, g, fmt.Sprintf("%s%s?n=%d", srv.URL, path, tt.n))
			switch {
			case tt.wantErr && !errors.Is(err, ErrResponseTooLarge):
				t.Errorf("%s n=%d: got %v, want ErrResponseTooLarge", path, tt.n, err)
			case tt.wantErr && len(body) > limit:
				t.Errorf("%s n=%d: read %d bytes past the limit", path, tt.n, len(body))
			case !tt.wantErr && (err != nil || len(body) != tt.n):
				t.Errorf("%s n=%d: got %v, %d bytes", path, tt.n, err, len(body))
			}
		}
	}

	// A declared length over the limit fails at the first read.
	_, resp, err := get(t, g, fmt.Sprintf("%s/length?n=%d", srv.URL, limit+1))
	if err == nil || resp == nil {
		t.Fatalf("got %v, %v", resp, err)
	}
	if !strings.Contains(err.Error(), "exceeds the limit of 1000 bytes") {
		t.Errorf("error %q does not name the limit", err)
	}

	// HEAD has no body to limit.
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("%s/length?n=%d", srv.URL, 10*limit), nil)
	resp, err = g.Do(req)
	if err != nil {
		t.Fatalf("HEAD: %v", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("HEAD body: %v", err)
	}
	resp.Body.Close()
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := startServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	g := New(Config{AllowNetworks: loopbackNets, Timeout: 200 * time.Millisecond})

	for _, path := range []string{"/hang", "/slow-body"} {
		start := time.Now()
		_, _, err := get(t, g, srv.URL+path)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: got %v, want a timeout", path, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v", path, d)
		}
	}
}

func TestDNSRebindingCaughtAtDial(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1", okHandler())
	g := New(Config{Resolver: &rebindResolver{}})
	u := "http://rebind.test:" + srv.port() + "/"
	if err := g.CheckURLResolve(t.Context(), u); err != nil {
		t.Fatalf("save-time check: %v (the first answer is public)", err)
	}
	_, _, err := get(t, g, u)
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "rebind.test (127.0.0.1) is a loopback address") {
		t.Errorf("fetch after rebinding: got %v, want ErrForbidden", err)
	}
	srv.assertNoConnection(t)
}

// TestProxyEnvironmentIgnored is not parallel: it sets the environment.
func TestProxyEnvironmentIgnored(t *testing.T) {
	proxy := startServer(t, "127.0.0.1", okHandler())
	target := startServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "direct")
	}))
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	g := New(Config{
		AllowNetworks: loopbackNets,
		// A name, not a loopback literal: Go never proxies loopback literals.
		Resolver: fakeResolver{"api.test": addrs("127.0.0.1")},
	})
	body, _, err := get(t, g, "http://api.test:"+target.port()+"/")
	if err != nil || body != "direct" {
		t.Fatalf("got %v %q, want a direct answer", err, body)
	}
	if n := proxy.ln.accepted.Load(); n != 0 {
		t.Errorf("the proxy got %d connections", n)
	}
}

func TestErrorsRedactCredentials(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := startServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	secretURL := func(base string) string {
		u, _ := url.Parse(base)
		u.User = url.UserPassword("alice", "hunter2")
		u.Path = "/x"
		u.RawQuery = "api_key=s3cr3t&page=2"
		return u.String()
	}
	// Refused at dial, and timed out: both errors quote the URL.
	for _, g := range []*Guard{
		New(Config{}),
		New(Config{AllowNetworks: loopbackNets, Timeout: 50 * time.Millisecond}),
	} {
		_, _, err := get(t, g, secretURL(srv.URL))
		if err == nil {
			t.Fatal("no error")
		}
		msg := err.Error()
		for _, secret := range []string{"alice", "hunter2", "s3cr3t"} {
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks %q: %s", secret, msg)
			}
		}
		if !strings.Contains(msg, "/x?api_key=REDACTED&page=REDACTED") {
			t.Errorf("error lost the useful part of the URL: %s", msg)
		}
	}
}
