package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrUnknownToken means no webhook pipeline has the token. Unknown,
// deleted and malformed tokens are all this error, so that an answer tells
// nothing of other teams' pipelines.
var ErrUnknownToken = errors.New("ingest: unknown webhook token")

// ErrPaused means the pipeline is paused: it takes no records until it is
// resumed.
var ErrPaused = errors.New("ingest: the pipeline is paused")

// ErrMisconfigured means the pipeline cannot take requests as it is
// configured (its stored spec no longer compiles, its signing secret is
// missing or malformed); its team must fix it. The error wraps the cause,
// which names no secret value.
var ErrMisconfigured = errors.New("ingest: webhook pipeline misconfigured")

// ErrUnreadableBody means the body could not be read to its end. The error
// wraps the reader's error, so that a transport can tell its own limits
// apart.
var ErrUnreadableBody = errors.New("ingest: the request body could not be read completely")

// ErrCanceled means the caller gave up (its context ended) before the
// records were stored; nothing was kept. The error wraps the context's
// error.
var ErrCanceled = errors.New("ingest: the request was cancelled")

// TooLargeError means the body is larger than the pipeline's
// max_body_bytes, as sent or once decompressed, or that it grew more than
// MaxGzipRatio times when decompressed.
type TooLargeError struct {
	// Limit is the pipeline's limit in bytes.
	Limit int64
	// Decompressed is true when the body was within the limit as sent but
	// grew past it, or past Ratio, when gzip was undone.
	Decompressed bool
	// Ratio is set (to MaxGzipRatio) when the decompressed body outgrew
	// Ratio times the body as sent, rather than the limit.
	Ratio int
}

func (e *TooLargeError) Error() string {
	if e.Ratio > 0 {
		return fmt.Sprintf("ingest: the decompressed body is more than %d times larger than the body as sent", e.Ratio)
	}
	what := "body"
	if e.Decompressed {
		what = "decompressed body"
	}
	return fmt.Sprintf("ingest: the %s is larger than the pipeline's limit of %d bytes", what, e.Limit)
}

// TooManyRecordsError means the body holds more records (array elements or
// NDJSON lines) than the pipeline's max_records; none of them was stored.
type TooManyRecordsError struct {
	// Limit is the pipeline's limit of records per request.
	Limit int
}

func (e *TooManyRecordsError) Error() string {
	return fmt.Sprintf("ingest: the request holds more than the pipeline's limit of %d records", e.Limit)
}

// UnsupportedEncodingError means the Content-Encoding is neither identity
// nor gzip.
type UnsupportedEncodingError struct {
	// Encoding is the Content-Encoding as sent, trimmed and lower-cased.
	Encoding string
}

func (e *UnsupportedEncodingError) Error() string {
	return fmt.Sprintf("ingest: Content-Encoding %q is not supported", e.Encoding)
}

// BadEncodingError means the body is not valid data of its
// Content-Encoding (gzip).
type BadEncodingError struct {
	// Encoding is the Content-Encoding ("gzip").
	Encoding string
	// Corrupt is true when the stream started well but is corrupt or
	// truncated; false when it is not of the encoding at all.
	Corrupt bool
}

func (e *BadEncodingError) Error() string {
	if e.Corrupt {
		return "ingest: the body is not valid " + e.Encoding + " data (it is corrupt or truncated)"
	}
	return "ingest: the body is not valid " + e.Encoding + " data"
}

// BadJSONError means the body is not a JSON object, a JSON array or NDJSON.
type BadJSONError struct {
	// Detail says what is wrong and where (the NDJSON line or the byte
	// offset), as one sentence for the sender.
	Detail string
}

func (e *BadJSONError) Error() string { return "ingest: " + e.Detail }

// SignatureError means the pipeline wants signed requests and the request's
// Standard Webhooks signature is missing, stale, wrong, or a replay.
type SignatureError struct {
	// Err is the signature package's error, which says which check failed.
	Err error
}

func (e *SignatureError) Error() string { return "ingest: invalid webhook signature: " + e.Err.Error() }

func (e *SignatureError) Unwrap() error { return e.Err }

// RateLimitedError means the pipeline's team sent more requests than its
// limit allows.
type RateLimitedError struct {
	// RetryAfter is how long until the team's next request is allowed.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("ingest: the team is over its webhook rate limit; retry after %s", e.RetryAfter)
}

// BusyError means the pipeline's team already has Limit requests in
// progress on this node (Config.MaxInFlight): the team sends faster than
// its requests are mapped and committed.
type BusyError struct {
	// Limit is the number of a team's requests a node works on at once.
	Limit int
	// RetryAfter is when to try again.
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("ingest: the team has %d webhook requests in progress, its limit; retry after %s", e.Limit, e.RetryAfter)
}

// Step is the part of Accept that an UnavailableError happened in.
type Step string

// The steps of Accept that depend on other parts.
const (
	// StepLookup resolves the token (the store, the secrets vault).
	StepLookup Step = "look up webhook"
	// StepVerify checks the signature against the replay guard.
	StepVerify Step = "webhook replay check"
	// StepStore commits the records (the engine).
	StepStore Step = "store records"
)

// UnavailableError means a part ingest depends on failed; nothing of the
// request was kept, and the sender should retry shortly.
type UnavailableError struct {
	// Step is what could not be done.
	Step Step
	// Pipeline is the token's pipeline; Nil when the lookup failed.
	Pipeline uuid.UUID
	// Err is the cause, for the log.
	Err error
}

func (e *UnavailableError) Error() string {
	if e.Pipeline != uuid.Nil {
		return fmt.Sprintf("ingest: %s: pipeline %s: %v", e.Step, e.Pipeline, e.Err)
	}
	return fmt.Sprintf("ingest: %s: %v", e.Step, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }
