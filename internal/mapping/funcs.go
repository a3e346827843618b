package mapping

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
)

// Limits of the function library.
const (
	maxPattern = 1024 // bytes of a regular expression
	maxCached  = 256  // entries in each cache of a Mapping
)

// cache is a small concurrent map with a fixed capacity: once full, new
// entries are computed but not kept, so data-driven keys cannot grow it.
type cache[V any] struct {
	mu sync.RWMutex
	m  map[string]V
}

func (c *cache[V]) get(key string, compute func() (V, error)) (V, error) {
	c.mu.RLock()
	v, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := compute()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]V)
	}
	if len(c.m) < maxCached {
		c.m[key] = v
	}
	c.mu.Unlock()
	return v, nil
}

// library holds the functions of one Mapping and their caches.
type library struct {
	regexps   cache[*regexp.Regexp]
	locations cache[*time.Location]
	formats   cache[*timeFormat]
}

func (l *library) regexp(pattern string) (*regexp.Regexp, error) {
	if len(pattern) > maxPattern {
		return nil, fmt.Errorf("regular expression is longer than %d bytes", maxPattern)
	}
	return l.regexps.get(pattern, func() (*regexp.Regexp, error) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		return re, nil
	})
}

func (l *library) location(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	return l.locations.get(name, func() (*time.Location, error) {
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("unknown time zone %q", name)
		}
		return loc, nil
	})
}

func (l *library) format(layout, tz string) (*timeFormat, error) {
	return l.formats.get(layout+"\x00"+tz, func() (*timeFormat, error) {
		loc, err := l.location(tz)
		if err != nil {
			return nil, err
		}
		return parseFormat(layout, loc, false)
	})
}

// Type signatures for the checker; `any` parameters accept anything at
// compile time and are checked when called.
type anyToString = func(any) string

// options returns the expr options that install the library. Builtins of
// expr stay available (upper, lower, trim, split, indexOf, hasPrefix,
// toBase64, fromBase64, fromJSON, len, keys, values, first, last, sort, ...)
// except now, which would make mappings depend on the clock. Builtins whose
// result could be far larger than their input are replaced by versions that
// check the size first.
func (l *library) options() []expr.Option {
	fn := func(name string, f func(args ...any) (any, error), types ...any) expr.Option {
		return expr.Function(name, func(args ...any) (any, error) {
			out, err := f(args...)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return out, nil
		}, types...)
	}
	return []expr.Option{
		expr.DisableBuiltin("now"),
		sandboxFunctions,

		// Bounded replacements of expr builtins, same behaviour otherwise.
		fn("replace", fnReplace, new(func(string, string, string) string), new(func(string, string, string, int) string)),
		fn("repeat", fnRepeat, new(func(string, int) string)),
		fn("split", fnSplit(strings.SplitN), new(func(string, string) []string), new(func(string, string, int) []string)),
		fn("splitAfter", fnSplit(strings.SplitAfterN), new(func(string, string) []string), new(func(string, string, int) []string)),
		fn("fromJSON", fnFromJSON, new(func(string) any)),
		fn("join", fnJoin, new(func([]any) string), new(func([]any, string) string), new(func([]string) string), new(func([]string, string) string)),
		fn("string", fnString, new(anyToString)),
		fn("toJSON", fnToJSON, new(anyToString)),
		fn("flatten", fnFlatten, new(func(any) []any)),
		fn("round", fnRound, new(func(any) float64), new(func(any, int) float64)),
		fn("timezone", l.fnTimezone, new(func(string) *time.Location)),
		fn("date", l.fnDate, new(func(any) time.Time), new(func(any, string) time.Time), new(func(any, string, string) time.Time)),

		// Casts, with the same rules as field types.
		fn("toNumber", fnToNumber, new(func(any) float64)),
		fn("toInt", fnToInt, new(func(any) int)),
		fn("toBool", fnToBool, new(func(any) bool)),
		fn("toString", fnToString, new(anyToString)),

		// Regular expressions (RE2: linear time, no backtracking).
		fn("regexMatch", l.fnRegexMatch, new(func(any, string) bool)),
		fn("regexExtract", l.fnRegexExtract, new(func(any, string) any), new(func(any, string, int) any)),
		fn("regexReplace", l.fnRegexReplace, new(func(any, string, string) string)),

		// Time.
		fn("parseTime", l.fnParseTime, new(func(any) time.Time), new(func(any, string) time.Time), new(func(any, string, string) time.Time)),
		fn("formatTime", l.fnFormatTime, new(func(any) string), new(func(any, string) string), new(func(any, string, string) string)),
		fn("unix", fnUnix, new(func(any) int)),
		fn("unixMilli", fnUnixMilli, new(func(any) int)),

		// Missing values.
		fn("coalesce", fnCoalesce, new(func(...any) any)),
		fn("default", fnDefault, new(func(any, any) any)),

		// Hashes, as lower-case hex.
		fn("sha256", hashFn(func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }), new(anyToString)),
		fn("sha1", hashFn(func(b []byte) []byte { h := sha1.Sum(b); return h[:] }), new(anyToString)),
		fn("md5", hashFn(func(b []byte) []byte { h := md5.Sum(b); return h[:] }), new(anyToString)),
	}
}

func argString(v any, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, got %s", what, describe(v))
	}
	return s, nil
}

func argInt(v any, what string) (int, error) {
	n, ok := toInt(v)
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%s must be an integer, got %s", what, describe(v))
	}
	return int(n), nil
}

func fnReplace(args ...any) (any, error) {
	s, err := argString(args[0], "the text")
	if err != nil {
		return nil, err
	}
	old, err := argString(args[1], "the old text")
	if err != nil {
		return nil, err
	}
	repl, err := argString(args[2], "the new text")
	if err != nil {
		return nil, err
	}
	n := -1
	if len(args) == 4 {
		if n, err = argInt(args[3], "the count"); err != nil {
			return nil, err
		}
	}
	count := strings.Count(s, old)
	if n >= 0 && n < count {
		count = n
	}
	if len(s)+count*(len(repl)-len(old)) > MaxBytes {
		return nil, errTooLarge
	}
	return strings.Replace(s, old, repl, n), nil
}

func fnRepeat(args ...any) (any, error) {
	s, err := argString(args[0], "the text")
	if err != nil {
		return nil, err
	}
	n, err := argInt(args[1], "the count")
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("the count must not be negative, got %d", n)
	}
	if n > 0 && len(s) > MaxBytes/n {
		return nil, errTooLarge
	}
	return strings.Repeat(s, n), nil
}

// Sizes used to bound results before they are built: what one element of a
// list costs beyond its own bytes (a string header, or an interface and its
// boxed value), as deepSize counts it, rounded up.
const (
	partCost    = 24
	elementCost = 32
)

// fnSplit returns split or splitAfter (as strings.SplitN or SplitAfterN),
// refusing before splitting when the list of parts would exceed MaxBytes:
// splitting 8 MB on "" would otherwise build 8 million strings.
func fnSplit(split func(s, sep string, n int) []string) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		s, err := argString(args[0], "the text")
		if err != nil {
			return nil, err
		}
		sep, err := argString(args[1], "the separator")
		if err != nil {
			return nil, err
		}
		n := -1
		if len(args) == 3 {
			if n, err = argInt(args[2], "the count"); err != nil {
				return nil, err
			}
		}
		parts := 1
		if sep == "" {
			parts = utf8.RuneCountInString(s)
		} else if len(s) >= len(sep) {
			parts = strings.Count(s, sep) + 1
		}
		if n >= 0 && n < parts {
			parts = n
		}
		if len(s)+parts*partCost > MaxBytes {
			return nil, errTooLarge
		}
		return split(s, sep, n), nil
	}
}

// fnFromJSON decodes JSON text, refusing before decoding when the values it
// would build could exceed MaxBytes: each value costs far more in memory than
// its one or two bytes of text ("[0,0,0,...]").
func fnFromJSON(args ...any) (any, error) {
	s, err := argString(args[0], "the JSON text")
	if err != nil {
		return nil, err
	}
	values := 1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', ':', '[', '{':
			values++
		}
	}
	if len(s)+values*elementCost > MaxBytes {
		return nil, errTooLarge
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	return v, nil
}

func fnJoin(args ...any) (any, error) {
	sep := ""
	if len(args) == 2 {
		var err error
		if sep, err = argString(args[1], "the separator"); err != nil {
			return nil, err
		}
	}
	var parts []string
	switch t := args[0].(type) {
	case []string:
		parts = t
	case []any:
		parts = make([]string, len(t))
		for i, e := range t {
			s, ok := scalarString(e)
			if !ok {
				return nil, fmt.Errorf("element %d is %s, not a string", i, describe(e))
			}
			parts[i] = s
		}
	default:
		return nil, fmt.Errorf("expected a list, got %s", describe(args[0]))
	}
	size := len(sep) * len(parts)
	for _, p := range parts {
		if size += len(p); size > MaxBytes {
			return nil, errTooLarge
		}
	}
	return strings.Join(parts, sep), nil
}

func fnString(args ...any) (any, error) {
	if s, ok := args[0].(string); ok {
		return s, nil
	}
	if !sizeWithin(args[0], MaxBytes) {
		return nil, errTooLarge
	}
	return fmt.Sprint(args[0]), nil
}

func fnToJSON(args ...any) (any, error) {
	if !sizeWithin(args[0], MaxBytes/2) {
		return nil, errTooLarge
	}
	b, err := json.MarshalIndent(args[0], "", "  ")
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func fnFlatten(args ...any) (any, error) {
	if !isArray(args[0]) {
		return nil, fmt.Errorf("expected a list, got %s", describe(args[0]))
	}
	if !sizeWithin(args[0], MaxBytes) {
		return nil, errTooLarge
	}
	var out []any
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			if e.Kind() == reflect.Interface && !e.IsNil() {
				e = e.Elem()
			}
			if k := e.Kind(); k == reflect.Slice || k == reflect.Array {
				walk(e)
			} else {
				out = append(out, e.Interface())
			}
		}
	}
	walk(reflect.ValueOf(args[0]))
	if out == nil {
		out = []any{}
	}
	return out, nil
}

func fnRound(args ...any) (any, error) {
	x, ok := toFloat(args[0])
	if !ok {
		return nil, fmt.Errorf("expected a number, got %s", describe(args[0]))
	}
	places := 0
	if len(args) == 2 {
		var err error
		if places, err = argInt(args[1], "the number of places"); err != nil {
			return nil, err
		}
		if places < -15 || places > 15 {
			return nil, fmt.Errorf("the number of places must be between -15 and 15, got %d", places)
		}
	}
	p := math.Pow10(places)
	r := math.Round(x*p) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return x, nil
	}
	return r, nil
}

func (l *library) fnTimezone(args ...any) (any, error) {
	name, err := argString(args[0], "the time zone")
	if err != nil {
		return nil, err
	}
	return l.location(name)
}

// dateLayouts are what date(s) tries without a layout, as expr's date does.
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02", "2006-01-02 15:04:05", time.RFC822, time.RFC850, time.RFC1123}

func (l *library) fnDate(args ...any) (any, error) {
	if t, ok := args[0].(time.Time); ok {
		return t, nil
	}
	if len(args) > 1 {
		return l.fnParseTime(args...)
	}
	s, err := argString(args[0], "the date")
	if err != nil {
		return nil, err
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return nil, fmt.Errorf("cannot parse %s as a date; give a layout", quoteShort(s))
}

func fnToNumber(args ...any) (any, error) {
	f, ok := toFloat(args[0])
	if !ok {
		return nil, fmt.Errorf("expected number, got %s", describe(args[0]))
	}
	return f, nil
}

func fnToInt(args ...any) (any, error) {
	n, ok := toInt(args[0])
	if !ok {
		return nil, fmt.Errorf("expected integer, got %s", describe(args[0]))
	}
	return int(n), nil
}

func fnToBool(args ...any) (any, error) {
	b, ok := toBool(args[0])
	if !ok {
		return nil, fmt.Errorf("expected boolean, got %s", describe(args[0]))
	}
	return b, nil
}

// fnToString renders scalars as text and objects and arrays as compact JSON;
// null becomes "".
func fnToString(args ...any) (any, error) {
	return textOf(args[0])
}

func textOf(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	if s, ok := scalarString(v); ok {
		return s, nil
	}
	if !sizeWithin(v, MaxBytes) {
		return "", errTooLarge
	}
	n, err := normalize(v)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (l *library) fnRegexMatch(args ...any) (any, error) {
	s, err := argString(args[0], "the text")
	if err != nil {
		return nil, err
	}
	p, err := argString(args[1], "the pattern")
	if err != nil {
		return nil, err
	}
	re, err := l.regexp(p)
	if err != nil {
		return nil, err
	}
	return re.MatchString(s), nil
}

// fnRegexExtract returns the first match of the pattern, or of the given
// group (default: group 1 when the pattern has groups), or nil.
func (l *library) fnRegexExtract(args ...any) (any, error) {
	s, err := argString(args[0], "the text")
	if err != nil {
		return nil, err
	}
	p, err := argString(args[1], "the pattern")
	if err != nil {
		return nil, err
	}
	re, err := l.regexp(p)
	if err != nil {
		return nil, err
	}
	group := min(1, re.NumSubexp())
	if len(args) == 3 {
		if group, err = argInt(args[2], "the group"); err != nil {
			return nil, err
		}
		if group < 0 || group > re.NumSubexp() {
			return nil, fmt.Errorf("the pattern has no group %d", group)
		}
	}
	m := re.FindStringSubmatchIndex(s)
	if m == nil || m[2*group] < 0 {
		return nil, nil
	}
	return s[m[2*group]:m[2*group+1]], nil
}

// fnRegexReplace replaces every match; the replacement may refer to groups
// as $1 or ${name}. The result is built piece by piece and stops at MaxBytes.
func (l *library) fnRegexReplace(args ...any) (any, error) {
	s, err := argString(args[0], "the text")
	if err != nil {
		return nil, err
	}
	p, err := argString(args[1], "the pattern")
	if err != nil {
		return nil, err
	}
	repl, err := argString(args[2], "the replacement")
	if err != nil {
		return nil, err
	}
	re, err := l.regexp(p)
	if err != nil {
		return nil, err
	}
	refs := strings.Count(repl, "$")
	// The list of matches is itself bounded before it is built: an empty
	// pattern matches at every position of the text.
	maxMatches := min(MaxIterations, MaxBytes/(partCost+16*(re.NumSubexp()+1)))
	matches := re.FindAllStringSubmatchIndex(s, maxMatches+1)
	if len(matches) > maxMatches {
		return nil, fmt.Errorf("the pattern matches more than %d times (limit)", maxMatches)
	}
	var out []byte
	last := 0
	for _, m := range matches {
		longest := 0
		for i := 0; i+1 < len(m); i += 2 {
			longest = max(longest, m[i+1]-m[i])
		}
		if len(out)+(m[0]-last)+len(repl)+refs*longest > MaxBytes {
			return nil, errTooLarge
		}
		out = append(out, s[last:m[0]]...)
		out = re.ExpandString(out, repl, s, m)
		last = m[1]
	}
	if out == nil {
		return s, nil
	}
	if len(out)+len(s)-last > MaxBytes {
		return nil, errTooLarge
	}
	return string(append(out, s[last:]...)), nil
}

// timeArg accepts a time or an RFC 3339 string.
func timeArg(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		if tm, err := parseRFC3339(t); err == nil {
			return tm, nil
		}
	}
	hint := ""
	if isNumber(v) {
		hint = `; for epoch numbers use parseTime(value, "unix")`
	}
	return time.Time{}, fmt.Errorf("expected a time or an RFC 3339 string, got %s%s", describe(v), hint)
}

func (l *library) layoutArgs(args []any) (*timeFormat, error) {
	layout, tz := "", ""
	var err error
	if len(args) > 1 {
		if layout, err = argString(args[1], "the layout"); err != nil {
			return nil, err
		}
	}
	if len(args) > 2 {
		if tz, err = argString(args[2], "the time zone"); err != nil {
			return nil, err
		}
	}
	return l.format(layout, tz)
}

// fnParseTime parses v (a string or, for the unix formats, a number) with a
// format name or layout (default rfc3339) in a time zone (default UTC, used
// when the layout has no zone). The result is in UTC.
func (l *library) fnParseTime(args ...any) (any, error) {
	f, err := l.layoutArgs(args)
	if err != nil {
		return nil, err
	}
	return f.parse(args[0])
}

// fnFormatTime formats a time (or RFC 3339 string) with a format name or
// layout (default rfc3339) in a time zone (default UTC).
func (l *library) fnFormatTime(args ...any) (any, error) {
	t, err := timeArg(args[0])
	if err != nil {
		return nil, err
	}
	f, err := l.layoutArgs(args)
	if err != nil {
		return nil, err
	}
	return f.format(t), nil
}

func fnUnix(args ...any) (any, error) {
	t, err := timeArg(args[0])
	if err != nil {
		return nil, err
	}
	return int(t.Unix()), nil
}

func fnUnixMilli(args ...any) (any, error) {
	t, err := timeArg(args[0])
	if err != nil {
		return nil, err
	}
	return int(t.UnixMilli()), nil
}

// fnCoalesce returns its first argument that is not nil.
func fnCoalesce(args ...any) (any, error) {
	for _, a := range args {
		if a != nil {
			return a, nil
		}
	}
	return nil, nil
}

// fnDefault returns d when v is nil or the empty string, else v.
func fnDefault(args ...any) (any, error) {
	if args[0] == nil || args[0] == "" {
		return args[1], nil
	}
	return args[0], nil
}

func hashFn(sum func([]byte) []byte) func(args ...any) (any, error) {
	return func(args ...any) (any, error) {
		s, err := textOf(args[0])
		if err != nil {
			return nil, err
		}
		return hex.EncodeToString(sum([]byte(s))), nil
	}
}
