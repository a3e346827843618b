package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	g := New(Config{})

	tests := []struct {
		url  string
		want string // "" allowed; "forbidden: <substring>" or "invalid: <substring>"
	}{
		{"https://api.example.com/v1/items?page=2", ""},
		{"http://api.example.com:8080/", ""},
		{"HTTPS://API.EXAMPLE.COM/", ""},
		{"http://user:pass@api.example.com/", ""},
		{"http://8.8.8.8/", ""},
		{"http://[2606:4700:4700::1111]:8080/", ""},
		{"http://[::ffff:8.8.8.8]/", ""},

		{"file:///etc/passwd", `forbidden: scheme "file" is not allowed; use http or https`},
		{"gopher://example.com:70/_x", `forbidden: scheme "gopher"`},
		{"ftp://example.com/x", `forbidden: scheme "ftp"`},
		{"dict://example.com:11211/stat", `forbidden: scheme "dict"`},
		{"ldap://example.com/", `forbidden: scheme "ldap"`},
		{"ws://example.com/", `forbidden: scheme "ws"`},
		{"javascript:alert(1)", `forbidden: scheme "javascript"`},
		{"data:text/plain,hi", `forbidden: scheme "data"`},
		{"//example.com/x", "forbidden: URL has no scheme"},
		{"example.com/x", "forbidden: URL has no scheme"},

		{"http://127.0.0.1/", "forbidden: loopback"},
		{"http://127.0.0.1:9000/x", "forbidden: loopback"},
		{"http://localhost:8080/", "forbidden: destination localhost"},
		{"http://LOCALHOST./", "forbidden: loopback"},
		{"http://api.localhost/", "forbidden: loopback"},
		{"http://[::1]/", "forbidden: loopback"},
		{"http://[::ffff:127.0.0.1]/", "forbidden: IPv4-mapped form of 127.0.0.1"},
		{"http://[::ffff:7f00:1]/", "forbidden: IPv4-mapped form of 127.0.0.1"},
		{"http://[0:0:0:0:0:ffff:7f00:1]/", "forbidden: IPv4-mapped form of 127.0.0.1"},
		{"http://[::127.0.0.1]/", "forbidden: IPv4-compatible"},
		{"http://[64:ff9b::a9fe:a9fe]/", "forbidden: NAT64 address embedding 169.254.169.254"},
		{"http://169.254.169.254/latest/meta-data/", "forbidden: cloud metadata"},
		{"http://[fe80::1%25eth0]/", "forbidden: link-local"},
		{"http://10.0.0.1/", "forbidden: private"},
		{"http://0.0.0.0:8080/", "forbidden: unspecified"},
		{"http://2130706433/", "forbidden: non-standard spelling of the IP address 127.0.0.1"},
		{"http://0177.0.0.1/", "forbidden: non-standard spelling of the IP address 127.0.0.1"},
		{"http://0x7f.1/", "forbidden: non-standard spelling of the IP address 127.0.0.1"},
		{"http://0x7f000001/", "forbidden: non-standard spelling of the IP address 127.0.0.1"},
		{"http://127.1/", "forbidden: non-standard spelling of the IP address 127.0.0.1"},
		{"http://127.0.0.1./", "forbidden: non-standard spelling of the IP address 127.0.0.1"},
		{"http://0xa9fea9fe/", "forbidden: 169.254.169.254"},
		{"http://0/", "forbidden: 0.0.0.0"},
		{"http://08.8.8.8/", "forbidden: not a valid one"},

		{"http:///path", "invalid: URL has no host"},
		{"http://exa mple.com/", "invalid: invalid URL"},
		{"http://user:hunter2@exa mple.com/", "invalid: invalid URL"},
		{"http://[::1/", "invalid: invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			err := g.CheckURL(tt.url)
			checkWant(t, err, tt.want)
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

// checkWant checks err against a want of the form "" (nil),
// "forbidden: substring" or "invalid: substring".
func checkWant(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	kind, sub, _ := strings.Cut(want, ": ")
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	if isForbidden := errors.Is(err, ErrForbidden); isForbidden != (kind == "forbidden") {
		t.Errorf("got %v (errors.Is ErrForbidden = %v), want %s", err, isForbidden, kind)
	}
	if !strings.Contains(err.Error(), sub) {
		t.Errorf("got %q, want it to contain %q", err, sub)
	}
}

// fakeResolver answers from a map; a missing name does not exist.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	addrs, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		if network == "ip" || (network == "ip4") == a.Unmap().Is4() {
			out = append(out, a)
		}
	}
	return out, nil
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestCheckURLResolve(t *testing.T) {
	t.Parallel()
	g := New(Config{Resolver: fakeResolver{
		"public.test":   addrs("93.184.216.34"),
		"internal.test": addrs("10.0.0.5", "fd00::5"),
		"mixed.test":    addrs("10.0.0.5", "93.184.216.34"),
		"mapped.test":   addrs("::ffff:169.254.169.254"),
		"empty.test":    nil,
	}})
	tests := []struct {
		url  string
		want string
	}{
		{"https://public.test/x", ""},
		{"https://mixed.test/x", ""}, // the dial goes to the public address only
		{"https://internal.test/x", "forbidden: destination internal.test (10.0.0.5) is a private (RFC 1918) address"},
		{"https://mapped.test/x", "forbidden: cloud metadata"},
		{"https://localhost/x", "forbidden: loopback"},
		{"https://8.8.8.8/x", ""},
		{"file:///etc/passwd", "forbidden: scheme"},
		{"https://nx.test/x", "invalid: no such host"},
		{"https://empty.test/x", "invalid: no such host"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			checkWant(t, g.CheckURLResolve(t.Context(), tt.url), tt.want)
		})
	}
}

// rebindResolver answers a public address first and loopback afterwards,
// like a DNS rebinding attacker's name server.
type rebindResolver struct{ calls atomic.Int32 }

func (r *rebindResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return addrs("93.184.216.34"), nil
	}
	return addrs("127.0.0.1"), nil
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://api.example.com/v1/items", "https://api.example.com/v1/items"},
		{"https://alice:hunter2@api.example.com/x", "https://api.example.com/x"},
		{"https://alice:***@api.example.com/x", "https://api.example.com/x"},
		{"https://api.example.com/x?api_key=s3cr3t&page=2#frag", "https://api.example.com/x?api_key=REDACTED&page=REDACTED"},
		{"https://api.example.com/x?s3cr3t", "https://api.example.com/x?REDACTED"},
		{"https://api.example.com/x?", "https://api.example.com/x"},
		{"mailto:alice@example.com", "mailto:REDACTED"},
		{"http://exa mple.com/?key=s3cr3t", "(invalid URL)"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
