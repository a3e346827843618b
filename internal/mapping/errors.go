package mapping

import (
	"errors"
	"fmt"
	"strings"
)

// ErrRecords is wrapped by the error Apply returns when the input as a whole
// has no records where the spec says: the records path is missing or is not
// an array, or the input is neither an object nor an array.
var ErrRecords = errors.New("records not found")

// CompileError is returned by Compile when the spec is not valid. It lists
// every problem found, in a stable order.
type CompileError struct {
	Problems []Problem `json:"problems"`
}

// Problem is one reason a spec does not compile.
type Problem struct {
	// Field is where in the spec, as a dotted path: "records",
	// "timestamp.format", "fields.temperature_c.expr", "expr".
	Field string `json:"field"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Line and Column locate the problem in an expression, 1-based; zero
	// when the problem is not in an expression.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// String renders the problem as "field: message (line L, column C)".
func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d, column %d)", p.Field, p.Message, p.Line, p.Column)
	}
	return p.Field + ": " + p.Message
}

// Error lists the problems, separated by semicolons.
func (e *CompileError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "mapping: " + strings.Join(parts, "; ")
}

// RecordError is why one record could not be mapped. It is set as
// Result.Err, alone or joined with the record's other errors.
type RecordError struct {
	// Field is the target field at fault; empty when the problem is the
	// timestamp or the record as a whole.
	Field string
	// Where is "field <name>", "timestamp" or "record".
	Where string
	// Reason says what is wrong, such as `expected number, got string "abc"`.
	Reason string
}

// Error renders the error as "Where: Reason".
func (e *RecordError) Error() string { return e.Where + ": " + e.Reason }

// recordErrors is the Err of a record with several problems.
type recordErrors []*RecordError

func (es recordErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap gives the *RecordError values to errors.Is and errors.As.
func (es recordErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func fieldErr(name, format string, args ...any) *RecordError {
	return &RecordError{Field: name, Where: "field " + name, Reason: fmt.Sprintf(format, args...)}
}
