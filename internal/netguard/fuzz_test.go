package netguard

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckURL feeds arbitrary URLs to the save-time check with the
// default configuration: it never panics, never accepts a URL whose host
// is an IP literal outside the public internet, and its errors never hold
// the URL's password.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.com/x", "http://127.0.0.1/", "http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/",
		"http://127.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://169.254.169.254/latest",
		"http://localhost./", "http://user:hunter2secret@10.0.0.1/", "file:///etc/passwd", "gopher://127.0.0.1:6379/_",
		"unix:///var/run/docker.sock", "http://[fe80::1%25eth0]/", "http://0/", "https://ex%41mple.com/", "http://1.1.1.1.nip.io/"} {
		f.Add(s)
	}
	g := New(Config{})
	f.Fuzz(func(t *testing.T, raw string) {
		err := g.CheckURL(raw)
		u, perr := url.Parse(raw)
		if perr != nil {
			return
		}
		if err != nil {
			if pw, ok := u.User.Password(); ok && len(pw) >= 8 && strings.Count(raw, pw) == 1 && strings.Contains(err.Error(), pw) {
				t.Fatalf("the error %q holds the password", err)
			}
			return
		}
		if a, aerr := netip.ParseAddr(u.Hostname()); aerr == nil {
			a = a.Unmap()
			if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
				t.Fatalf("accepted %q, whose host %s is not public", raw, a)
			}
		}
	})
}
