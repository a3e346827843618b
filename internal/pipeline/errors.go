package pipeline

import (
	"strings"

	"github.com/tributary-dev/tributary/internal/core"
)

// SpecError is returned by Decode and Compile when a pipeline document is
// not valid. It lists every problem found, so that an API can answer with
// all of them at once (RFC 9457 "errors" entries, status 422). It matches
// core.ErrInvalid with errors.Is.
type SpecError struct {
	Problems []Problem
}

// Problem is one reason a pipeline document is not valid.
type Problem struct {
	// Path is where in the document, as a dotted path with array indexes in
	// brackets: "name", "source.webhook.tolerance",
	// "mapping.fields.temp.expr", "sinks[1]". It is empty for the document
	// as a whole (for example, a JSON syntax error).
	Path string `json:"path"`
	// Message says what is wrong and, for expressions and JSON syntax, where
	// (line and column).
	Message string `json:"message"`
}

// String returns "path: message", or the message alone for the document.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

func (e *SpecError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid pipeline: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, core.ErrInvalid) true for a *SpecError.
func (e *SpecError) Is(target error) bool { return target == core.ErrInvalid }

// problems collects Problems in the order they are found.
type problems []Problem

func (ps *problems) add(path, msg string) {
	*ps = append(*ps, Problem{Path: path, Message: msg})
}

// err returns the collected problems as a *SpecError, or nil.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &SpecError{Problems: ps}
}
