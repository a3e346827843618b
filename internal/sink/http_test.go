package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/signature"
)

// fakeResolver answers every name with one address: a DNS name that
// resolves to loopback, as an attacker's would.
type fakeResolver struct{ addr netip.Addr }

func (r fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{r.addr}, nil
}

// httpDeps are the Deps of the HTTP sink's tests: the SSRF guard without
// redirects (as the application builds it for sinks), loopback opened
// when allowLoopback is set, and team secrets from a map.
func httpDeps(t *testing.T, allowLoopback bool, secrets map[string]string, resolver netguard.Resolver) Deps {
	t.Helper()
	cfg := netguard.Config{MaxRedirects: -1, DialTimeout: 2 * time.Second, Timeout: time.Minute, Resolver: resolver}
	if allowLoopback {
		cfg.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	g := netguard.New(cfg)
	t.Cleanup(g.CloseIdleConnections)
	return Deps{
		HTTPClient: g.Client(),
		Dial:       g.DialContext,
		CheckURL:   g.CheckURL,
		Secret: func(_ context.Context, _ uuid.UUID, name string) ([]byte, error) {
			v, ok := secrets[name]
			if !ok {
				return nil, fmt.Errorf("secret %q: %w", name, core.ErrNotFound)
			}
			return []byte(v), nil
		},
	}
}

func httpBatch(n int) Batch {
	b := Batch{
		TeamID:     uuid.MustParse("00000000-0000-0000-0000-0000000000aa"),
		PipelineID: uuid.MustParse("00000000-0000-0000-0000-0000000000bb"),
		Pipeline:   "weather \"berlin\"",
		Sink:       "alerts",
		DeliveryID: "dlv_test",
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	for i := range n {
		b.Records = append(b.Records, core.Record{ID: int64(100 + i), TS: ts.Add(time.Duration(i) * time.Second), Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
	}
	return b
}

func openHTTP(t *testing.T, settings string, deps Deps) *httpSink {
	t.Helper()
	if _, err := HTTPKind.Validate(json.RawMessage(settings), deps); err != nil {
		t.Fatalf("validate %s: %v", settings, err)
	}
	s, err := HTTPKind.Open(t.Context(), uuid.New(), json.RawMessage(settings), deps)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.(*httpSink)
}

func TestHTTPSettings(t *testing.T) {
	t.Parallel()
	deps := httpDeps(t, false, nil, nil)
	good := []struct {
		settings string
		secrets  []string
	}{
		{`{"url":"https://hooks.example.com/in"}`, nil},
		{`{"url":"http://hooks.example.com:8080/in?x=1","mode":"record","timeout":"5s"}`, nil},
		{`{"url":"https://h.example.com","max_records":10,"headers":{"X-Team":"a","User-Agent":"me"}}`, nil},
		{`{"url":"https://h.example.com","auth":{"type":"bearer","secret":"tok"},"signing_secret":"sig"}`, []string{"tok", "sig"}},
		{`{"url":"https://h.example.com","auth":{"type":"basic","username":"u","secret":"pw"}}`, []string{"pw"}},
		{`{"url":"https://h.example.com","auth":{"type":"header","header":"X-Api-Key","secret":"k"}}`, []string{"k"}},
	}
	for _, tc := range good {
		secrets, err := HTTPKind.Validate(json.RawMessage(tc.settings), deps)
		if err != nil {
			t.Errorf("%s: %v", tc.settings, err)
			continue
		}
		if fmt.Sprint(secrets) != fmt.Sprint(tc.secrets) {
			t.Errorf("%s: secrets %v, want %v", tc.settings, secrets, tc.secrets)
		}
	}
	bad := []struct{ settings, want string }{
		{`{}`, "url: is required"},
		{`{"url":"ftp://h.example.com"}`, "must start with http:// or https://"},
		{`{"url":"https://user:pw@h.example.com"}`, "use auth"},
		{`{"url":"http://127.0.0.1:9/x"}`, "loopback"},
		{`{"url":"http://169.254.169.254/latest/meta-data"}`, "url:"},
		{`{"url":"http://[::1]/x"}`, "url:"},
		{`{"url":"http://localhost/x"}`, "url:"},
		{`{"url":"https://h.example.com","mode":"stream"}`, "mode:"},
		{`{"url":"https://h.example.com","max_records":0.5}`, "max_records"},
		{`{"url":"https://h.example.com","max_records":5000}`, "max_records: 5000"},
		{`{"url":"https://h.example.com","mode":"record","max_records":5}`, "mode batch only"},
		{`{"url":"https://h.example.com","headers":{"Authorization":"Bearer x"}}`, "use auth"},
		{`{"url":"https://h.example.com","headers":{"webhook-id":"x"}}`, "Webhook-Id cannot be set"},
		{`{"url":"https://h.example.com","headers":{"Host":"x"}}`, "set by the sink"},
		{`{"url":"https://h.example.com","headers":{"X-A":"a\nb"}}`, "control character"},
		{`{"url":"https://h.example.com","headers":{"bad name":"a"}}`, "not a valid header name"},
		{`{"url":"https://h.example.com","auth":{"type":"oauth","secret":"s"}}`, "auth.type"},
		{`{"url":"https://h.example.com","auth":{"type":"bearer","secret":"Not A Name"}}`, "auth.secret"},
		{`{"url":"https://h.example.com","auth":{"type":"basic","secret":"s"}}`, "auth.username"},
		{`{"url":"https://h.example.com","auth":{"type":"header","header":"Host","secret":"s"}}`, "auth.header"},
		{`{"url":"https://h.example.com","signing_secret":"A B"}`, "signing_secret"},
		{`{"url":"https://h.example.com","timeout":"1h"}`, "timeout: 1h is not between"},
		{`{"url":"https://h.example.com","timeout":"soon"}`, "not a duration"},
		{`{"url":"https://h.example.com","retries":3}`, `unknown setting "retries"`},
		{`{"url":"https://h.example.com#frag"}`, "fragment"},
	}
	for _, tc := range bad {
		_, err := HTTPKind.Validate(json.RawMessage(tc.settings), deps)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.settings, err, tc.want)
		}
	}
	// Several problems are reported at once.
	_, err := HTTPKind.Validate(json.RawMessage(`{"url":"","mode":"x","timeout":"x"}`), deps)
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("three problems: err = %v", err)
	}
}

// receiver is an HTTP endpoint on loopback that records what it got and
// answers with what answer says.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
	bodies [][]byte
	answer func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, r)
		rc.bodies = append(rc.bodies, body)
		n := len(rc.reqs)
		rc.mu.Unlock()
		if rc.answer != nil {
			rc.answer(n, w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() ([]*http.Request, [][]byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*http.Request(nil), rc.reqs...), append([][]byte(nil), rc.bodies...)
}

func TestHTTPDeliverSignedBatch(t *testing.T) {
	t.Parallel()
	secret := signature.GenerateSecret()
	deps := httpDeps(t, true, map[string]string{"sig": secret.Encode(), "tok": "t0ken"}, nil)
	rc := newReceiver(t, nil)
	s := openHTTP(t, `{"url":"`+rc.URL+`/in?src=tributary","signing_secret":"sig","auth":{"type":"bearer","secret":"tok"},"headers":{"X-Team":"blue"}}`, deps)
	b := httpBatch(3)
	if err := s.Deliver(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	reqs, bodies := rc.got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r, body := reqs[0], bodies[0]
	v, err := signature.NewVerifier(signature.Config{Secrets: []signature.Secret{secret}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(t.Context(), r.Header, body, time.Now()); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	for h, want := range map[string]string{
		"Webhook-Id": "dlv_test", "Idempotency-Key": "dlv_test", "Authorization": "Bearer t0ken", "X-Team": "blue",
		"Content-Type": "application/json", "Tributary-Record-Count": "3", "User-Agent": httpDefaultUserAgent,
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if r.URL.RawQuery != "src=tributary" || r.Method != http.MethodPost {
		t.Errorf("request %s %s", r.Method, r.URL)
	}
	var got struct {
		Type     string `json:"type"`
		Pipeline struct {
			ID   uuid.UUID `json:"id"`
			Name string    `json:"name"`
		} `json:"pipeline"`
		Sink       string `json:"sink"`
		DeliveryID string `json:"delivery_id"`
		Records    []struct {
			ID   int64           `json:"id"`
			TS   time.Time       `json:"ts"`
			Data json.RawMessage `json:"data"`
		} `json:"records"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if got.Type != "records" || got.Pipeline.ID != b.PipelineID || got.Pipeline.Name != b.Pipeline || got.Sink != "alerts" ||
		got.DeliveryID != "dlv_test" || len(got.Records) != 3 {
		t.Fatalf("body = %s", body)
	}
	for i, rec := range got.Records {
		if rec.ID != b.Records[i].ID || !rec.TS.Equal(b.Records[i].TS) || string(rec.Data) != string(b.Records[i].Data) {
			t.Errorf("record %d = %+v, want %+v", i, rec, b.Records[i])
		}
	}
}

func TestHTTPDeliverPerRecord(t *testing.T) {
	t.Parallel()
	deps := httpDeps(t, true, map[string]string{"k": "key-1"}, nil)
	rc := newReceiver(t, nil)
	s := openHTTP(t, `{"url":"`+rc.URL+`","mode":"record","auth":{"type":"header","header":"X-Api-Key","secret":"k"}}`, deps)
	if s.MaxBatch() != httpRecordModeBatch {
		t.Errorf("MaxBatch in mode record = %d", s.MaxBatch())
	}
	b := httpBatch(3)
	b.Records[2].ID = 0 // not persisted
	if err := s.Deliver(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	reqs, bodies := rc.got()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	ids := map[string]bool{}
	for i, r := range reqs {
		var got struct {
			Type       string `json:"type"`
			DeliveryID string `json:"delivery_id"`
			Record     struct {
				ID int64 `json:"id"`
			} `json:"record"`
		}
		if err := json.Unmarshal(bodies[i], &got); err != nil {
			t.Fatal(err)
		}
		id := r.Header.Get("Webhook-Id")
		if got.Type != "record" || got.DeliveryID != id || got.Record.ID != b.Records[i].ID || r.Header.Get("X-Api-Key") != "key-1" ||
			r.Header.Get("Webhook-Signature") != "" {
			t.Errorf("request %d: %s %v", i, bodies[i], r.Header)
		}
		ids[id] = true
	}
	if len(ids) != 3 || !ids["dlv_test.2"] {
		t.Errorf("record ids %v", ids)
	}
	// A persisted record's id is the same in another delivery.
	other := httpBatch(1)
	other.DeliveryID = "dlv_other"
	if RecordMessageID(other, 0) != RecordMessageID(b, 0) {
		t.Error("a record's id depends on its delivery")
	}
}

func TestHTTPStatusJudgement(t *testing.T) {
	t.Parallel()
	deps := httpDeps(t, true, nil, nil)
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter)
		check   func(err error) bool
		message string
	}{
		{"204", func(w http.ResponseWriter) { w.WriteHeader(204) }, func(err error) bool { return err == nil }, ""},
		{"200 with garbage", func(w http.ResponseWriter) { w.WriteHeader(200); w.Write([]byte("\x00\xff{not json")) }, func(err error) bool { return err == nil }, ""},
		{"202 claiming failure", func(w http.ResponseWriter) { w.WriteHeader(202); w.Write([]byte(`{"ok":false,"error":"nope"}`)) }, func(err error) bool { return err == nil }, ""},
		{"500 with garbage", func(w http.ResponseWriter) { w.WriteHeader(500); w.Write([]byte("boom\x00\x01 <html>")) },
			func(err error) bool { return err != nil && !IsPermanent(err) }, `500 Internal Server Error: "boom   <html>"`},
		{"429 with seconds", func(w http.ResponseWriter) { w.Header().Set("Retry-After", "7"); w.WriteHeader(429) },
			func(err error) bool {
				var ra *RetryAfterError
				return errors.As(err, &ra) && ra.After == 7*time.Second
			}, "429"},
		{"503 with a date", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(503)
		}, func(err error) bool {
			var ra *RetryAfterError
			return errors.As(err, &ra) && ra.After > 80*time.Second && ra.After <= 90*time.Second
		}, "503"},
		{"429 without Retry-After", func(w http.ResponseWriter) { w.WriteHeader(429) },
			func(err error) bool {
				var ra *RetryAfterError
				return err != nil && !errors.As(err, &ra) && !IsPermanent(err)
			}, "429"},
		{"410", func(w http.ResponseWriter) { w.WriteHeader(410) }, func(err error) bool { var g *GoneError; return errors.As(err, &g) }, "410 Gone"},
		{"400", func(w http.ResponseWriter) { w.WriteHeader(400) }, IsPermanent, "400 Bad Request"},
		{"408", func(w http.ResponseWriter) { w.WriteHeader(408) }, func(err error) bool { return err != nil && !IsPermanent(err) }, "408"},
		{"302", func(w http.ResponseWriter) { w.Header().Set("Location", "http://169.254.169.254/"); w.WriteHeader(302) }, IsPermanent, "do not follow redirects"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { tc.answer(w) })
			s := openHTTP(t, `{"url":"`+rc.URL+`"}`, deps)
			err := s.Deliver(t.Context(), httpBatch(1))
			if !tc.check(err) {
				t.Fatalf("err = %#v (%v)", err, err)
			}
			if tc.message != "" && !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err = %v, want it to say %q", err, tc.message)
			}
			if reqs, _ := rc.got(); len(reqs) != 1 {
				t.Fatalf("%d requests: redirects must not be followed", len(reqs))
			}
		})
	}
}

func TestHTTPTimeout(t *testing.T) {
	t.Parallel()
	deps := httpDeps(t, true, nil, nil)
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	s := openHTTP(t, `{"url":"`+rc.URL+`","timeout":"1s"}`, deps)
	start := time.Now()
	err := s.Deliver(t.Context(), httpBatch(1))
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "did not answer within 1s") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("a hanging receiver held the delivery %s", d)
	}
}

func TestHTTPForbiddenAddress(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
	// A host name that resolves to loopback passes the save-time check
	// and is refused when the delivery dials it.
	deps := httpDeps(t, false, nil, fakeResolver{netip.MustParseAddr("127.0.0.1")})
	s := openHTTP(t, `{"url":"http://rebind.example.com:`+port+`/in"}`, deps)
	err := s.Deliver(t.Context(), httpBatch(1))
	if !IsPermanent(err) || !errors.Is(err, netguard.ErrForbidden) || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v, want a permanent refusal naming loopback", err)
	}
	if strings.Contains(err.Error(), "http://") {
		t.Errorf("the error quotes the URL: %v", err)
	}
	if reqs, _ := rc.got(); len(reqs) != 0 {
		t.Fatalf("the receiver got %d requests", len(reqs))
	}
}

func TestHTTPSecrets(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	deps := httpDeps(t, true, map[string]string{"notwhsec": "plain words", "nl": "a\nb"}, nil)
	for settings, want := range map[string]string{
		`{"url":"` + rc.URL + `","signing_secret":"missing"}`:                             `no secret named "missing"`,
		`{"url":"` + rc.URL + `","signing_secret":"notwhsec"}`:                            "not a Standard Webhooks signing secret",
		`{"url":"` + rc.URL + `","auth":{"type":"bearer","secret":"nl"}}`:                 "control character",
		`{"url":"` + rc.URL + `","auth":{"type":"basic","username":"u","secret":"gone"}}`: `no secret named "gone"`,
	} {
		err := openHTTP(t, settings, deps).Deliver(t.Context(), httpBatch(1))
		if !IsPermanent(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want a permanent error saying %q", settings, err, want)
		}
	}
	if reqs, _ := rc.got(); len(reqs) != 0 {
		t.Fatalf("%d requests went out without their secrets", len(reqs))
	}
	// Basic auth.
	deps = httpDeps(t, true, map[string]string{"pw": "s3cret"}, nil)
	if err := openHTTP(t, `{"url":"`+rc.URL+`","auth":{"type":"basic","username":"ada","secret":"pw"}}`, deps).Deliver(t.Context(), httpBatch(1)); err != nil {
		t.Fatal(err)
	}
	reqs, _ := rc.got()
	if u, p, ok := reqs[0].BasicAuth(); !ok || u != "ada" || p != "s3cret" {
		t.Fatalf("basic auth = %q %q %v", u, p, ok)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0": 0, "120": 2 * time.Minute, now.Add(time.Hour).Format(http.TimeFormat): time.Hour,
		now.Add(-time.Hour).Format(http.TimeFormat): 0,
	} {
		if got, ok := parseRetryAfter(v, now); !ok || got != want {
			t.Errorf("%q: %v %v, want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "-1", "soon", "1.5"} {
		if _, ok := parseRetryAfter(v, now); ok {
			t.Errorf("%q parsed", v)
		}
	}
}
