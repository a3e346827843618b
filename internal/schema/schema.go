package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Limits of Compile and Validate.
const (
	// MaxSchemaSize is the largest schema document accepted, in bytes.
	MaxSchemaSize = 1 << 20
	// maxReasons is how many problems an error lists before "and N more".
	maxReasons = 5
)

// ErrInvalid is wrapped by the errors of Validate, so that callers can tell
// a record that does not match from other failures.
var ErrInvalid = errors.New("record does not match the schema")

// base is the URL of the document; references resolve against it and it is
// cut out of messages.
// The .invalid domain never resolves, and nothing is fetched anyway.
const base = "https://schema.tributary.invalid/record.json"

// Schema is a compiled JSON Schema. A nil *Schema accepts every value.
type Schema struct {
	s *jsonschema.Schema
}

// refuseLoader is the only loader: a schema may refer to itself but nothing
// is fetched from the network or read from files.
type refuseLoader struct{}

// Load refuses every URL.
func (refuseLoader) Load(url string) (any, error) {
	return nil, errors.New("only references inside the schema are allowed")
}

// Compile compiles a JSON Schema document. A nil or empty document, or
// JSON null, gives a nil *Schema and no error: no validation.
func Compile(doc json.RawMessage) (*Schema, error) {
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, nil
	}
	if len(trimmed) > MaxSchemaSize {
		return nil, fmt.Errorf("schema: the document is larger than %d bytes", MaxSchemaSize)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(trimmed))
	if err != nil {
		return nil, fmt.Errorf("schema: not valid JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	c.AssertFormat()
	if err := c.AddResource(base, v); err != nil {
		return nil, fmt.Errorf("schema: %v", err)
	}
	s, err := c.Compile(base)
	if err != nil {
		return nil, compileError(err, v)
	}
	// A cycle of references at the root shows only when validating; find it
	// now rather than with the first record.
	var verr *jsonschema.ValidationError
	if errors.As(s.Validate(nil), &verr) {
		if rc := refCycle(verr); rc != nil {
			return nil, fmt.Errorf("schema is invalid: the references at %s and %s form a cycle",
				cutBase(rc.KeywordLocation1), cutBase(rc.KeywordLocation2))
		}
	}
	return &Schema{s: s}, nil
}

func refCycle(e *jsonschema.ValidationError) *kind.RefCycle {
	if rc, ok := e.ErrorKind.(*kind.RefCycle); ok {
		return rc
	}
	for _, c := range e.Causes {
		if rc := refCycle(c); rc != nil {
			return rc
		}
	}
	return nil
}

// compileError turns the library's error into one that names the place in
// the document.
func compileError(err error, doc any) error {
	var sve *jsonschema.SchemaValidationError
	var verr *jsonschema.ValidationError
	if errors.As(err, &sve) && errors.As(sve.Err, &verr) {
		return fmt.Errorf("schema is invalid: %s", reasons(verr, doc, pointerPath))
	}
	var lue *jsonschema.LoadURLError
	if errors.As(err, &lue) {
		return fmt.Errorf("schema: cannot use the reference %q: only references inside the schema are allowed", lue.URL)
	}
	var rxe *jsonschema.InvalidRegexError
	if errors.As(err, &rxe) {
		return fmt.Errorf("schema is invalid: at %s: invalid regular expression %q: %v", cutBase(rxe.URL), rxe.Regex, rxe.Err)
	}
	return fmt.Errorf("schema: %s", cutBase(err.Error()))
}

// cutBase shortens locations such as base+"#/properties/x" to
// "/properties/x".
func cutBase(s string) string {
	s = strings.ReplaceAll(s, base+"#", "")
	return strings.ReplaceAll(s, base, "the schema")
}

// Validate checks v, a decoded JSON value such as a mapped record. It returns
// nil or an error wrapping ErrInvalid with a reason per failing field, such as
// "temperature_c: must be <= 60 but found 75; station: required but
// missing". A nil *Schema accepts everything.
func (s *Schema) Validate(v any) error {
	if s == nil {
		return nil
	}
	err := s.s.Validate(v)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &invalidError{msg: reasons(verr, v, fieldPath)}
}

type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

// A pathStyle renders an instance location: dotted field paths for records,
// JSON pointers for schema documents.
type pathStyle func(tokens []string) string

func fieldPath(tokens []string) string {
	if len(tokens) == 0 {
		return "record"
	}
	return strings.Join(tokens, ".")
}

func pointerPath(tokens []string) string {
	if len(tokens) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

type reason struct {
	loc []string
	msg string
}

// reasons renders the failures of a validation error as a short sentence:
// one reason per failing place, in order of place, at most maxReasons.
func reasons(verr *jsonschema.ValidationError, root any, style pathStyle) string {
	var rs []reason
	collect(verr, root, &rs)
	slices.SortStableFunc(rs, func(a, b reason) int { return slices.Compare(a.loc, b.loc) })
	rs = slices.CompactFunc(rs, func(a, b reason) bool { return slices.Equal(a.loc, b.loc) && a.msg == b.msg })
	var parts []string
	for i, r := range rs {
		if i == maxReasons {
			parts = append(parts, fmt.Sprintf("and %d more", len(rs)-maxReasons))
			break
		}
		parts = append(parts, style(r.loc)+": "+r.msg)
	}
	if len(parts) == 0 {
		return "does not match the schema"
	}
	return strings.Join(parts, "; ")
}

var printer = message.NewPrinter(language.English)

// collect walks the error tree down to the failures that say something.
func collect(e *jsonschema.ValidationError, root any, out *[]reason) {
	loc := e.InstanceLocation
	add := func(loc []string, format string, args ...any) {
		*out = append(*out, reason{loc: loc, msg: fmt.Sprintf(format, args...)})
	}
	found := func() string { return show(lookup(root, loc)) }
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		for _, c := range e.Causes {
			collect(c, root, out)
		}
		if len(e.Causes) == 0 {
			add(loc, "does not match the schema")
		}
	case *kind.AnyOf, *kind.OneOf:
		if o, ok := k.(*kind.OneOf); ok && len(o.Subschemas) > 1 {
			add(loc, "matches more than one of the oneOf schemas (%d and %d)", o.Subschemas[0], o.Subschemas[1])
			return
		}
		anyOf(e, root, out)
	case *kind.Type:
		add(loc, "must be %s but found %s", strings.Join(k.Want, " or "), found())
	case *kind.Required:
		for _, m := range k.Missing {
			add(append(slices.Clip(loc), m), "required but missing")
		}
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			add(append(slices.Clip(loc), m), "required when %s is present", k.Prop)
		}
	case *kind.Dependency:
		for _, m := range k.Missing {
			add(append(slices.Clip(loc), m), "required when %s is present", k.Prop)
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			add(append(slices.Clip(loc), p), "not allowed by the schema")
		}
	case *kind.Minimum:
		add(loc, "must be >= %s but found %s", rat(k.Want), rat(k.Got))
	case *kind.Maximum:
		add(loc, "must be <= %s but found %s", rat(k.Want), rat(k.Got))
	case *kind.ExclusiveMinimum:
		add(loc, "must be > %s but found %s", rat(k.Want), rat(k.Got))
	case *kind.ExclusiveMaximum:
		add(loc, "must be < %s but found %s", rat(k.Want), rat(k.Got))
	case *kind.MultipleOf:
		add(loc, "must be a multiple of %s but found %s", rat(k.Want), rat(k.Got))
	case *kind.MinLength:
		add(loc, "must be at least %d characters long but has %d", k.Want, k.Got)
	case *kind.MaxLength:
		add(loc, "must be at most %d characters long but has %d", k.Want, k.Got)
	case *kind.Pattern:
		add(loc, "must match the pattern %s but found %s", short(k.Want), show(k.Got))
	case *kind.Enum:
		add(loc, "must be one of %s but found %s", showList(k.Want), show(k.Got))
	case *kind.Const:
		add(loc, "must be %s but found %s", showList([]any{k.Want}), show(k.Got))
	case *kind.Format:
		add(loc, "must be a valid %s but found %s", k.Want, show(k.Got))
	case *kind.MinItems:
		add(loc, "must have at least %d items but has %d", k.Want, k.Got)
	case *kind.MaxItems:
		add(loc, "must have at most %d items but has %d", k.Want, k.Got)
	case *kind.UniqueItems:
		add(loc, "items %d and %d must not be equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.MinProperties:
		add(loc, "must have at least %d fields but has %d", k.Want, k.Got)
	case *kind.MaxProperties:
		add(loc, "must have at most %d fields but has %d", k.Want, k.Got)
	case *kind.PropertyNames:
		for _, c := range e.Causes {
			collect(c, root, out)
		}
		if len(e.Causes) == 0 {
			add(append(slices.Clip(loc), k.Property), "this field name is not allowed")
		}
	case *kind.RefCycle:
		add(loc, "cannot be checked: the references at %s and %s of the schema form a cycle",
			cutBase(k.KeywordLocation1), cutBase(k.KeywordLocation2))
	case *kind.FalseSchema:
		add(loc, "not allowed by the schema")
	case *kind.Not:
		add(loc, "must not match the schema under \"not\"")
	default:
		add(loc, "%s", e.ErrorKind.LocalizedString(printer))
	}
}

// anyOf explains a value that matched none of several schemas. When all but
// one alternative failed on the type alone, the remaining one is what the
// author meant, so its reasons are given; when all failed on the type, the
// allowed types are listed.
func anyOf(e *jsonschema.ValidationError, root any, out *[]reason) {
	var others []*jsonschema.ValidationError
	var types []string
	for _, c := range e.Causes {
		if t := typeOnly(c); t != nil {
			types = append(types, t.Want...)
		} else {
			others = append(others, c)
		}
	}
	switch {
	case len(others) == 1:
		collect(others[0], root, out)
	case len(others) == 0 && len(types) > 0:
		slices.Sort(types)
		*out = append(*out, reason{loc: e.InstanceLocation, msg: fmt.Sprintf("must be %s but found %s",
			strings.Join(slices.Compact(types), " or "), show(lookup(root, e.InstanceLocation)))})
	default:
		*out = append(*out, reason{loc: e.InstanceLocation, msg: "does not match any of the allowed schemas"})
	}
}

// typeOnly returns the type error when that is all that failed in c.
func typeOnly(c *jsonschema.ValidationError) *kind.Type {
	for {
		switch k := c.ErrorKind.(type) {
		case *kind.Type:
			return k
		case *kind.Group, *kind.Schema, *kind.Reference:
			if len(c.Causes) != 1 {
				return nil
			}
			c = c.Causes[0]
		default:
			return nil
		}
	}
}

// lookup finds the value at an instance location.
func lookup(v any, tokens []string) any {
	for _, t := range tokens {
		switch c := v.(type) {
		case map[string]any:
			v = c[t]
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// show renders a value for a message: its JSON type and, for scalars, a
// short rendering.
func show(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + short(t)
	case bool:
		return "boolean " + strconv.FormatBool(t)
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		return "number " + string(t)
	case float64:
		return "number " + strconv.FormatFloat(t, 'g', -1, 64)
	case float32:
		return "number " + strconv.FormatFloat(float64(t), 'g', -1, 32)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprintf("number %d", t)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	return short(string(b))
}

func showList(vs []any) string {
	parts := make([]string, 0, min(len(vs), 6))
	for i, v := range vs {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("… (%d values)", len(vs)))
			break
		}
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprint(v))
		}
		parts = append(parts, shortRaw(string(b)))
	}
	return strings.Join(parts, ", ")
}

// short quotes s, cut to 40 runes.
func short(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return strconv.Quote(s)
	}
	i, n := 0, 0
	for i = range s {
		if n == max {
			break
		}
		n++
	}
	return strconv.Quote(s[:i]) + "…"
}

func shortRaw(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "…"
}

// rat renders a number from a schema error: integers exactly, others as
// the nearest float64.
func rat(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}
