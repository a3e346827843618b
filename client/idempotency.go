package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

type idempotencyKey struct{}

// WithIdempotencyKey returns a context that makes the POSTs sent with it
// carry the Idempotency-Key header. Retrying a create (CreatePipeline,
// CreateSink, CreateSecret, CreateToken, Upload, StartReplay…) with the
// same key and the same request answers the first success again instead of
// creating twice, for 24 hours; the same key with another request fails
// with a 422 *Error, and a retry while the first request runs with a 409
// *Error (IsInProgress). Keys are per team and per user or API token; use
// a new key (NewIdempotencyKey) for each new request.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

// NewIdempotencyKey returns a random key for WithIdempotencyKey.
func NewIdempotencyKey() string { return rand.Text() }

// idempotencyKeyFrom returns the key of ctx, or "".
func idempotencyKeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKey{}).(string)
	return k
}

// IsInProgress reports whether err is the server's answer to a retry whose
// first request, with the same Idempotency-Key, is still running: retry it
// after a moment to get the first request's answer.
func IsInProgress(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Status == http.StatusConflict && len(e.Errors) > 0 && e.Errors[0].Location == "header.Idempotency-Key"
}

// IngestResult is the answer of a webhook (operation post-hook).
type IngestResult struct {
	// Accepted counts the records stored (or delivered, with persist off).
	Accepted int `json:"accepted"`
	// Rejected counts the records that failed mapping or validation; they
	// are kept as rejected records.
	Rejected int `json:"rejected"`
	// RunID is the run the records were counted in.
	RunID string `json:"run_id,omitempty"`
}

// Ingest POSTs records to a webhook pipeline's ingest URL (its
// Pipeline.IngestURL; operation post-hook). records is sent as JSON: an
// object, or an array of objects. The ingest URL is the credential: the
// client's API token is not sent with it.
func (c *Client) Ingest(ctx context.Context, ingestURL string, records any) (*IngestResult, error) {
	u, err := url.Parse(ingestURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasPrefix(u.Path, "/hooks/") {
		return nil, fmt.Errorf("client: %q is not an ingest URL (http(s)://…/hooks/…)", redactHook(ingestURL))
	}
	b, err := json.Marshal(records)
	if err != nil {
		return nil, fmt.Errorf("encode records: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, application/problem+json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ingest to %s: %w", u.Host, unwrapURLError(err))
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return nil, decodeError(res)
	}
	var out IngestResult
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("ingest: decode the answer: %w", err)
	}
	return &out, nil
}

// redactHook hides the token of an ingest URL in errors.
func redactHook(s string) string {
	if i := strings.Index(s, "/hooks/"); i >= 0 {
		return s[:i] + "/hooks/…"
	}
	return s
}
