package orchestrator

import (
	"errors"
	"fmt"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

// Kinds of domain errors. Every error a use case returns on purpose is an
// *Error whose Kind is one of these (errors.Is works with them), or an
// error of the layers below wrapping the core sentinels; anything else is
// a failure of the server.
var (
	// ErrNotFound: the pipeline, sink, delivery, replay, secret or team
	// does not exist or is not the caller's; the two are not told apart.
	ErrNotFound = core.ErrNotFound
	// ErrForbidden: the caller's role in the team is too low.
	ErrForbidden = account.ErrForbidden
	// ErrConflict: the change contradicts the current state (a name
	// taken, a secret in use, a pipeline of the wrong kind or status).
	ErrConflict = core.ErrConflict
	// ErrVersionConflict: the pipeline changed since the version the
	// change was based on.
	ErrVersionConflict = errors.New("the pipeline changed since it was read")
	// ErrInvalid: the input breaks a rule; Error.Problems says where.
	ErrInvalid = core.ErrInvalid
	// ErrMalformed: the input is not of the expected shape at all (not a
	// JSON object where one is needed).
	ErrMalformed = errors.New("malformed input")
	// ErrUnavailable: the use case needs a part this server does not run
	// (polling).
	ErrUnavailable = errors.New("not available on this server")
)

// Error is a domain error: its Kind, the sentence a user sees, and for
// ErrInvalid the problems with their paths in the request's body ("" is
// the body itself, "sinks[0].http.url", "spec.mapping", "kind").
type Error struct {
	Kind     error
	Msg      string
	Problems []pipeline.Problem
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func invalid(msg string, problems ...pipeline.Problem) *Error {
	return &Error{Kind: ErrInvalid, Msg: msg, Problems: problems}
}

// Messages used by more than one use case.
var (
	errNoPipeline      = newError(ErrNotFound, "There is no such pipeline in the team.")
	errChangedMeantime = newError(ErrVersionConflict, "The pipeline was changed by someone else at the same time; fetch it and apply your change again.")
	errNoPolling       = newError(ErrUnavailable, "Polling is not running on this server.")
)

func versionConflict(want, have int) *Error {
	return newError(ErrVersionConflict, "The pipeline is at version %d, not %d: it changed since you read it; fetch it and apply your change again.", have, want)
}
