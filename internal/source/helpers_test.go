package source_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/source"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// api is a fake API on loopback that counts its connections.
type api struct {
	*httptest.Server
	conns atomic.Int64
}

func newAPI(t *testing.T, h http.HandlerFunc) *api {
	t.Helper()
	return newAPIOn(t, "127.0.0.1", h)
}

func newAPIOn(t *testing.T, ip string, h http.HandlerFunc) *api {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("listen on %s: %v", ip, err)
	}
	a := &api{}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	a.Server = srv
	return a
}

// env returns an Env whose guard allows allow, with the given secrets.
func env(allow []netip.Prefix, secrets map[string]string, cfg ...func(*netguard.Config)) *source.Env {
	c := netguard.Config{AllowNetworks: allow}
	for _, f := range cfg {
		f(&c)
	}
	return &source.Env{
		Client: source.NewClient(netguard.New(c)),
		Secrets: func(_ context.Context, name string) ([]byte, error) {
			v, ok := secrets[name]
			if !ok {
				return nil, fmt.Errorf("not found: the team has no secret named %q", name)
			}
			return []byte(v), nil
		},
		Tokens:       source.NewTokenCache(),
		MaxRetryWait: 3 * time.Second,
	}
}

// build compiles a source from JSON parts as a pipeline spec holds them.
func build(t *testing.T, kind, spec, state string) *source.Source {
	t.Helper()
	s, problems := tryBuild(t, kind, spec, state)
	if len(problems) > 0 {
		t.Fatalf("build %s: %v", spec, problems)
	}
	return s
}

func tryBuild(t *testing.T, kind, spec, state string) (*source.Source, []source.Problem) {
	t.Helper()
	reg := source.Builtin()
	k, ok := reg.Kind(kind)
	if !ok {
		t.Fatalf("no kind %s", kind)
	}
	v := k.NewSpec()
	dec := json.NewDecoder(strings.NewReader(spec))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", spec, err)
	}
	var st source.StateSpec
	if state != "" {
		dec := json.NewDecoder(strings.NewReader(state))
		dec.UseNumber()
		if err := dec.Decode(&st); err != nil {
			t.Fatalf("decode state %s: %v", state, err)
		}
	}
	return reg.Build(kind, v, st)
}

func poll(t *testing.T, s *source.Source, e *source.Env, prev source.Values) *source.Result {
	t.Helper()
	res, err := s.Poll(context.Background(), e, prev)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return res
}

func pollErr(t *testing.T, s *source.Source, e *source.Env, prev source.Values) *source.Error {
	t.Helper()
	res, err := s.Poll(context.Background(), e, prev)
	if err == nil {
		t.Fatalf("poll succeeded with %d records, want an error", len(res.Records))
	}
	se, ok := err.(*source.Error)
	if !ok {
		t.Fatalf("poll error %T %v, want *source.Error", err, err)
	}
	return se
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// ids returns the "id" fields of records, as text.
func ids(recs []any) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		m, _ := r.(map[string]any)
		out[i] = fmt.Sprint(m["id"])
	}
	return out
}

func items(from, to int) []map[string]any {
	var out []map[string]any
	for i := from; i < to; i++ {
		out = append(out, map[string]any{"id": i, "ts": time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339)})
	}
	return out
}

func listen(a netip.Addr) (net.Listener, error) {
	return net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
}
