package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/signature"
)

// The http sink POSTs records as JSON to a URL: a whole delivery in one
// request (mode batch, the default), or one request per record (mode
// record). Requests go through Deps.HTTPClient, the SSRF-safe client,
// which must not follow redirects: a 3xx answer fails the delivery for
// good, so a receiver cannot bounce records to an address the guard would
// refuse, and the user learns to set the final URL.
//
// The receiver's answer is judged by its status code alone, whatever the
// body says: 2xx acknowledges; 410 Gone disables the sink; 429 and 503
// with Retry-After are retried when it says; 408, 425, other 429 and 503,
// and 5xx are retried with backoff; any other 4xx, and 3xx, are permanent
// failures (the delivery is dead, a user can retry it by hand once the
// receiver is fixed). Network errors and timeouts are retried; a
// destination the SSRF guard refuses is a permanent failure that says why.
//
// Every request carries the Standard Webhooks headers webhook-id (the
// delivery's idempotency id, or a record's in mode record: the same in
// every attempt and replay), webhook-timestamp and, with a signing secret,
// webhook-signature (v1, HMAC-SHA256 of id.timestamp.body); Idempotency-Key
// repeats the id for receivers that follow that convention.
//
// A batch body is
//
//	{"type":"records","pipeline":{"id":"…","name":"…"},"sink":"alerts",
//	 "delivery_id":"…","records":[{"id":42,"ts":"2026-01-02T03:04:05Z","data":{…}}]}
//
// and a record body is the same with "type":"record" and "record":{…}
// instead of "records". A record's id is 0 when the pipeline does not
// persist records.
//
// Secrets (auth and signing) are read from the team's vault at every
// delivery, so a rotation takes effect at the next one.

// HTTP settings limits.
const (
	httpDefaultTimeout   = 30 * time.Second
	httpMinTimeout       = time.Second
	httpMaxTimeout       = 5 * time.Minute
	httpMaxBatch         = 1000
	httpRecordModeBatch  = 100 // records per delivery in mode record
	httpMaxHeaders       = 50
	httpMaxHeaderValue   = 4096
	httpMaxURL           = 2048
	httpDrainBytes       = 64 << 10
	httpErrorExcerpt     = 200
	httpDefaultUserAgent = "Tributary-Sink/1"
)

// HTTPKind is the "http" kind. Settings:
//
//	url:            the http(s) URL to POST to; no user:password in it (use auth)
//	mode:           batch (default): one request per delivery with all its
//	                records; record: one request per record
//	max_records:    the most records in one batch request, 1 to 1000 (default 1000)
//	headers:        extra request headers, {"X-Name": "value"}
//	auth:           {type: bearer, secret}, {type: basic, username, secret}
//	                or {type: header, header: "X-Api-Key", secret}; secret
//	                names the team secret holding the token or password
//	signing_secret: a team secret holding a Standard Webhooks secret
//	                (whsec_…): requests are signed with it
//	timeout:        how long one request may take, 1s to 5m (default 30s)
var HTTPKind = Kind{
	Name:    "http",
	Summary: "POSTs records as JSON to an HTTP endpoint, signed with Standard Webhooks",
	Description: "Each delivery is one POST of a JSON array of records (`mode: batch`, the default, up to `max_records`) " +
		"or one POST per record (`mode: record`), with an idempotency id receivers can dedupe on. " +
		"`auth` adds a bearer token (`bearer`), basic credentials (`basic`) or a key in a header (`api_key` with `header`; " +
		"the older spelling `header` is read as `api_key`) from a team secret; `signing_secret` names a team secret " +
		"holding a Standard Webhooks secret (whsec_…) that signs every request. A 410 answer disables the sink.",
	NewSettings: func() any { return new(httpSettings) },
	Secrets: func(v any) []SecretRef {
		s := v.(*httpSettings)
		var out []SecretRef
		if s.Auth != nil && s.Auth.Secret != "" {
			out = append(out, SecretRef{Path: "auth.secret", Name: s.Auth.Secret})
		}
		if s.SigningSecret != "" {
			out = append(out, SecretRef{Path: "signing_secret", Name: s.SigningSecret, Signing: true})
		}
		return out
	},
	Example: `{"url":"https://hooks.example.com/weather","mode":"batch","max_records":500,` +
		`"auth":{"type":"bearer","secret":"hooks-token"},"signing_secret":"alerts-key","timeout":"30s"}`,
	MaxBatch:    httpMaxBatch,
	Concurrency: 8,
	Validate: func(settings json.RawMessage, deps Deps) ([]string, error) {
		p, err := parseHTTPSettings(settings, deps)
		if err != nil {
			return nil, err
		}
		return p.secrets(), nil
	},
	Canonical: canonicalHTTPSettings,
	Open: func(_ context.Context, teamID uuid.UUID, settings json.RawMessage, deps Deps) (Sink, error) {
		p, err := parseHTTPSettings(settings, deps)
		if err != nil {
			return nil, Permanent(err)
		}
		if deps.HTTPClient == nil || deps.Secret == nil {
			return nil, errors.New("http: the sink needs the SSRF-safe HTTP client and the secret store")
		}
		return &httpSink{p: p, teamID: teamID, deps: deps}, nil
	},
}

type httpSettings struct {
	URL        string            `json:"url"`
	Mode       string            `json:"mode,omitempty"`
	MaxRecords int               `json:"max_records,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Auth       *struct {
		Type     string `json:"type"`
		Secret   string `json:"secret,omitempty"`
		Username string `json:"username,omitempty"`
		Header   string `json:"header,omitempty"`
	} `json:"auth,omitempty"`
	SigningSecret string `json:"signing_secret,omitempty"`
	Timeout       string `json:"timeout,omitempty"`
}

// The auth types of the http sink. api_key is the word sources use for a
// key sent in a header; "header", this sink's first spelling of it, is
// still read (stored specs) and rewritten to api_key when a spec is saved
// or shown (Kind.Canonical).
const (
	httpAuthAPIKey      = "api_key"
	httpAuthHeaderAlias = "header"
)

// canonicalHTTPSettings rewrites auth.type "header" to "api_key".
func canonicalHTTPSettings(raw json.RawMessage) (json.RawMessage, bool) {
	var s map[string]json.RawMessage
	if err := json.Unmarshal(raw, &s); err != nil || s == nil {
		return raw, false
	}
	var auth map[string]json.RawMessage
	if err := json.Unmarshal(s["auth"], &auth); err != nil || auth == nil {
		return raw, false
	}
	var typ string
	if err := json.Unmarshal(auth["type"], &typ); err != nil || typ != httpAuthHeaderAlias {
		return raw, false
	}
	auth["type"], _ = json.Marshal(httpAuthAPIKey)
	var err error
	if s["auth"], err = json.Marshal(auth); err != nil {
		return raw, false
	}
	out, err := json.Marshal(s)
	if err != nil {
		return raw, false
	}
	return out, true
}

// httpParams are valid settings.
type httpParams struct {
	url           string
	perRecord     bool
	maxRecords    int
	headers       http.Header
	authType      string // "", bearer, basic or api_key
	authSecret    string
	username      string
	authHeader    string
	signingSecret string
	timeout       time.Duration
}

func (p httpParams) secrets() []string {
	var out []string
	if p.authSecret != "" {
		out = append(out, p.authSecret)
	}
	if p.signingSecret != "" {
		out = append(out, p.signingSecret)
	}
	return out
}

// httpHeaderName is a header name (an RFC 9110 token).
var httpHeaderName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")

// httpReservedHeaders are set by the sink; a user may not set them.
var httpReservedHeaders = map[string]string{
	"Host":              "",
	"Content-Length":    "",
	"Content-Type":      "the body is always JSON",
	"Content-Encoding":  "",
	"Transfer-Encoding": "",
	"Connection":        "",
	"Te":                "",
	"Trailer":           "",
	"Upgrade":           "",
	"Authorization":     "use auth, so the credential stays in a team secret",
	"Cookie":            "",
	"Webhook-Id":        "it carries the idempotency id",
	"Webhook-Timestamp": "it is part of the signature",
	"Webhook-Signature": "use signing_secret",
	"Idempotency-Key":   "it carries the idempotency id",
}

// secretNamePattern is what a team secret name looks like (see
// vault.ValidName; repeated here so that sink kinds need no vault).
var secretNamePattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

func parseHTTPSettings(raw json.RawMessage, deps Deps) (httpParams, error) {
	var s httpSettings
	if err := decodeStrict(raw, &s); err != nil {
		return httpParams{}, err
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	p := httpParams{url: s.URL, maxRecords: httpMaxBatch, timeout: httpDefaultTimeout, headers: http.Header{}}

	if msg := checkHTTPURL(s.URL, deps); msg != "" {
		bad("url: %s", msg)
	}
	switch s.Mode {
	case "", "batch":
	case "record":
		p.perRecord = true
	default:
		bad(`mode: %q is not a mode: use "batch" (one request per delivery) or "record" (one request per record)`, s.Mode)
	}
	switch {
	case s.MaxRecords == 0:
	case s.MaxRecords < 1 || s.MaxRecords > httpMaxBatch:
		bad("max_records: %d is not between 1 and %d", s.MaxRecords, httpMaxBatch)
	case p.perRecord:
		bad("max_records: applies to mode batch only")
	default:
		p.maxRecords = s.MaxRecords
	}
	if len(s.Headers) > httpMaxHeaders {
		bad("headers: %d headers, more than the limit of %d", len(s.Headers), httpMaxHeaders)
	}
	for name, value := range s.Headers {
		canon := http.CanonicalHeaderKey(name)
		why, reserved := httpReservedHeaders[canon]
		switch {
		case !httpHeaderName.MatchString(name):
			bad("headers: %q is not a valid header name", name)
		case reserved && why != "":
			bad("headers: %s cannot be set here: %s", canon, why)
		case reserved:
			bad("headers: %s is set by the sink itself", canon)
		case len(value) > httpMaxHeaderValue:
			bad("headers: the value of %s is longer than %d bytes", canon, httpMaxHeaderValue)
		case !validHeaderValue(value):
			bad("headers: the value of %s holds a control character such as a newline", canon)
		default:
			p.headers.Set(canon, value)
		}
	}
	if a := s.Auth; a != nil {
		p.authType, p.authSecret = a.Type, a.Secret
		switch a.Type {
		case "bearer":
			if a.Username != "" || a.Header != "" {
				bad("auth: bearer takes only a secret")
			}
		case "basic":
			p.username = a.Username
			if a.Username == "" || strings.Contains(a.Username, ":") || !validHeaderValue(a.Username) {
				bad("auth.username: basic auth needs a username without ':' or control characters")
			}
			if a.Header != "" {
				bad("auth: basic takes a username and a secret (the password)")
			}
		case httpAuthAPIKey, httpAuthHeaderAlias:
			p.authType = httpAuthAPIKey
			p.authHeader = http.CanonicalHeaderKey(a.Header)
			if _, reserved := httpReservedHeaders[p.authHeader]; !httpHeaderName.MatchString(a.Header) || reserved && p.authHeader != "Authorization" {
				bad("auth.header: %q cannot carry the credential: name a header such as X-Api-Key", a.Header)
			}
			if a.Username != "" {
				bad("auth: api_key takes a header name and a secret")
			}
		default:
			bad(`auth.type: %q is not an auth type: use "bearer", "basic" or "api_key"`, a.Type)
		}
		if !secretNamePattern.MatchString(a.Secret) {
			bad("auth.secret: must name a team secret (1 to 64 of a-z, 0-9, _ and -)")
		}
	}
	if s.SigningSecret != "" {
		p.signingSecret = s.SigningSecret
		if !secretNamePattern.MatchString(s.SigningSecret) {
			bad("signing_secret: must name a team secret (1 to 64 of a-z, 0-9, _ and -)")
		}
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		switch {
		case err != nil:
			bad("timeout: %q is not a duration such as 30s", s.Timeout)
		case d < httpMinTimeout || d > httpMaxTimeout:
			bad("timeout: %s is not between %s and %s", s.Timeout, httpMinTimeout, httpMaxTimeout)
		default:
			p.timeout = d
		}
	}
	return p, errors.Join(errs...)
}

// checkHTTPURL returns why a sink URL cannot be used, or "".
func checkHTTPURL(raw string, deps Deps) string {
	if raw == "" {
		return "is required: the http(s) URL to POST records to"
	}
	if len(raw) > httpMaxURL {
		return fmt.Sprintf("is longer than %d characters", httpMaxURL)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://"
	case u.Host == "":
		return "has no host"
	case u.User != nil:
		return "must not hold a user name or password: use auth with a team secret"
	case u.Fragment != "":
		return "must not have a #fragment"
	}
	if deps.CheckURL != nil {
		if err := deps.CheckURL(raw); err != nil {
			return err.Error()
		}
	}
	return ""
}

func validHeaderValue(v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if r < ' ' && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}

// httpSink is an open http sink. It is safe for concurrent use.
type httpSink struct {
	p      httpParams
	teamID uuid.UUID
	deps   Deps
}

var (
	_ Sink         = (*httpSink)(nil)
	_ BatchLimiter = (*httpSink)(nil)
)

// MaxBatch implements BatchLimiter.
func (s *httpSink) MaxBatch() int {
	if s.p.perRecord {
		return httpRecordModeBatch
	}
	return s.p.maxRecords
}

// Close implements Sink; the client's connections are shared.
func (s *httpSink) Close() error { return nil }

// Deliver implements Sink.
func (s *httpSink) Deliver(ctx context.Context, b Batch) error {
	creds, err := s.credentials(ctx)
	if err != nil {
		return err
	}
	if !s.p.perRecord {
		body := appendHTTPBody(nil, b, "records", b.DeliveryID, b.Records)
		return s.post(ctx, creds, b.DeliveryID, len(b.Records), body)
	}
	for i := range b.Records {
		id := RecordMessageID(b, i)
		body := appendHTTPBody(nil, b, "record", id, b.Records[i:i+1])
		if err := s.post(ctx, creds, id, 1, body); err != nil {
			return fmt.Errorf("record %d of %d: %w", i+1, len(b.Records), err)
		}
	}
	return nil
}

// RecordMessageID is the idempotency id of the i-th record of a batch when
// records travel one by one: derived from the record's id when it was
// persisted (the same in every delivery and replay of the record), else
// from the delivery's id and the record's place in it.
func RecordMessageID(b Batch, i int) string {
	if id := b.Records[i].ID; id != 0 {
		return "rec_" + uuid.NewSHA1(b.PipelineID, []byte(b.Sink+"\x00"+strconv.FormatInt(id, 10))).String()
	}
	return b.DeliveryID + "." + strconv.Itoa(i)
}

// httpCreds are a delivery's secrets.
type httpCreds struct {
	auth    [2]string // header name and value; empty without auth
	signing signature.Secret
}

func (s *httpSink) credentials(ctx context.Context) (httpCreds, error) {
	var c httpCreds
	if s.p.authType != "" {
		v, err := s.secret(ctx, s.p.authSecret)
		if err != nil {
			return c, err
		}
		switch s.p.authType {
		case "bearer":
			c.auth = [2]string{"Authorization", "Bearer " + string(v)}
		case "basic":
			req := http.Request{Header: http.Header{}}
			req.SetBasicAuth(s.p.username, string(v))
			c.auth = [2]string{"Authorization", req.Header.Get("Authorization")}
		case httpAuthAPIKey:
			c.auth = [2]string{s.p.authHeader, string(v)}
		}
		clear(v)
		if !validHeaderValue(c.auth[1]) {
			return c, Permanent(fmt.Errorf("secret %q holds a newline or another control character and cannot be sent in a header; rotate it", s.p.authSecret))
		}
	}
	if s.p.signingSecret != "" {
		v, err := s.secret(ctx, s.p.signingSecret)
		if err != nil {
			return c, err
		}
		c.signing, err = signature.ParseSecret(string(v))
		clear(v)
		if err != nil {
			return c, Permanent(fmt.Errorf("secret %q is not a Standard Webhooks signing secret (whsec_ followed by base64); rotate it to one", s.p.signingSecret))
		}
	}
	return c, nil
}

func (s *httpSink) secret(ctx context.Context, name string) ([]byte, error) {
	v, err := s.deps.Secret(ctx, s.teamID, name)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return nil, Permanent(fmt.Errorf("the team has no secret named %q; create it, then retry the delivery", name))
	case err != nil:
		return nil, fmt.Errorf("read secret %q: %w", name, err)
	}
	return v, nil
}

// appendHTTPBody appends the JSON body of a request carrying records.
func appendHTTPBody(dst []byte, b Batch, typ, id string, records []core.Record) []byte {
	size := 192 + len(b.Pipeline) + len(b.Sink)
	for _, r := range records {
		size += len(r.Data) + 72
	}
	if cap(dst)-len(dst) < size {
		dst = append(make([]byte, 0, len(dst)+size), dst...)
	}
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","pipeline":{"id":"`...)
	dst = append(dst, b.PipelineID.String()...)
	dst = append(dst, `","name":`...)
	dst = appendJSONString(dst, b.Pipeline)
	dst = append(dst, `},"sink":`...)
	dst = appendJSONString(dst, b.Sink)
	dst = append(dst, `,"delivery_id":`...)
	dst = appendJSONString(dst, id)
	if typ == "record" {
		dst = append(dst, `,"record":`...)
		dst = appendHTTPRecord(dst, records[0])
		return append(dst, '}')
	}
	dst = append(dst, `,"records":[`...)
	for i, r := range records {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendHTTPRecord(dst, r)
	}
	return append(dst, "]}"...)
}

func appendHTTPRecord(dst []byte, r core.Record) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, r.ID, 10)
	dst = append(dst, `,"ts":"`...)
	dst = r.TS.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","data":`...)
	if len(r.Data) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, r.Data...)
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(dst, b...)
}

// post sends one request and judges the answer by its status code.
func (s *httpSink) post(ctx context.Context, c httpCreds, id string, records int, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.p.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(errors.New("the sink's URL cannot be requested"))
	}
	for name, values := range s.p.headers {
		req.Header[name] = values
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", httpDefaultUserAgent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", id)
	req.Header.Set("Tributary-Record-Count", strconv.Itoa(records))
	if c.auth[0] != "" {
		req.Header.Set(c.auth[0], c.auth[1])
	}
	now := time.Now()
	if c.signing.IsZero() {
		req.Header.Set(signature.HeaderID, id)
		req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	} else {
		signature.SetHeaders(req.Header, id, now, body, c.signing)
	}

	resp, err := s.deps.HTTPClient.Do(req)
	if err != nil {
		return httpRequestError(ctx, err, s.p.timeout)
	}
	defer resp.Body.Close()
	// Read a little of the body: for an excerpt in errors, and so the
	// connection can be reused. What it says does not count.
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, httpDrainBytes))
	return judgeHTTPStatus(resp, excerpt)
}

// httpRequestError classifies a request that got no answer. The URL is left
// out: its query may hold a token.
func httpRequestError(ctx context.Context, err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, netguard.ErrForbidden):
		return Permanent(fmt.Errorf("the sink's address is not allowed: %w", err))
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the receiver did not answer within %s", timeout)
	}
	return fmt.Errorf("could not reach the receiver: %w", err)
}

// judgeHTTPStatus turns a receiver's status code into the error the
// delivery machinery acts on.
func judgeHTTPStatus(resp *http.Response, body []byte) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	answer := fmt.Errorf("the receiver answered %s%s", resp.Status, bodyExcerpt(body))
	switch {
	case code == http.StatusGone:
		return &GoneError{Err: fmt.Errorf("%w: the endpoint is gone, so the sink was disabled; enable it again once the receiver is back", answer)}
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if after, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return &RetryAfterError{After: after, Err: answer}
		}
		return answer
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		return answer
	case code >= 300 && code < 400:
		return Permanent(fmt.Errorf("%w, a redirect: sinks do not follow redirects; set the sink's URL to the final address", answer))
	case code >= 400:
		return Permanent(answer)
	}
	return answer
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(365*24*3600))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// bodyExcerpt quotes the start of an error answer's body, printable
// characters only, or nothing.
func bodyExcerpt(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var sb strings.Builder
	for _, r := range string(body) {
		if sb.Len() >= httpErrorExcerpt {
			sb.WriteString("…")
			break
		}
		switch {
		case r == utf8.RuneError:
			sb.WriteByte('?')
		case r < ' ' || r == 0x7f:
			sb.WriteByte(' ')
		default:
			sb.WriteRune(r)
		}
	}
	return fmt.Sprintf(": %q", sb.String())
}
