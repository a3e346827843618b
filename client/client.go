package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client calls the Tributary REST API. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	team      string
	hc        *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc instead of a
// default http.Client. Give hc a cookie jar to use Login's session.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTeam makes every request act on the team with this id (the team
// query parameter). API tokens belong to one team and need no team; a
// signed-in user acts on their first team by default.
func WithTeam(id string) Option { return func(c *Client) { c.team = id } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the server at baseURL (such as
// "http://localhost:8080") authenticating with the API token, which may be
// empty for Login and anonymous calls.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q: want http:// or https:// and a host", baseURL)
	}
	c := &Client{base: u, token: token, hc: &http.Client{}, userAgent: "tributary-go-client"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the server URL the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// Error is an error answered by the server: an RFC 9457 problem.
type Error struct {
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Title is the status's short summary, such as "Not Found".
	Title string `json:"title"`
	// Detail says what went wrong and what to do.
	Detail string `json:"detail"`
	// Type and Instance are the problem's URI references, when set.
	Type     string `json:"type,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Errors lists the individual problems, such as every problem of a
	// pipeline spec, each with its location ("body.source.http.url").
	Errors []ErrorDetail `json:"errors,omitempty"`
	// RequestID is the request's id (request_id, also in X-Request-Id),
	// which the server's logs carry.
	RequestID string `json:"request_id,omitempty"`
}

// ErrorDetail is one problem of an Error.
type ErrorDetail struct {
	// Location is where the problem is, such as "body.mapping.fields.x".
	Location string `json:"location,omitempty"`
	// Message says what is wrong there.
	Message string `json:"message,omitempty"`
	// Value is the offending value, when the server echoes it.
	Value any `json:"value,omitempty"`
}

// Error returns the status and the detail on one line, followed by the
// individual problems.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	for _, d := range e.Errors {
		b.WriteString("; ")
		if d.Location != "" {
			b.WriteString(d.Location)
			b.WriteString(": ")
		}
		b.WriteString(d.Message)
	}
	return b.String()
}

// IsNotFound reports whether err is a 404 of the server.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// request is one call: method, path under the base URL, query, JSON body.
type request struct {
	method string
	path   string
	query  url.Values
	body   any       // marshalled as JSON unless nil
	raw    io.Reader // sent as it is when set, with contentType
	ctype  string
	size   int64 // ContentLength of raw; -1 unknown
	header http.Header
}

// newRequest builds the *http.Request of r.
func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	u := *c.base
	u.Path = strings.TrimRight(c.base.Path, "/") + r.path
	u.RawPath = ""
	q := r.query
	if c.team != "" {
		if q == nil {
			q = url.Values{}
		}
		if q.Get("team") == "" {
			q.Set("team", c.team)
		}
	}
	u.RawQuery = q.Encode()
	var body io.Reader
	ctype := r.ctype
	switch {
	case r.raw != nil:
		body = r.raw
	case r.body != nil:
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", r.method, r.path, err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if r.raw != nil && r.size >= 0 {
		req.ContentLength = r.size
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if k := idempotencyKeyFrom(ctx); k != "" && r.method == http.MethodPost {
		req.Header.Set("Idempotency-Key", k)
	}
	return req, nil
}

// do sends r and decodes a JSON answer into out (unless out is nil). Any
// status of 300 or more becomes an *Error.
func (c *Client) do(ctx context.Context, r request, out any) error {
	res, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", r.method, r.path, err)
	}
	return nil
}

// send sends r and returns a successful response, whose body the caller
// closes, or the error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, c.base.Host, unwrapURLError(err))
	}
	if res.StatusCode >= 300 {
		defer res.Body.Close()
		return nil, decodeError(res)
	}
	return res, nil
}

// unwrapURLError drops the *url.Error wrapper, which repeats the whole URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decodeError reads the problem of a failed response.
func decodeError(res *http.Response) error {
	e := &Error{Status: res.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if len(b) > 0 && json.Unmarshal(b, e) != nil {
		e.Detail = strings.TrimSpace(string(b[:min(len(b), 200)]))
	}
	if e.RequestID == "" {
		e.RequestID = res.Header.Get("X-Request-Id")
	}
	e.Status = res.StatusCode // the header is the truth
	if e.Title == "" {
		e.Title = http.StatusText(res.StatusCode)
	}
	return e
}

// pathEscape escapes one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }
