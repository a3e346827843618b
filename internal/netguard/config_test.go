package netguard

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseNetworks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{" , ,", nil, ""},
		{"127.0.0.0/8", []string{"127.0.0.0/8"}, ""},
		{" 10.1.0.0/16 ,192.168.1.7, ::1 ", []string{"10.1.0.0/16", "192.168.1.7/32", "::1/128"}, ""},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}, ""},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}, ""},
		{"fd00::/8", []string{"fd00::/8"}, ""},
		{"10.0.0.0/8,localhost", nil, `"localhost"`},
		{"10.0.0.0/33", nil, `"10.0.0.0/33"`},
		{"10.0.0.0/8;192.168.0.0/16", nil, `"10.0.0.0/8;192.168.0.0/16"`},
		{"fe80::1%eth0", nil, `"fe80::1%eth0"`},
	}
	for _, tt := range tests {
		got, err := ParseNetworks(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseNetworks(%q) error = %v, want one naming %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseNetworks(%q): %v", tt.in, err)
			continue
		}
		var gotS []string
		for _, p := range got {
			gotS = append(gotS, p.String())
		}
		if !slices.Equal(gotS, tt.want) {
			t.Errorf("ParseNetworks(%q) = %v, want %v", tt.in, gotS, tt.want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	g := New(Config{})
	c := g.cfg
	if c.MaxRedirects != DefaultMaxRedirects || c.Timeout != DefaultTimeout ||
		c.DialTimeout != DefaultDialTimeout || c.MaxResponseBytes != DefaultMaxResponseBytes ||
		!slices.Equal(c.AllowedSchemes, []string{"http", "https"}) || len(c.AllowNetworks) != 0 {
		t.Errorf("defaults not applied: %+v", c)
	}
	if g.transport.base.Proxy != nil {
		t.Error("transport has a proxy function; proxies bypass the dial-time check")
	}

	g = New(Config{MaxRedirects: -1, Timeout: time.Second, MaxResponseBytes: 10, AllowedSchemes: []string{"https"}})
	if g.cfg.MaxRedirects != -1 || g.cfg.Timeout != time.Second || g.cfg.MaxResponseBytes != 10 {
		t.Errorf("explicit values overridden: %+v", g.cfg)
	}
	if err := g.CheckURL("http://example.com/"); err == nil || !strings.Contains(err.Error(), `use https`) {
		t.Errorf("https-only guard accepted http: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	bad := Config{
		AllowNetworks:    []netip.Prefix{{}},
		AllowedSchemes:   []string{"http", "file"},
		Timeout:          -1,
		DialTimeout:      -1,
		MaxResponseBytes: -1,
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid Config validated")
	}
	for _, want := range []string{"AllowNetworks", `"file"`, "Timeout", "DialTimeout", "MaxResponseBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to name %s", err, want)
		}
	}

	defer func() {
		if recover() == nil {
			t.Error("New did not panic on an invalid Config")
		}
	}()
	New(bad)
}
