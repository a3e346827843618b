package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tributary-dev/tributary/internal/netguard"
)

// Client sends the requests of polls. It is the SSRF guard's client with
// one more rule for redirects: a redirect to another origin loses the
// headers that carry credentials, whatever their names (Go drops only
// Authorization and Cookie, and only for other domains).
type Client struct {
	hc *http.Client
}

// NewClient returns a Client on the guard g.
func NewClient(g *netguard.Guard) *Client {
	hc := g.Client()
	check := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := check(req, via); err != nil {
			return err
		}
		if !sameOrigin(req.URL, via[0].URL) {
			req.Header.Del("Authorization")
			req.Header.Del("Cookie")
			if names, ok := req.Context().Value(credentialHeadersKey{}).([]string); ok {
				for _, n := range names {
					req.Header.Del(n)
				}
			}
		}
		return nil
	}
	// OAuth2 token requests use the same guarded client.
	return &Client{hc: hc}
}

// credentialHeadersKey marks, in a request's context, the header names
// that carry credentials.
type credentialHeadersKey struct{}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// request describes one request of a poll; Send builds a fresh
// *http.Request from it for every attempt.
type request struct {
	method  string
	url     *url.URL
	header  http.Header
	body    []byte
	timeout time.Duration
	// maxBytes bounds the body read, below the guard's own limit; 0 means
	// the guard's limit only.
	maxBytes int64
	auth     *authState
}

// response is a read response.
type response struct {
	status int
	header http.Header
	body   []byte
	url    *url.URL // after redirects
}

// send sends req, waits out 429 and 503 answers as Env allows, and reads
// the body. Any status other than 2xx fails.
func (r *Run) send(ctx context.Context, req *request) (*response, error) {
	retries := r.env.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	maxWait := r.env.MaxRetryWait
	if maxWait <= 0 {
		maxWait = DefaultMaxRetryWait
	}
	refreshed := false
	for attempt := 0; ; attempt++ {
		resp, err := r.sendOnce(ctx, req)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.status >= 200 && resp.status < 300:
			return resp, nil
		case resp.status == http.StatusUnauthorized && req.auth != nil && req.auth.canRefresh() && !refreshed:
			// A cached OAuth2 token may have been revoked early: get a new
			// one and try once more.
			refreshed = true
			if err := req.auth.refresh(ctx, r); err != nil {
				return nil, err
			}
			continue
		case resp.status == http.StatusTooManyRequests || resp.status == http.StatusServiceUnavailable:
			wait, given := retryAfter(resp.header.Get("Retry-After"), time.Now())
			if !given {
				wait = time.Second << attempt
			}
			if attempt < retries && wait <= maxWait {
				r.debug("poll: waiting before retrying", "url", netguard.RedactURL(req.url.String()), "status", resp.status, "wait", wait)
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil, fmt.Errorf("%s %s: %w", req.method, netguard.RedactURL(req.url.String()), ctx.Err())
				case <-t.C:
				}
				continue
			}
			e := statusError(req, resp)
			if given {
				e.RetryAfter = wait
				e.Msg += "; it asked to retry after " + wait.Round(time.Second).String()
			}
			return nil, e
		default:
			return nil, statusError(req, resp)
		}
	}
}

// sendOnce makes one attempt.
func (r *Run) sendOnce(ctx context.Context, req *request) (*response, error) {
	where := req.method + " " + netguard.RedactURL(req.url.String())
	if err := r.env.Limiter.Wait(ctx, req.url.Host); err != nil {
		return nil, fmt.Errorf("%s: waiting for the per-host rate limit: %w", where, err)
	}
	timeout := req.timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := *req.url
	var names []string
	hreq, err := http.NewRequestWithContext(ctx, req.method, u.String(), bytes.NewReader(req.body))
	if err != nil {
		return nil, errorf("%s: the request cannot be built: %v", where, unwrapURLError(err))
	}
	if req.body == nil {
		hreq.Body, hreq.GetBody, hreq.ContentLength = nil, nil, 0
	}
	hreq.Header = req.header.Clone()
	if hreq.Header == nil {
		hreq.Header = make(http.Header)
	}
	if r.env.UserAgent != "" && hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", r.env.UserAgent)
	}
	if req.auth != nil {
		if names, err = req.auth.apply(ctx, r, hreq); err != nil {
			return nil, err
		}
	}
	if len(names) > 0 {
		hreq = hreq.WithContext(context.WithValue(ctx, credentialHeadersKey{}, names))
	}
	r.res.Requests++
	start := time.Now()
	if r.res.Sent.IsZero() {
		r.res.Sent = start
	}
	hresp, err := r.env.Client.hc.Do(hreq)
	if err != nil {
		return nil, requestError(where, timeout, err)
	}
	defer hresp.Body.Close()
	var body io.Reader = hresp.Body
	if req.maxBytes > 0 {
		body = io.LimitReader(hresp.Body, req.maxBytes+1)
	}
	data, err := io.ReadAll(body)
	r.res.Bytes += int64(len(data))
	if err != nil {
		return nil, requestError(where+": reading the response", timeout, err)
	}
	if req.maxBytes > 0 && int64(len(data)) > req.maxBytes {
		return nil, errorf("%s: the response is larger than max_bytes (%d bytes)", where, req.maxBytes)
	}
	r.debug("poll: request", "method", req.method, "url", netguard.RedactURL(req.url.String()), "status", hresp.StatusCode,
		"bytes", len(data), "duration", time.Since(start))
	if r.res.Sample == nil {
		r.res.Sample = data[:min(len(data), sampleBytes)]
	}
	return &response{status: hresp.StatusCode, header: hresp.Header, body: data, url: hresp.Request.URL}, nil
}

// requestError describes a failed request without its URL's query values.
func requestError(where string, timeout time.Duration, err error) error {
	err = unwrapURLError(err)
	switch {
	case errors.Is(err, netguard.ErrForbidden):
		return errorf("%s: refused by the SSRF guard: %v", where, err)
	case errors.Is(err, netguard.ErrResponseTooLarge):
		return errorf("%s: %v", where, err)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return errorf("%s: timed out after %s", where, timeout)
	}
	return errorf("%s: %v", where, err)
}

// unwrapURLError drops the *url.Error around a transport error: it quotes
// the URL with its query.
func unwrapURLError(err error) error {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// statusError describes a response with a failing status, with the
// beginning of its body (APIs say there what was wrong).
func statusError(req *request, resp *response) *Error {
	msg := fmt.Sprintf("%s %s: the API answered %d %s", req.method, netguard.RedactURL(req.url.String()), resp.status, http.StatusText(resp.status))
	if s := snippet(resp.body, 200); s != "" {
		msg += ": " + s
	}
	return &Error{Msg: msg, Status: resp.status}
}

// snippet returns the beginning of a body as one line of text, or "" for
// a body that is not text.
func snippet(body []byte, n int) string {
	if len(body) > n {
		body = body[:n]
		for len(body) > 0 && !utf8.Valid(body) {
			body = body[:len(body)-1]
		}
	}
	if !utf8.Valid(body) {
		return ""
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	for _, r := range s {
		if r < 0x20 {
			return ""
		}
	}
	return s
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > 7*24*3600 {
			n = 7 * 24 * 3600
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, 7*24*time.Hour), true
	}
	return 0, false
}

func redactedURL(u interface{ String() string }) string { return netguard.RedactURL(u.String()) }
