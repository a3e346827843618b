package netguard

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// tcpListener is a raw TCP listener on ip that counts and closes the
// connections it accepts, standing in for a Kafka broker or a database.
type tcpListener struct {
	ln       net.Listener
	accepted atomic.Int64
}

func listenTCP(t *testing.T, addr string) *tcpListener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	l := &tcpListener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return l
}

func (l *tcpListener) assertNoConnection(t *testing.T) {
	t.Helper()
	assertNoConnection(t, l.ln.Addr().String(), &l.accepted)
}

func (l *tcpListener) port() string { return strconv.Itoa(l.ln.Addr().(*net.TCPAddr).Port) }

func TestDialContext(t *testing.T) {
	t.Parallel()
	l := listenTCP(t, "127.0.0.1:0")
	p := l.port()
	deny := New(Config{Resolver: fakeResolver{"broker.test": addrs("127.0.0.1")}})
	allow := New(Config{AllowNetworks: loopbackNets, Resolver: fakeResolver{"broker.test": addrs("127.0.0.1")}})

	tests := []struct {
		g       *Guard
		network string
		addr    string
		want    string
	}{
		{deny, "tcp", "127.0.0.1:" + p, "forbidden: destination 127.0.0.1 is a loopback address"},
		{deny, "tcp4", "127.0.0.1:" + p, "forbidden: loopback"},
		{deny, "tcp", "localhost:" + p, "forbidden: destination localhost"},
		{deny, "tcp", "broker.test:" + p, "forbidden: destination broker.test (127.0.0.1) is a loopback address"},
		{deny, "tcp", "[::ffff:127.0.0.1]:" + p, "forbidden: loopback"},
		{deny, "tcp", "2130706433:" + p, "forbidden: non-standard spelling"},
		{deny, "tcp", "127.1:" + p, "forbidden: non-standard spelling"},
		{deny, "tcp", ":" + p, "forbidden: has no host"},
		{deny, "udp", "127.0.0.1:53", "forbidden: loopback"},
		{deny, "unix", "/var/run/docker.sock", "invalid: not supported"},
		{deny, "ip4:icmp", "127.0.0.1", "invalid: not supported"},
		{deny, "tcp", "127.0.0.1", "invalid: missing port"},
		{deny, "tcp", "nx.test:" + p, "invalid: no such host"},
		{allow, "tcp", "127.0.0.1:" + p, ""},
		{allow, "tcp", "localhost:" + p, ""},
		{allow, "tcp4", "localhost:" + p, ""},
		{allow, "tcp", "broker.test:" + p, ""},
		{allow, "tcp", "[::ffff:127.0.0.1]:" + p, ""},
		{allow, "tcp6", "localhost:" + p, "invalid: refused"}, // ::1 allowed, but nobody listens
		{allow, "tcp", "2130706433:" + p, "forbidden: non-standard spelling"},
	}
	for i, tt := range tests {
		if i > 0 && tt.g == allow && tests[i-1].g == deny {
			// All refusals done: prove none of them connected.
			l.assertNoConnection(t)
		}
		c, err := tt.g.DialContext(t.Context(), tt.network, tt.addr)
		if err == nil {
			c.Close()
		}
		t.Run(tt.network+" "+tt.addr, func(t *testing.T) { checkWant(t, err, tt.want) })
	}
}

func TestDialSkipsDeniedAnswers(t *testing.T) {
	t.Parallel()
	if !canBind127002(t) {
		t.Skip("127.0.0.2 cannot be bound here")
	}
	// The same port on 127.0.0.1 and 127.0.0.2; the name resolves to both,
	// only 127.0.0.2 is allowed, so the dial must go there.
	var denied, allowed *tcpListener
	for range 20 {
		allowed = listenTCP(t, "127.0.0.2:0")
		ln, err := net.Listen("tcp", "127.0.0.1:"+allowed.port())
		if err == nil {
			ln.Close()
			denied = listenTCP(t, "127.0.0.1:"+allowed.port())
			break
		}
	}
	if denied == nil {
		t.Skip("no port free on both 127.0.0.1 and 127.0.0.2")
	}
	g := New(Config{
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
		Resolver:      fakeResolver{"mixed.test": addrs("127.0.0.1", "::1", "127.0.0.2")},
	})
	c, err := g.DialContext(t.Context(), "tcp", "mixed.test:"+allowed.port())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if got := c.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.2" {
		t.Errorf("connected to %s, want 127.0.0.2", got)
	}
	denied.assertNoConnection(t)
}

// TestControlHook checks the last line of defence on its own: a dial that
// bypasses DialContext's checks is still refused by the socket hook.
func TestControlHook(t *testing.T) {
	t.Parallel()
	g := New(Config{})
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", false},
		{"[::ffff:127.0.0.1]:80", false},
		{"[fe80::1%eth0]:80", false},
		{"169.254.169.254:80", false},
		{"garbage", false},
		{"8.8.8.8:53", true},
		{"[2606:4700:4700::1111]:443", true},
	} {
		if err := g.control("tcp4", tt.addr, nil); (err == nil) != tt.ok {
			t.Errorf("control(%s) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}

	l := listenTCP(t, "127.0.0.1:0")
	_, err := g.dialer.DialContext(t.Context(), "tcp", "127.0.0.1:"+l.port())
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("raw dial through the hooked dialer: got %v, want ErrForbidden", err)
	}
	if err != nil && !strings.Contains(err.Error(), "loopback") {
		t.Errorf("hook error does not explain itself: %v", err)
	}
}
