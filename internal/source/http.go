package source

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/internal/mapping"
)

// HTTPSpec is the spec of an HTTP source (source.http):
//
//	"http": {
//	  "url": "https://api.example.com/v1/observations",
//	  "query": {"station": "10384", "since": "{{ state.since }}"},
//	  "auth": {"type": "bearer", "secret": "weather-token"},
//	  "records": "data.items",
//	  "pagination": {"type": "cursor", "next": "meta.next", "param": "cursor", "max_pages": 10},
//	  "dedup": {"key": "id", "window": "24h"}
//	}
type HTTPSpec struct {
	// URL is the http or https URL to poll. Templates may fill in its
	// path and query, not its host.
	URL string `json:"url"`
	// Method is GET (the default) or POST.
	Method string `json:"method,omitempty"`
	// Query holds query parameters, added to those of the URL: strings
	// (templated), numbers, booleans, or lists of them for a repeated
	// parameter.
	Query map[string]any `json:"query,omitempty"`
	// Headers holds request headers (templated). Credentials go in Auth.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the body of a POST: a JSON value sent as JSON, whose strings
	// may hold templates, or a string sent as it is (set Content-Type in
	// Headers).
	Body any `json:"body,omitempty"`
	// Auth authenticates the requests.
	Auth *AuthSpec `json:"auth,omitempty"`
	// Format is how responses are read: json, ndjson or csv; empty
	// follows the Content-Type (JSON when it says nothing known).
	Format string `json:"format,omitempty"`
	// Records is the path of the records in a JSON response, such as
	// "data.items"; empty means the response itself (an array of records,
	// or one object).
	Records string `json:"records,omitempty"`
	// Pagination says how to get the next pages.
	Pagination *PaginationSpec `json:"pagination,omitempty"`
	// Dedup drops records stored before.
	Dedup *DedupSpec `json:"dedup,omitempty"`
	// Timeout bounds each request, such as "30s" (the default); 1s to 5m.
	Timeout string `json:"timeout,omitempty"`
	// MaxBytes bounds each response body, below the server's own limit.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// HTTPKind polls an HTTP API.
var HTTPKind = Kind{
	Name:    "http",
	Summary: "Polls an HTTP API: JSON, NDJSON or CSV responses, with authentication, pagination and incremental state.",
	Description: "Sends GET or POST requests to an HTTP API on the pipeline's interval and reads the records of the responses. " +
		"URL path and query, headers and body may refer to the pipeline's state as `{{ state.NAME }}`; " +
		"credentials are team secrets named in `auth`; `pagination` follows pages, offsets, cursors or Link headers " +
		"up to `max_pages`; `dedup` drops records stored before.",
	NewSpec: func() any { return new(HTTPSpec) },
	Build:   buildHTTP,
	Secrets: func(spec any) []SecretRef { return spec.(*HTTPSpec).Auth.secrets("auth") },
	Example: `{"url":"https://api.example.com/v1/observations","query":{"station":"10384","since":"{{ state.since }}"},` +
		`"auth":{"type":"bearer","secret":"weather-token"},"records":"data.items",` +
		`"pagination":{"type":"cursor","next":"meta.next","param":"cursor","max_pages":10},"dedup":{"key":"id","window":"24h"}}`,
}

type httpSource struct {
	method   string
	url      urlTemplate
	query    []queryParam
	headers  []headerTmpl
	body     *jsonTemplate
	bodyText *template
	auth     *authConf
	format   string
	records  mapping.Path
	pager    *pager
	maxPages int
	timeout  time.Duration
	maxBytes int64
}

func buildHTTP(spec any, b *Builder) Fetcher {
	s := spec.(*HTTPSpec)
	h := &httpSource{method: strings.ToUpper(s.Method), format: s.Format}
	if h.method == "" {
		h.method = http.MethodGet
	}
	if h.method != http.MethodGet && h.method != http.MethodPost {
		b.Problem("method", fmt.Sprintf("%q is not GET or POST", s.Method))
	}
	h.url = b.urlTemplate("url", s.URL)
	h.query = b.query("query", s.Query)
	h.headers = b.headers("headers", s.Headers)
	switch body := s.Body.(type) {
	case nil:
	case string:
		t := b.template("body", body)
		h.bodyText = &t
	default:
		jt := b.jsonTemplate("body", body)
		h.body = &jt
	}
	if s.Body != nil && h.method == http.MethodGet {
		b.Problem("body", `is sent with POST only; set "method": "POST"`)
	}
	h.auth = b.auth("auth", s.Auth)
	switch s.Format {
	case "", FormatJSON:
	case FormatNDJSON, FormatCSV:
		if s.Records != "" {
			b.Problem("records", fmt.Sprintf("applies to JSON responses; every %s row is a record", s.Format))
		}
	default:
		b.Problem("format", fmt.Sprintf(`%q is not a format: use "json", "ndjson" or "csv", or leave it out to follow the Content-Type`, s.Format))
	}
	h.records = b.path("records", s.Records)
	h.pager, h.maxPages = b.pagination("pagination", s.Pagination)
	if h.pager != nil && h.pager.typ == "cursor" && (s.Format == FormatNDJSON || s.Format == FormatCSV) {
		b.Problem("pagination.type", "cursor pagination reads the cursor from a JSON response; use link, page or offset pagination")
	}
	b.dedupSpec("dedup", s.Dedup)
	h.timeout = b.duration("timeout", s.Timeout, DefaultTimeout, time.Second, MaxTimeout)
	if s.MaxBytes < 0 || s.MaxBytes > 0 && s.MaxBytes < 1024 {
		b.Problem("max_bytes", "must be at least 1024")
	}
	h.maxBytes = s.MaxBytes
	return h
}

// Fetch implements Fetcher.
func (h *httpSource) Fetch(ctx context.Context, r *Run) error {
	auth, err := r.openAuth(ctx, h.auth)
	if err != nil {
		return err
	}
	vals := r.Values()
	first, err := renderURL(h.url, h.query, vals)
	if err != nil {
		return err
	}
	header := renderHeaders(h.headers, vals)
	if header.Get("Accept") == "" {
		header.Set("Accept", acceptFor(h.format))
	}
	var body []byte
	switch {
	case h.body != nil:
		body, err = json.Marshal(h.body.render(vals))
		if err != nil {
			return errorf("the request body cannot be encoded: %v", err)
		}
		if header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/json")
		}
	case h.bodyText != nil:
		body = []byte(h.bodyText.render(vals, noEscape))
	}
	pages := h.pager.begin(first)
	maxPages := r.MaxPages(h.maxPages)
	for page := 1; ; page++ {
		resp, err := r.send(ctx, &request{method: h.method, url: pages.url(), header: header, body: body,
			timeout: h.timeout, maxBytes: h.maxBytes, auth: auth})
		if err != nil {
			return err
		}
		recs, doc, err := h.decode(resp)
		if err != nil {
			return errorf("%s %s: %v", h.method, redactedURL(pages.url()), err)
		}
		if doc != nil {
			r.Seen(doc)
		}
		if !r.Add(recs) {
			return nil
		}
		more, err := pages.advance(resp, doc, len(recs))
		if err != nil || !more {
			return err
		}
		if page >= maxPages {
			r.More()
			return nil
		}
	}
}

// decode reads the records of a response.
func (h *httpSource) decode(resp *response) (recs []any, doc any, err error) {
	switch formatOf(h.format, resp.header.Get("Content-Type")) {
	case FormatNDJSON:
		recs, err = decodeNDJSON(resp.body)
		return recs, nil, err
	case FormatCSV:
		recs, err = decodeCSV(resp.body)
		return recs, nil, err
	}
	if len(bytes.TrimSpace(resp.body)) == 0 && resp.status == http.StatusNoContent {
		return nil, nil, nil
	}
	doc, err = decodeJSON(resp.body)
	if err != nil {
		return nil, nil, err
	}
	recs, err = recordsAt(doc, h.records)
	return recs, doc, err
}

func acceptFor(format string) string {
	switch format {
	case FormatJSON:
		return "application/json"
	case FormatNDJSON:
		return "application/x-ndjson"
	case FormatCSV:
		return "text/csv"
	}
	return "application/json, application/x-ndjson;q=0.9, text/csv;q=0.8, */*;q=0.5"
}
