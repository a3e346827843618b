// Package sink delivers committed batches to destinations outside
// Tributary: HTTP endpoints, object storage files, PostgreSQL tables,
// Kafka topics. Each destination kind is one file that registers a Kind;
// the delivery machinery (River jobs, retries, dead deliveries, replay)
// knows only this package's types and never switches on a kind's name.
//
// Delivery is at least once: a Sink may see the same batch more than once
// (after a crash or a retry), and every delivery carries a stable
// idempotency id that a receiver can use to drop repeats.
package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/schema"
)

// Batch is what one delivery carries to one sink.
type Batch struct {
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Pipeline   string // the pipeline's name, for file names and headers
	Sink       string // the sink's name within the pipeline
	// DeliveryID is stable across retries and replays of the same
	// records to the same sink: the idempotency id receivers dedupe on.
	DeliveryID string
	Records    []core.Record
	// Fields lists the mapped fields in a stable order, with their
	// declared types ("" when undeclared), for kinds that need a schema
	// (CSV columns, Parquet, table columns).
	Fields []Field
}

// Field is one mapped field of a pipeline's records.
type Field struct {
	Name string
	Type string // string, number, integer, boolean, time, object, array, or ""
}

// Sink is an open destination. Deliver returns nil only when the
// destination acknowledged the whole batch. Errors say whether retrying
// can help: wrap with Permanent for errors no retry can fix (a 4xx answer,
// a missing table), return a *RetryAfterError when the destination asked
// to wait, anything else is retried with backoff.
//
// A Sink is used by one delivery at a time per process (or up to its
// Kind's Concurrency) and closed with Close when its configuration changes,
// when it has been idle a while, or when the process stops.
type Sink interface {
	Deliver(ctx context.Context, b Batch) error
	Close() error
}

// BatchLimiter is implemented by a Sink whose settings lower its kind's
// MaxBatch (an HTTP sink's records per request, for example): the
// delivery machinery splits batches to the smaller of the two.
type BatchLimiter interface {
	MaxBatch() int
}

// Deps are the shared parts a kind may use to open a sink.
type Deps struct {
	// HTTPClient is the SSRF-safe client (netguard) for every
	// user-supplied URL; it must not follow redirects for HTTP sinks.
	HTTPClient *http.Client
	// Dial is the SSRF-safe dialer for non-HTTP protocols (Kafka,
	// PostgreSQL).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Secret returns the plaintext of the team's secret with that name,
	// or an error wrapping core.ErrNotFound.
	Secret func(ctx context.Context, teamID uuid.UUID, name string) ([]byte, error)
	// CheckURL validates a user-supplied URL at save time (scheme and
	// literal addresses), as netguard.Guard.CheckURL does.
	CheckURL func(rawURL string) error
}

// Kind is one kind of destination. A kind is one file that declares a
// Kind, plus one line in Builtin; nothing else names it.
type Kind struct {
	// Name is the key of the kind's settings in a sink spec ("http",
	// "blob", "postgres", "kafka").
	Name string
	// Summary says in one line what the kind does, for docs and errors.
	Summary string
	// Description says more, in Markdown, for the docs and the API.
	Description string
	// NewSettings returns a pointer to the zero value of the Go type the
	// settings decode into (strictly: unknown settings are refused). Its
	// type is the kind's settings schema (see Schema).
	NewSettings func() any
	// Secrets lists the team secrets decoded settings name, with paths
	// relative to the settings ("auth.secret"). It must work on any
	// settings, valid or not, so that a secret in use by a stored spec
	// cannot be deleted. Nil: the kind uses no secrets.
	Secrets func(settings any) []SecretRef
	// Example is valid settings, as JSON, shown in the docs and the API.
	Example string
	// MaxBatch is the most records one delivery may carry; bigger batches
	// are split before delivery. 0 means no limit.
	MaxBatch int
	// Concurrency is how many deliveries one open sink may carry at the
	// same time in one process. 0 means 1: Deliver is never called
	// concurrently.
	Concurrency int
	// Validate checks the kind's settings at save time and returns the
	// team secrets they reference by name, so a missing secret is
	// refused at save.
	Validate func(settings json.RawMessage, deps Deps) (secrets []string, err error)
	// Open builds a sink from valid settings.
	Open func(ctx context.Context, teamID uuid.UUID, settings json.RawMessage, deps Deps) (Sink, error)
	// Canonical, when set, rewrites settings in the kind's current
	// vocabulary (old spellings it still accepts replaced by the current
	// ones) and reports whether it changed anything. It must accept any
	// JSON, returning what it cannot read unchanged.
	Canonical func(settings json.RawMessage) (json.RawMessage, bool)
	// Notes, when set, says how the server reads settings that do not
	// mean what they seem to, for the API to show with the sink. Nil or
	// empty: nothing to say.
	Notes func(settings json.RawMessage) []string
}

// Schema returns the JSON Schema (draft 2020-12) of the kind's settings,
// from the type NewSettings returns.
func (k Kind) Schema() json.RawMessage {
	return schema.FromType(reflect.TypeOf(k.NewSettings()).Elem())
}

// SecretRef is a team secret that a sink's settings name.
type SecretRef struct {
	// Path is where, relative to the settings: "signing_secret".
	Path string
	// Name is the secret's name.
	Name string
	// Signing is set for a secret that must hold a Standard Webhooks
	// signing secret (whsec_…).
	Signing bool
}

// Registry holds the kinds a process knows. It is immutable once built
// and safe for concurrent use; it is a value, so tests can build their
// own.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry returns a registry with the given kinds. It panics on a
// kind without a name, summary, settings type, example, validation or
// opener, or on two kinds of one name: a programming error.
func NewRegistry(kinds ...Kind) *Registry {
	r := &Registry{kinds: map[string]Kind{}}
	for _, k := range kinds {
		if k.Name == "" || k.Summary == "" || k.NewSettings == nil || k.Example == "" || k.Validate == nil || k.Open == nil {
			panic(fmt.Sprintf("sink: kind %q is incomplete", k.Name))
		}
		if _, dup := r.kinds[k.Name]; dup {
			panic(fmt.Sprintf("sink: kind %q registered twice", k.Name))
		}
		r.kinds[k.Name] = k
	}
	return r
}

// Builtin returns a registry of the kinds Tributary ships; blob configures
// the blob kind. A new kind is one file in this package and one entry
// here.
func Builtin(blob BlobConfig) *Registry {
	return NewRegistry(
		HTTPKind,
		BlobKind(blob),
		PostgresKind,
		KafkaKind,
	)
}

// CanonicalSink rewrites the settings of a sink object of a spec
// ({"name": …, "<kind>": {settings}}) in its kind's current vocabulary
// (Kind.Canonical), reporting whether it changed anything. A sink it
// cannot read is returned unchanged.
func (r *Registry) CanonicalSink(raw json.RawMessage) (json.RawMessage, bool) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return raw, false
	}
	changed := false
	for name, settings := range members {
		if k, ok := r.kinds[name]; ok && k.Canonical != nil {
			if out, ok := k.Canonical(settings); ok {
				members[name], changed = out, true
			}
		}
	}
	if !changed {
		return raw, false
	}
	out, err := json.Marshal(members)
	if err != nil {
		return raw, false
	}
	return out, true
}

// NotesOf returns the notes of the named kind on settings (Kind.Notes).
func (r *Registry) NotesOf(kind string, settings json.RawMessage) []string {
	k, ok := r.kinds[kind]
	if !ok || k.Notes == nil {
		return nil
	}
	return k.Notes(settings)
}

// Kinds lists the kinds by name.
func (r *Registry) Kinds() []Kind {
	out := make([]Kind, 0, len(r.kinds))
	for _, n := range r.Names() {
		out = append(out, r.kinds[n])
	}
	return out
}

// SecretsOf lists the team secrets that settings of the named kind name,
// with paths relative to the settings. It reads them leniently, so that
// it works on any stored spec; an unknown kind names none.
func (r *Registry) SecretsOf(kind string, settings json.RawMessage) []SecretRef {
	k, ok := r.kinds[kind]
	if !ok || k.Secrets == nil {
		return nil
	}
	v := k.NewSettings()
	// A value of the wrong type leaves its field empty; the others are
	// still read.
	if err := json.Unmarshal(settings, v); err != nil {
		if _, typeErr := err.(*json.UnmarshalTypeError); !typeErr {
			return nil
		}
	}
	return k.Secrets(v)
}

// Kind returns the kind of that name.
func (r *Registry) Kind(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the kinds' names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// PermanentError is a failure that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterError is a failure where the destination said when to try
// again (HTTP 429 or 503 with Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// GoneError means the destination is gone for good (HTTP 410): the sink
// is disabled rather than retried.
type GoneError struct{ Err error }

func (e *GoneError) Error() string { return e.Err.Error() }
func (e *GoneError) Unwrap() error { return e.Err }
