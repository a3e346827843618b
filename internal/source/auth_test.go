package source_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// canary is a secret value no response, error or log may contain.
const canary = "canary-7f3a9c1e5b2d4f60"

func TestAuth(t *testing.T) {
	t.Parallel()
	var tokens atomic.Int64
	var mu sync.Mutex
	var seen []http.Header
	var queries []string
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			tokens.Add(1)
			r.ParseForm()
			id, secret, ok := r.BasicAuth()
			if !ok {
				id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
			}
			if id != "tributary" || secret != canary || r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "read write" {
				w.WriteHeader(http.StatusUnauthorized)
				writeJSON(w, map[string]any{"error": "invalid_client"})
				return
			}
			writeJSON(w, map[string]any{"access_token": fmt.Sprintf("tok-%d-%s", tokens.Load(), canary[:8]), "token_type": "bearer", "expires_in": 3600})
			return
		}
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		writeJSON(w, items(0, 1))
	})
	e := env(loopback, map[string]string{"token": canary, "client-secret": canary})
	for _, tc := range []struct {
		auth  string
		check func(h http.Header, q string) bool
	}{
		{`{"type":"bearer","secret":"token"}`, func(h http.Header, _ string) bool { return h.Get("Authorization") == "Bearer "+canary }},
		{`{"type":"basic","username":"reader","secret":"token"}`, func(h http.Header, _ string) bool {
			return h.Get("Authorization") == "Basic "+base64.StdEncoding.EncodeToString([]byte("reader:"+canary))
		}},
		{`{"type":"api_key","header":"x-api-key","prefix":"Key ","secret":"token"}`, func(h http.Header, _ string) bool { return h.Get("X-Api-Key") == "Key "+canary }},
		{`{"type":"api_key","query":"apikey","secret":"token"}`, func(h http.Header, q string) bool { return q == "apikey="+canary && h.Get("Authorization") == "" }},
		{`{"type":"oauth2","token_url":"` + a.URL + `/token","client_id":"tributary","secret":"client-secret","scopes":["read","write"]}`,
			func(h http.Header, _ string) bool { return h.Get("Authorization") == "Bearer tok-1-"+canary[:8] }},
		{`{"type":"none"}`, func(h http.Header, _ string) bool { return h.Get("Authorization") == "" }},
	} {
		s := build(t, "http", `{"url":"`+a.URL+`/data","auth":`+tc.auth+`}`, "")
		poll(t, s, e, nil)
		mu.Lock()
		h, q := seen[len(seen)-1], queries[len(queries)-1]
		mu.Unlock()
		if !tc.check(h, q) {
			t.Errorf("auth %s: request headers %v, query %q", tc.auth, h, q)
		}
	}
	// The OAuth2 token is cached across polls.
	s := build(t, "http", `{"url":"`+a.URL+`/data","auth":{"type":"oauth2","token_url":"`+a.URL+`/token","client_id":"tributary","secret":"client-secret","scopes":["read","write"]}}`, "")
	poll(t, s, e, nil)
	if n := tokens.Load(); n != 1 {
		t.Fatalf("%d token requests for two polls", n)
	}
}

func TestOAuth2RefreshesARevokedToken(t *testing.T) {
	t.Parallel()
	var tokens atomic.Int64
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			n := tokens.Add(1)
			writeJSON(w, map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "bearer", "expires_in": 3600})
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok-2" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		writeJSON(w, items(0, 1))
	})
	e := env(loopback, map[string]string{"cs": "client-secret-1"})
	spec := `{"url":"` + a.URL + `/data","auth":{"type":"oauth2","token_url":"` + a.URL + `/token","client_id":"c","secret":"cs"}}`
	s := build(t, "http", spec, "")
	// The first token is fresh: a 401 fails the poll.
	if err := pollErr(t, s, e, nil); err.Status != 401 {
		t.Fatalf("error %+v", err)
	}
	// The next poll uses the cached token, gets 401, and gets a new token once.
	res := poll(t, s, e, nil)
	if len(res.Records) != 1 || tokens.Load() != 2 {
		t.Fatalf("%d records, %d tokens", len(res.Records), tokens.Load())
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	// An API that echoes every credential it gets in its error body.
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			r.ParseForm()
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]any{"error": "invalid_client", "error_description": "bad secret " + r.PostForm.Get("client_secret") + " " + r.Header.Get("Authorization")})
			return
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "denied: auth=%q key=%q query=%q", r.Header.Get("Authorization"), r.Header.Get("X-Key"), r.URL.RawQuery)
	})
	e := env(loopback, map[string]string{"s": canary})
	for _, auth := range []string{
		`{"type":"bearer","secret":"s"}`,
		`{"type":"basic","username":"u","secret":"s"}`,
		`{"type":"api_key","header":"X-Key","secret":"s"}`,
		`{"type":"api_key","query":"key","secret":"s"}`,
		`{"type":"oauth2","token_url":"` + a.URL + `/token","client_id":"c","secret":"s"}`,
	} {
		s := build(t, "http", `{"url":"`+a.URL+`/data?x=1","auth":`+auth+`}`, "")
		err := pollErr(t, s, e, nil)
		if strings.Contains(err.Msg, canary) || strings.Contains(err.Msg, base64.StdEncoding.EncodeToString([]byte("u:"+canary))) {
			t.Fatalf("auth %s: the error carries the secret: %q", auth, err.Msg)
		}
		if !strings.Contains(err.Msg, "[redacted]") && !strings.Contains(err.Msg, "REDACTED") {
			t.Errorf("auth %s: error %q shows no redaction", auth, err.Msg)
		}
	}
	// A secret that does not exist.
	s := build(t, "http", `{"url":"`+a.URL+`/data","auth":{"type":"bearer","secret":"missing"}}`, "")
	if err := pollErr(t, s, e, nil); !strings.Contains(err.Msg, `the secret "missing" named at http.auth.secret cannot be opened: the team has no secret of that name`) {
		t.Fatalf("missing secret: %q", err.Msg)
	}
	if n := a.conns.Load(); n == 0 {
		t.Fatal("no request was made")
	}
}

func TestCredentialsStayWithTheirOrigin(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	other := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		writeJSON(w, items(0, 1))
	})
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/moved", http.StatusFound)
	})
	e := env(loopback, map[string]string{"k": canary})
	for _, auth := range []string{`{"type":"api_key","header":"X-Api-Key","secret":"k"}`, `{"type":"bearer","secret":"k"}`} {
		s := build(t, "http", `{"url":"`+a.URL+`/data","auth":`+auth+`}`, "")
		poll(t, s, e, nil)
		h := <-got
		if h.Get("X-Api-Key") != "" || h.Get("Authorization") != "" {
			t.Fatalf("auth %s: the redirect target got credentials: %v", auth, h)
		}
	}
}

// canBind reports whether ip can be listened on (Linux routes all of
// 127/8 to lo; other systems may not).
func canBind(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	ln, err := listen(a)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func TestSSRF(t *testing.T) {
	t.Parallel()
	if !canBind("127.0.0.2") {
		t.Skip("127.0.0.2 cannot be bound here")
	}
	// Loopback is allowed for 127.0.0.2 only, where the "public" API
	// runs; its redirects lead to 127.0.0.1 and to the cloud metadata
	// address, which stay denied.
	internal := newAPIOn(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, items(0, 1)) })
	public := newAPIOn(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-loopback":
			http.Redirect(w, r, internal.URL+"/secret", http.StatusFound)
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/security-credentials/", http.StatusTemporaryRedirect)
		case "/to-mapped":
			http.Redirect(w, r, "http://[::ffff:127.0.0.1]:"+strings.Split(internal.URL, ":")[2]+"/", http.StatusFound)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		default:
			writeJSON(w, items(0, 1))
		}
	})
	e := env([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, nil)
	if res := poll(t, build(t, "http", `{"url":"`+public.URL+`/ok"}`, ""), e, nil); len(res.Records) != 1 {
		t.Fatal("the allowed API did not answer")
	}
	for _, u := range []string{
		public.URL + "/to-loopback",
		public.URL + "/to-metadata",
		public.URL + "/to-mapped",
		public.URL + "/to-file",
		internal.URL + "/direct",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::1]:1/",
		"http://0x7f.1/",
		"http://100.64.0.1/",
		"http://10.0.0.1/",
		"http://192.168.1.1/",
		"http://0.0.0.0:" + strings.Split(internal.URL, ":")[2] + "/",
		"http://224.0.0.1/",
		"http://[::ffff:169.254.169.254]/",
		"http://[::127.0.0.1]:" + strings.Split(internal.URL, ":")[2] + "/",
		"http://[fd00::1]/",
		"http://2130706433:" + strings.Split(internal.URL, ":")[2] + "/",
		"http://localhost:" + strings.Split(internal.URL, ":")[2] + "/",
	} {
		err := pollErr(t, build(t, "http", `{"url":"`+u+`"}`, ""), e, nil)
		if !strings.Contains(err.Msg, "refused by the SSRF guard") && !strings.Contains(err.Msg, "unsupported protocol scheme") {
			t.Errorf("%s: error %q, want a refusal", u, err.Msg)
		}
	}
	if n := internal.conns.Load(); n != 0 {
		t.Fatalf("the internal server got %d connections", n)
	}
	// GraphQL goes through the same guard.
	g := build(t, "graphql", `{"url":"`+public.URL+`/to-metadata","query":"{ a { b } }","records":"a"}`, "")
	if err := pollErr(t, g, e, nil); !strings.Contains(err.Msg, "refused by the SSRF guard") {
		t.Fatalf("graphql redirect: %q", err.Msg)
	}
}
