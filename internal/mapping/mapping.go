package mapping

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Mapping is a compiled Spec. It is immutable and safe for concurrent use by
// many goroutines. A nil *Mapping passes records through unchanged, like the
// zero Spec.
type Mapping struct {
	records      Path
	ts           *timestamp // nil: the mapped record's "ts", else arrival
	fields       []field    // sorted by name
	expr         *vm.Program
	keepUnmapped bool
	// needRecord is set when an expression reads `record`, which is then
	// normalised once per record.
	needRecord bool
	hasExprs   bool
	limits     limits
	states     sync.Pool
}

type timestamp struct {
	path   Path
	prog   *vm.Program
	format *timeFormat
}

type field struct {
	name     string
	path     Path
	prog     *vm.Program
	typ      fieldType
	format   *timeFormat
	required bool
	def      any // coerced; nil when there is no default
	// explicitPath is set when the spec names a path: then a missing or
	// null value skips the expression.
	explicitPath bool
}

// Result is one mapped record, or why the record could not be mapped.
type Result struct {
	// TS is the event time, in UTC.
	TS time.Time
	// Fields is the mapped record, sorted by name. Its values are JSON
	// values: nil, bool, string, int64, float64, []any and map[string]any;
	// times are RFC 3339 strings in UTC. It may share memory with the
	// input and must not be modified. Nil when Err is set; not nil
	// otherwise, even without fields.
	Fields Fields
	// Raw is the input record, as it was extracted from the input.
	Raw any
	// Err is why the record was rejected; its message names the field, such
	// as `field temperature_c: expected number, got string "abc"`. Use
	// errors.As with *RecordError for the parts.
	Err error
}

// Compile checks a spec and compiles its expressions once. A spec that is not
// valid gives a *CompileError listing every problem, with the line and
// column of expression errors.
func Compile(spec Spec) (*Mapping, error) {
	c := &compiler{lib: &library{}}
	c.opts = c.lib.options()
	m := &Mapping{keepUnmapped: spec.KeepUnmapped}

	var err error
	if m.records, err = ParsePath(spec.Records); err != nil {
		c.problem("records", "%s", err)
	}
	if spec.Timestamp != nil {
		m.ts = c.timestamp(*spec.Timestamp)
	}
	if spec.Expr != "" {
		if len(spec.Fields) > 0 {
			c.problem("expr", "use either expr or fields, not both")
		}
		if spec.KeepUnmapped {
			c.problem("keep_unmapped", "applies to fields, not to expr")
		}
		if m.expr = c.expr("expr", spec.Expr); m.expr != nil {
			if t := resultType(m.expr); t != nil && t.Kind() != reflect.Map {
				c.problem("expr", "the expression returns %s; it must return a map", typeName(t))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Fields)) {
		if f, ok := c.field(name, spec.Fields[name]); ok {
			m.fields = append(m.fields, f)
		}
	}
	if len(c.problems) > 0 {
		slices.SortStableFunc(c.problems, func(a, b Problem) int { return strings.Compare(a.Field, b.Field) })
		return nil, &CompileError{Problems: c.problems}
	}
	m.needRecord, m.hasExprs = c.usesRecord, c.exprs > 0
	m.limits = defaultLimits
	m.states.New = func() any { return newState(&m.limits) }
	return m, nil
}

type compiler struct {
	lib        *library
	opts       []expr.Option
	problems   []Problem
	usesRecord bool
	exprs      int
}

func (c *compiler) problem(where, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: where, Message: fmt.Sprintf(format, args...)})
}

func (c *compiler) timestamp(spec TimestampSpec) *timestamp {
	ts := &timestamp{}
	var err error
	if ts.path, err = ParsePath(spec.Path); err != nil {
		c.problem("timestamp.path", "%s", err)
	}
	loc, err := c.lib.location(spec.Timezone)
	if err != nil {
		c.problem("timestamp.timezone", "%s", err)
	}
	if ts.format, err = parseFormat(spec.Format, loc, true); err != nil {
		c.problem("timestamp.format", "%s", err)
	}
	if spec.Path == "" && spec.Expr == "" {
		c.problem("timestamp", "set a path, an expr or both")
	}
	if spec.Expr != "" {
		if ts.prog = c.expr("timestamp.expr", spec.Expr); ts.prog != nil {
			if t := resultType(ts.prog); t != nil && ts.format != nil && !canCoerce(t, tTime, ts.format) {
				c.problem("timestamp.expr", "the expression returns %s, which cannot be a time in format %q", typeName(t), ts.format.name)
			}
		}
	}
	return ts
}

func (c *compiler) field(name string, spec FieldSpec) (field, bool) {
	where := "fields." + name
	n := len(c.problems)
	if strings.TrimSpace(name) == "" {
		c.problem("fields", "a field name must not be empty")
		return field{}, false
	}
	f := field{name: name, required: spec.Required, explicitPath: spec.Path != ""}
	var err error
	if spec.Path == "" {
		f.path = Path{text: name, segs: []segment{{key: name}}}
	} else if f.path, err = ParsePath(spec.Path); err != nil {
		c.problem(where+".path", "%s", err)
	}
	if f.typ, err = parseType(spec.Type); err != nil {
		c.problem(where+".type", "%s", err)
	}
	if spec.Format != "" {
		if f.typ != tTime {
			c.problem(where+".format", "format applies only to fields of type time")
		} else if f.format, err = parseFormat(spec.Format, time.UTC, true); err != nil {
			c.problem(where+".format", "%s", err)
		}
	}
	if spec.Default != nil {
		if d, err := coerce(spec.Default, f.typ, f.format); err != nil {
			c.problem(where+".default", "%s", err)
		} else {
			f.def = d
		}
	}
	if spec.Expr != "" {
		if f.prog = c.expr(where+".expr", spec.Expr); f.prog != nil {
			if t := resultType(f.prog); t != nil && !canCoerce(t, f.typ, f.format) {
				c.problem(where+".expr", "the expression returns %s, which cannot be a field of type %s", typeName(t), f.typ)
			}
		}
	}
	return f, len(c.problems) == n
}

// resultType is the type of an expression's result when the checker knows
// it, else nil.
func resultType(p *vm.Program) reflect.Type {
	t := p.Node().Type()
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	return t
}

// canCoerce reports whether values of type t can possibly be converted to
// the field type: false means every record would fail.
func canCoerce(t reflect.Type, ft fieldType, tf *timeFormat) bool {
	k := t.Kind()
	isNum := k >= reflect.Int && k <= reflect.Float64
	isList := k == reflect.Slice || k == reflect.Array
	isTime := t == timeType
	switch ft {
	case tString:
		return k != reflect.Map && !isList
	case tNumber, tInteger:
		return isNum || k == reflect.String
	case tBoolean:
		return isNum || k == reflect.String || k == reflect.Bool
	case tTime:
		unix := tf != nil && tf.kind == timeUnix
		return isTime || k == reflect.String || (isNum && unix)
	case tObject:
		return k == reflect.Map
	case tArray:
		return isList
	}
	return true
}

func typeName(t reflect.Type) string {
	switch k := t.Kind(); {
	case t == timeType:
		return "a time"
	case k == reflect.Map:
		return "a map"
	case k == reflect.Slice || k == reflect.Array:
		return "a list"
	case k == reflect.String:
		return "a string"
	case k == reflect.Bool:
		return "a boolean"
	case k >= reflect.Int && k <= reflect.Float64:
		return "a number"
	}
	return t.String()
}

// hints explain names that users coming from other tools try.
var hints = map[string]string{
	"now": "expressions have no clock so that mappings are repeatable; use arrival (when the batch arrived)",
	"env": "expressions cannot read the environment",
}

// expr compiles one expression in the sandbox.
func (c *compiler) expr(where, src string) (prog *vm.Program) {
	if strings.TrimSpace(src) == "" {
		c.problem(where, "the expression is empty")
		return nil
	}
	if len(src) > MaxExprLength {
		c.problem(where, "the expression is longer than %d bytes", MaxExprLength)
		return nil
	}
	sb := newSandbox(c.lib)
	opts := append(slices.Clip(c.opts), expr.Env(env{}), expr.MaxNodes(MaxNodes), expr.Patch(sb))
	var err error
	func() {
		// expr reports errors as values; this guards the API against a
		// panic on some unforeseen input.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("cannot compile the expression: %v", r)
			}
		}()
		prog, err = expr.Compile(src, opts...)
	}()
	if err == nil && sb.err != nil {
		err = sb.err.Bind(file.NewSource(src))
	}
	if err == nil && sb.total > MaxOps {
		c.problem(where, "the expression's loops cost more than %d operations per evaluation (limit): loop over fewer elements or do less in each iteration", MaxOps)
		return nil
	}
	if err != nil {
		c.problems = append(c.problems, exprProblem(where, err))
		return nil
	}
	c.exprs++
	c.usesRecord = c.usesRecord || sb.usesRecord
	return prog
}

func exprProblem(where string, err error) Problem {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return Problem{Field: where, Message: err.Error()}
	}
	p := Problem{Field: where, Message: strings.TrimSpace(fe.Message), Line: fe.Line, Column: fe.Column + 1}
	for name, hint := range hints {
		if p.Message == "unknown name "+name {
			p.Message += ": " + hint
		}
	}
	if strings.Contains(fe.Message, "exceeds maximum allowed nodes") || strings.Contains(fe.Message, "compilation failed: expression exceeds") {
		p = Problem{Field: where, Message: fmt.Sprintf("the expression is too large (more than %d nodes)", MaxNodes)}
	}
	return p
}

// Apply extracts the records from a decoded JSON input and maps each one.
//
// The input is what encoding/json produces: map[string]any, []any, string,
// bool, nil, and numbers as float64 or json.Number. Decoders should use
// json.Decoder.UseNumber: json.Number keeps integers beyond 2^53 exact (they
// become int64), and both kinds are accepted everywhere.
//
// A record that cannot be mapped gets a Result with Err set and does not stop
// the others. The error return is for the input as a whole (see ErrRecords).
func (m *Mapping) Apply(input any, arrival time.Time) ([]Result, error) {
	return m.ApplyPaced(input, arrival, nil)
}

// Pacer is told, while an evaluation runs, how much work it did, so that
// a caller sharing CPU between tenants can take turns in the middle of a
// costly expression (the engine's fair share, internal/fairshare). The
// unit is the operation of MaxOps (one node of a loop's body per
// iteration); bytes that functions build or read count one operation per
// 64. Work is called from inside the evaluation, about every thousand
// operations; it may block (to let other work run) but must not use the
// Mapping. A single built-in call (a sort, a regular expression over a
// long string) reports its work only once it returns; its cost is bounded
// by MaxBytes.
type Pacer interface {
	// Work reports ops operations done since the last report.
	Work(ops int)
}

// ApplyPaced is Apply that reports the work of its expressions to p as
// they run (see Pacer). A nil p is Apply. The results do not depend on p.
func (m *Mapping) ApplyPaced(input any, arrival time.Time, p Pacer) ([]Result, error) {
	arrival = arrival.UTC()
	if m == nil {
		m = &passThrough
	}
	var one [1]any // an object input's one record, without allocating
	recs, err := m.extract(input, one[:0])
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(recs))
	var st *state
	if m.hasExprs {
		st = m.states.Get().(*state)
		st.env.Arrival = arrival
		st.budget.pacer = p
		defer func() {
			st.budget.flushPace()
			st.budget.pacer = nil
			m.states.Put(st)
		}()
	}
	for i, rec := range recs {
		results[i] = m.apply(st, rec, arrival)
	}
	return results, nil
}

// SplitsInput reports whether the mapping takes the whole input as its
// records (no records path): then an array input is a list of records,
// and mapping each element alone gives what mapping the array gives.
func (m *Mapping) SplitsInput() bool {
	return m == nil || m.records.Empty()
}

// passThrough is the Mapping of the zero Spec, used for a nil *Mapping. It
// has no expressions, so its pool is never used.
var passThrough Mapping

// extract returns the records of input: the array at the records path,
// else the input's elements or the input itself, appended to buf.
func (m *Mapping) extract(input any, buf []any) ([]any, error) {
	if !m.records.Empty() {
		v, ok := m.records.Lookup(input)
		if !ok {
			return nil, fmt.Errorf("%w: the input has nothing at %q", ErrRecords, m.records)
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %q is %s, not an array", ErrRecords, m.records, kindOf(v))
		}
		return arr, nil
	}
	switch t := input.(type) {
	case []any:
		return t, nil
	case map[string]any:
		return append(buf, t), nil
	}
	return nil, fmt.Errorf("%w: the input is %s, not an object or an array", ErrRecords, kindOf(input))
}

// kindOf names the JSON kind of v.
func kindOf(v any) string {
	switch {
	case v == nil:
		return "null"
	case isObject(v):
		return "an object"
	case isArray(v):
		return "an array"
	case isNumber(v):
		return "a number"
	}
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("a %T", v)
}

func (m *Mapping) apply(st *state, rec any, arrival time.Time) Result {
	res := Result{Raw: rec}
	var errs recordErrors
	fail := func() Result {
		if len(errs) == 1 {
			res.Err = errs[0]
		} else {
			res.Err = errs
		}
		res.Fields = nil
		return res
	}

	// Expressions see numbers as int64 or float64 whatever the decoder made.
	recordEnv := rec
	if m.needRecord {
		n, err := normalize(rec)
		if err != nil {
			errs = append(errs, &RecordError{Where: "record", Reason: err.Error()})
			return fail()
		}
		recordEnv = n
	}

	switch {
	case m.expr != nil:
		out, err := st.run(m.expr, recordEnv, recordEnv)
		if err != nil {
			errs = append(errs, &RecordError{Where: "record", Reason: "expr: " + runtimeReason(err)})
			break
		}
		if out == nil || !isObject(out) {
			errs = append(errs, &RecordError{Where: "record", Reason: "expr must return a map, returned " + describe(out)})
			break
		}
		n, err := normalize(out)
		if err != nil {
			errs = append(errs, &RecordError{Where: "record", Reason: "expr: " + err.Error()})
			break
		}
		res.Fields = fieldsOf(n.(map[string]any))
	case len(m.fields) > 0:
		res.Fields, errs = m.mapFields(st, rec, recordEnv)
	default:
		obj, ok := rec.(map[string]any)
		if !ok {
			errs = append(errs, &RecordError{Where: "record", Reason: "expected a JSON object, got " + describe(rec)})
			break
		}
		n, err := normalize(obj)
		if err != nil {
			errs = append(errs, &RecordError{Where: "record", Reason: err.Error()})
			break
		}
		res.Fields = fieldsOf(n.(map[string]any))
	}

	if err := m.timestamp(st, rec, recordEnv, res.Fields, arrival, &res.TS); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fail()
	}
	return res
}

func (m *Mapping) mapFields(st *state, rec, recordEnv any) (Fields, recordErrors) {
	// With keep_unmapped, the input's fields too, with the mapped ones in
	// place of those of the same name; a mapped field left out (null, no
	// default) is left out of the input's too.
	var input map[string]any
	if obj, ok := rec.(map[string]any); ok && m.keepUnmapped {
		n, err := normalize(obj)
		if err != nil {
			return nil, recordErrors{{Where: "record", Reason: err.Error()}}
		}
		input = n.(map[string]any)
	}
	var errs recordErrors
	out := make(Fields, 0, len(m.fields))
	for i := range m.fields {
		f := &m.fields[i]
		v, found := f.path.Lookup(rec)
		if f.prog != nil && (v != nil || !f.explicitPath) {
			var err error
			if v, err = normalize(v); err != nil {
				errs = append(errs, fieldErr(f.name, "%v", err))
				continue
			}
			if v, err = st.run(f.prog, v, recordEnv); err != nil {
				errs = append(errs, fieldErr(f.name, "expr: %s", runtimeReason(err)))
				continue
			}
		}
		if v == nil {
			switch {
			case f.def != nil:
				out = append(out, Field{f.name, f.def})
			case f.required && f.prog != nil && (found || !f.explicitPath):
				errs = append(errs, fieldErr(f.name, "required, but the expression returned null"))
			case f.required && !found:
				errs = append(errs, fieldErr(f.name, "required, but missing at %s", f.path))
			case f.required:
				errs = append(errs, fieldErr(f.name, "required, but null at %s", f.path))
			}
			continue
		}
		cv, err := coerce(v, f.typ, f.format)
		if err != nil {
			errs = append(errs, fieldErr(f.name, "%v", err))
			continue
		}
		out = append(out, Field{f.name, cv})
	}
	if len(errs) > 0 || input == nil {
		return out, errs // in m.fields' order: by name
	}
	all := maps.Clone(input)
	for i := range m.fields {
		delete(all, m.fields[i].name)
	}
	for _, f := range out {
		all[f.Name] = f.Value
	}
	return fieldsOf(all), nil
}

// timestamp sets *ts from the spec, or from the mapped record's "ts", or to
// the arrival time.
func (m *Mapping) timestamp(st *state, rec, recordEnv any, fields Fields, arrival time.Time, ts *time.Time) *RecordError {
	if m.ts == nil {
		*ts = arrival
		v, _ := fields.Get("ts")
		if s, ok := v.(string); ok {
			if t, err := parseRFC3339(s); err == nil {
				if t, err = checkRange(t.UTC()); err == nil {
					*ts = t
				}
			}
		}
		return nil
	}
	var v any
	found := false
	if !m.ts.path.Empty() {
		v, found = m.ts.path.Lookup(rec)
	}
	if m.ts.prog != nil {
		var err error
		if v, err = normalize(v); err != nil {
			return &RecordError{Where: "timestamp", Reason: err.Error()}
		}
		if v, err = st.run(m.ts.prog, v, recordEnv); err != nil {
			return &RecordError{Where: "timestamp", Reason: "expr: " + runtimeReason(err)}
		}
		if v == nil {
			return &RecordError{Where: "timestamp", Reason: "the expression returned null"}
		}
	} else if v == nil {
		if found {
			return &RecordError{Where: "timestamp", Reason: fmt.Sprintf("null at %s", m.ts.path)}
		}
		return &RecordError{Where: "timestamp", Reason: fmt.Sprintf("missing at %s", m.ts.path)}
	}
	t, err := m.ts.format.parse(v)
	if err != nil {
		reason := err.Error()
		if m.ts.prog == nil {
			reason += " at " + m.ts.path.String()
		}
		return &RecordError{Where: "timestamp", Reason: reason}
	}
	*ts = t
	return nil
}

// runtimeReason turns an evaluation error into one line: the message and
// where in the expression it happened, without expr's source snippet.
func runtimeReason(err error) string {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err.Error()
	}
	msg := friendlyMessage(strings.TrimSpace(fe.Message))
	if fe.Line > 0 {
		return fmt.Sprintf("%s (line %d, column %d)", msg, fe.Line, fe.Column+1)
	}
	return msg
}

var (
	conversionRE = regexp.MustCompile(`^interface conversion: interface \{\} is (.+), not (.+)$`)
	goTypeNames  = strings.NewReplacer(
		"<nil>", "null", "map[string]interface {}", "object", "[]interface {}", "array",
		"float64", "number", "int64", "number", "json.Number", "number",
	)
)

// friendlyMessage rewrites the messages of expr's runtime panics that speak
// of Go types into the JSON terms users know.
func friendlyMessage(msg string) string {
	switch {
	case msg == "memory budget exceeded":
		return fmt.Sprintf("expression stopped after building lists and ranges of %d elements (limit)", vmMemoryBudget)
	case strings.HasPrefix(msg, "reflect: call of ") && strings.HasSuffix(msg, " on zero Value"):
		return "null is not allowed here"
	}
	if m := conversionRE.FindStringSubmatch(msg); m != nil {
		got := goTypeNames.Replace(m[1])
		if got == "nil" {
			got = "null"
		}
		return "expected " + goTypeNames.Replace(m[2]) + ", got " + got
	}
	return goTypeNames.Replace(msg)
}
