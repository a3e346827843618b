package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Limits of a poll that the spec cannot raise.
const (
	// DefaultMaxPages is how many pages one poll fetches when the spec's
	// pagination does not say.
	DefaultMaxPages = 10
	// MaxPagesLimit is the largest max_pages a spec may ask for.
	MaxPagesLimit = 1000
	// DefaultMaxRecords bounds the records of one poll (Env.MaxRecords).
	DefaultMaxRecords = 100_000
	// DefaultRetries is how often a request answered 429 or 503 is tried
	// again within one poll (Env.Retries).
	DefaultRetries = 3
	// DefaultMaxRetryWait is the longest Retry-After a poll waits out
	// itself (Env.MaxRetryWait); a longer one fails the poll and the
	// scheduler waits instead.
	DefaultMaxRetryWait = 30 * time.Second
	// DefaultTimeout bounds one request when the spec does not say.
	DefaultTimeout = 30 * time.Second
	// MaxTimeout is the longest per-request timeout a spec may ask for.
	MaxTimeout = 5 * time.Minute
	// sampleBytes is how much of the first response a Result keeps.
	sampleBytes = 64 << 10
)

// SecretOpener opens a team secret by name, for the team the poll runs
// for. vault.Vault.Open, bound to a team, is one.
type SecretOpener func(ctx context.Context, name string) ([]byte, error)

// Env is what polls need from the process. One Env is shared by all the
// polls of a process; only Secrets is per team, so a caller copies the Env
// and sets it for each poll.
type Env struct {
	// Client sends every request; it goes through the SSRF guard.
	Client *Client
	// Secrets opens the team's secrets; nil fails a poll that needs one.
	Secrets SecretOpener
	// Limiter limits requests per host; nil means no limit.
	Limiter *HostLimiter
	// Tokens caches OAuth2 access tokens between polls; nil fetches a
	// token for every poll.
	Tokens *TokenCache
	// MaxPages, when positive, lowers the page bound of every poll (a
	// preview asks for one page or two).
	MaxPages int
	// MaxRecords bounds the records of one poll; the poll stops paging
	// once it has them. Zero means DefaultMaxRecords.
	MaxRecords int
	// Retries is how often a request answered 429 or 503 is sent again
	// within a poll; zero means DefaultRetries, negative none.
	Retries int
	// MaxRetryWait is the longest wait a poll takes on itself for a 429 or
	// 503; zero means DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	// Log receives debug lines about requests (URLs redacted); nil logs
	// nothing.
	Log *slog.Logger
}

// SecretRef is a team secret a spec names.
type SecretRef struct {
	// Path is where the spec names it, relative to the source
	// ("http.auth.secret").
	Path string
	Name string
}

// Values are a pipeline's incremental state: the value of each state
// variable, as JSON values (strings, json.Number, bool, nil, maps, slices).
type Values map[string]any

// Source is a compiled polled source: a kind's fetcher with the state
// variables, dedup settings and secrets of the spec. It is immutable and
// safe for concurrent polls.
type Source struct {
	kind    string
	fetcher Fetcher
	state   []stateVar
	dedup   *dedup
	secrets []SecretRef
}

// Kind names the source's kind ("http", "graphql").
func (s *Source) Kind() string { return s.kind }

// Secrets lists the team secrets the spec names.
func (s *Source) Secrets() []SecretRef { return s.secrets }

// DedupWindow reports how long the keys of stored records are remembered,
// and whether the spec asks for dedup at all.
func (s *Source) DedupWindow() (time.Duration, bool) {
	if s.dedup == nil {
		return 0, false
	}
	return s.dedup.window, true
}

// Result is what one poll fetched.
type Result struct {
	// Records are the records found, in the order of the responses, as
	// decoded JSON values (objects for CSV rows).
	Records []any
	// Keys holds the dedup key of each record (nil for a record whose key
	// is missing); nil when the spec has no dedup.
	Keys [][]byte
	// State is the state after the poll: the variables the records and
	// responses moved, the others as they were.
	State Values
	// Requests counts the HTTP requests sent, retries included; Pages
	// the pages read; Bytes the response bytes read.
	Requests int
	Pages    int
	Bytes    int64
	// Sent is when the poll's first request went out, after any wait for
	// the per-host rate limit (zero if none did).
	Sent time.Time
	// More is true when the poll stopped at its page or record bound while
	// the API had more.
	More bool
	// Sample is the beginning of the first response body, for previews.
	// It may hold credentials an API echoes: pass it through Redact.
	Sample []byte

	red *redactor
}

// Redact removes the poll's credentials (secret values, their encodings,
// tokens) from s, for showing what the API answered to a user: an API may
// echo what it was sent.
func (r *Result) Redact(s string) string {
	if r == nil || r.red == nil {
		return s
	}
	return r.red.redact(s)
}

// Error is a failed poll, fit for a run row: it says what went wrong in
// one sentence, without secret values, tokens or query values.
type Error struct {
	// Msg is the reason.
	Msg string
	// RetryAfter is how long the API asked to wait (429 or 503 with
	// Retry-After) when that is why the poll failed.
	RetryAfter time.Duration
	// Status is the HTTP status that failed the poll, if one did.
	Status int
}

func (e *Error) Error() string { return e.Msg }

// Poll runs one poll from the state prev (nil for the first poll) and
// returns what it fetched. A failed poll returns an *Error, or the
// context's error when ctx ended.
func (s *Source) Poll(ctx context.Context, env *Env, prev Values) (*Result, error) {
	r := &Run{
		env:  env,
		src:  s,
		vals: s.startValues(prev),
		res:  &Result{},
		red:  newRedactor(),
	}
	r.res.red = r.red
	r.resp = make(Values)
	if err := s.fetcher.Fetch(ctx, r); err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
		return nil, r.fail(err)
	}
	res := r.res
	res.State = s.nextState(r.vals, res.Records, r.resp)
	if s.dedup != nil {
		keys, err := s.dedup.keys(res.Records)
		if err != nil {
			return nil, r.fail(err)
		}
		res.Keys = keys
	}
	return res, nil
}

// InitialState returns the state a first poll starts from: each
// variable's initial value.
func (s *Source) InitialState() Values { return s.startValues(nil) }

// Run is one poll in progress, as a Fetcher sees it.
type Run struct {
	env  *Env
	src  *Source
	vals Values // the state the poll started from
	resp Values // state variables read from responses so far
	res  *Result
	red  *redactor
}

// Values returns the state the poll started from, for templates.
func (r *Run) Values() Values { return r.vals }

// MaxPages returns the page bound of the poll: the spec's (0 meaning
// DefaultMaxPages), lowered by the Env's.
func (r *Run) MaxPages(spec int) int {
	n := spec
	if n <= 0 {
		n = DefaultMaxPages
	}
	if r.env.MaxPages > 0 && r.env.MaxPages < n {
		n = r.env.MaxPages
	}
	return n
}

// Add adds the records of one page. It reports false when the poll has
// reached its record bound: the fetcher then stops, and the records over
// the bound are dropped.
func (r *Run) Add(records []any) bool {
	max := r.env.MaxRecords
	if max <= 0 {
		max = DefaultMaxRecords
	}
	r.res.Pages++
	room := max - len(r.res.Records)
	if len(records) >= room {
		r.res.Records = append(r.res.Records, records[:room]...)
		if len(records) > room {
			r.res.More = true
		}
		return len(records) < room
	}
	r.res.Records = append(r.res.Records, records...)
	return true
}

// More records that the poll stopped at its page bound with pages left.
func (r *Run) More() { r.res.More = true }

// Seen passes a decoded response body to the state variables read from
// responses: the last response where a variable's path holds a non-empty
// value sets it.
func (r *Run) Seen(doc any) {
	for _, v := range r.src.state {
		if v.kind != fromResponse {
			continue
		}
		if x, ok := v.response.Lookup(doc); ok && !emptyValue(x) {
			r.resp[v.name] = x
		}
	}
}

// fail turns an error of a fetch into an *Error without secrets.
func (r *Run) fail(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		out := *pe
		out.Msg = r.red.redact(pe.Msg)
		return &out
	}
	return &Error{Msg: r.red.redact(err.Error())}
}

// debug logs a debug line when the Env has a logger.
func (r *Run) debug(msg string, args ...any) {
	if r.env.Log != nil {
		r.env.Log.Debug(msg, args...)
	}
}

// errorf builds an *Error.
func errorf(format string, args ...any) *Error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// emptyValue reports a missing cursor: null or the empty string.
func emptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	}
	return false
}
