package mapping

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Names of the field types of FieldSpec.Type.
const (
	TypeAny     = ""
	TypeString  = "string"
	TypeNumber  = "number"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeTime    = "time"
	TypeObject  = "object"
	TypeArray   = "array"
)

type fieldType uint8

const (
	tAny fieldType = iota
	tString
	tNumber
	tInteger
	tBoolean
	tTime
	tObject
	tArray
)

var typeNames = [...]string{"any", TypeString, TypeNumber, TypeInteger, TypeBoolean, TypeTime, TypeObject, TypeArray}

func (t fieldType) String() string { return typeNames[t] }

func parseType(s string) (fieldType, error) {
	switch s {
	case TypeAny, "any":
		return tAny, nil
	case TypeString:
		return tString, nil
	case TypeNumber:
		return tNumber, nil
	case TypeInteger:
		return tInteger, nil
	case TypeBoolean:
		return tBoolean, nil
	case TypeTime:
		return tTime, nil
	case TypeObject:
		return tObject, nil
	case TypeArray:
		return tArray, nil
	}
	return 0, fmt.Errorf("unknown type %q: use string, number, integer, boolean, time, object or array", s)
}

// coerce converts v to the declared type. v is not nil. tf is the format of
// a time field.
func coerce(v any, t fieldType, tf *timeFormat) (any, error) {
	// Values that already have the type are returned as they are, which
	// saves boxing them again.
	switch t {
	case tString:
		if _, ok := v.(string); ok {
			return v, nil
		}
	case tNumber:
		if f, ok := v.(float64); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return v, nil
		}
	case tInteger:
		if _, ok := v.(int64); ok {
			return v, nil
		}
	case tBoolean:
		if _, ok := v.(bool); ok {
			return v, nil
		}
	}
	switch t {
	case tString:
		if s, ok := scalarString(v); ok {
			return s, nil
		}
	case tNumber:
		if f, ok := toFloat(v); ok {
			return f, nil
		}
	case tInteger:
		if n, ok := toInt(v); ok {
			return n, nil
		}
	case tBoolean:
		if b, ok := toBool(v); ok {
			return b, nil
		}
	case tTime:
		if tf == nil {
			tf = rfc3339Format
		}
		tm, err := tf.parse(v)
		if err != nil {
			return nil, err
		}
		return formatTime(tm), nil
	case tObject:
		if isObject(v) {
			return normalize(v)
		}
	case tArray:
		if isArray(v) {
			return normalize(v)
		}
	default:
		return normalize(v)
	}
	return nil, fmt.Errorf("expected %s, got %s", t, describe(v))
}

// normalize returns v as a JSON-compatible value: nil, bool, string, int64,
// float64, []any or map[string]any. json.Number becomes int64 when it is an
// integer that fits and float64 otherwise; times become RFC 3339 strings in
// UTC. Containers are copied only when something inside them changes, so the
// result may share memory with v.
func normalize(v any) (any, error) {
	out, _, err := norm(v, 0)
	return out, err
}

const maxDepth = 10000 // encoding/json refuses deeper documents too

func norm(v any, depth int) (any, bool, error) {
	switch t := v.(type) {
	case nil, bool, string, int64:
		return v, false, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, false, fmt.Errorf("%v is not a finite number", t)
		}
		return v, false, nil
	case json.Number:
		if integral(t) {
			if n, err := t.Int64(); err == nil {
				return n, true, nil
			}
		}
		f, err := t.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, false, fmt.Errorf("%s is not a number that can be stored (out of range)", quoteShort(string(t)))
		}
		return f, true, nil
	case int:
		return int64(t), true, nil
	case time.Time:
		return formatTime(t), true, nil
	case time.Duration:
		return t.String(), true, nil
	case map[string]any:
		if depth > maxDepth {
			return nil, false, fmt.Errorf("value is nested too deeply")
		}
		var out map[string]any
		for k, e := range t {
			ne, changed, err := norm(e, depth+1)
			if err != nil {
				return nil, false, err
			}
			if changed {
				if out == nil {
					out = maps.Clone(t)
				}
				out[k] = ne
			}
		}
		if out == nil {
			return t, false, nil
		}
		return out, true, nil
	case []any:
		if depth > maxDepth {
			return nil, false, fmt.Errorf("value is nested too deeply")
		}
		var out []any
		for i, e := range t {
			ne, changed, err := norm(e, depth+1)
			if err != nil {
				return nil, false, err
			}
			if changed {
				if out == nil {
					out = make([]any, len(t))
					copy(out, t)
				}
				out[i] = ne
			}
		}
		if out == nil {
			return t, false, nil
		}
		return out, true, nil
	}
	return normReflect(v, depth)
}

// normReflect handles the typed values expressions produce ([]string, []int,
// map[string]int, int32, ...).
func normReflect(v any, depth int) (any, bool, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u <= math.MaxInt64 {
			return int64(u), true, nil
		}
		return float64(u), true, nil
	case reflect.Float32, reflect.Float64:
		out, _, err := norm(rv.Float(), depth)
		return out, true, err
	case reflect.Bool:
		return rv.Bool(), true, nil
	case reflect.String:
		return rv.String(), true, nil
	case reflect.Slice, reflect.Array:
		if depth > maxDepth {
			return nil, false, fmt.Errorf("value is nested too deeply")
		}
		out := make([]any, rv.Len())
		for i := range out {
			e, _, err := norm(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, false, err
			}
			out[i] = e
		}
		return out, true, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if depth > maxDepth {
			return nil, false, fmt.Errorf("value is nested too deeply")
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			e, _, err := norm(it.Value().Interface(), depth+1)
			if err != nil {
				return nil, false, err
			}
			out[it.Key().String()] = e
		}
		return out, true, nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, true, nil
		}
	}
	return nil, false, fmt.Errorf("a value of type %T cannot be stored in a record", v)
}

func isObject(v any) bool {
	if _, ok := v.(map[string]any); ok {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String
}

func isArray(v any) bool {
	if _, ok := v.([]any); ok {
		return true
	}
	k := reflect.ValueOf(v).Kind()
	return k == reflect.Slice || k == reflect.Array
}

func isNumber(v any) bool {
	switch v.(type) {
	case float64, float32, int, int64, int32, int16, int8, uint, uint64, uint32, uint16, uint8, json.Number:
		return true
	}
	return false
}

// toFloat converts numbers and numeric strings to a finite float64.
func toFloat(v any) (float64, bool) {
	var f float64
	switch t := v.(type) {
	case float64:
		f = t
	case int64:
		return float64(t), true
	case int:
		return float64(t), true
	case json.Number:
		var err error
		if f, err = t.Float64(); err != nil {
			return 0, false
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(t), 64); err != nil {
			return 0, false
		}
	case bool:
		return 0, false
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return float64(rv.Int()), true
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return float64(rv.Uint()), true
		case reflect.Float32:
			f = rv.Float()
		default:
			return 0, false
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// integral reports whether a JSON number is written as an integer, so
// that Int64 may parse it (a failed parse allocates its error).
func integral(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }

// toInt converts integers, integral floats and integral numeric strings to
// int64; fractional values and values out of range are refused.
func toInt(v any) (int64, bool) {
	switch t := v.(type) {
	case int64:
		return t, true
	case int:
		return int64(t), true
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n, true
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64); err == nil {
			return n, true
		}
	}
	if isObject(v) || isArray(v) {
		return 0, false
	}
	if rv := reflect.ValueOf(v); rv.Kind() >= reflect.Int && rv.Kind() <= reflect.Int64 {
		return rv.Int(), true
	} else if rv.Kind() >= reflect.Uint && rv.Kind() <= reflect.Uint64 && rv.Uint() <= math.MaxInt64 {
		return int64(rv.Uint()), true
	}
	f, ok := toFloat(v)
	if !ok || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// toBool accepts booleans, "true"/"false"/"1"/"0" in any case and the
// numbers 0 and 1.
func toBool(v any) (bool, bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true", "1":
			return true, true
		case "false", "0":
			return false, true
		}
		return false, false
	}
	if !isNumber(v) {
		return false, false
	}
	f, ok := toFloat(v)
	switch {
	case ok && f == 1:
		return true, true
	case ok && f == 0:
		return false, true
	}
	return false, false
}

// scalarString renders scalars as strings; objects and arrays are refused.
func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case json.Number:
		return string(t), true
	case float64:
		return formatFloat(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case int:
		return strconv.Itoa(t), true
	case time.Time:
		return formatTime(t), true
	case time.Duration:
		return t.String(), true
	case nil:
		return "", false
	}
	if isObject(v) || isArray(v) {
		return "", false
	}
	n, _, err := normReflect(v, 0)
	if err != nil {
		return "", false
	}
	return scalarString(n)
}

func formatFloat(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// describe names a value in JSON terms for error messages, with a short
// rendering of scalars.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + quoteShort(t)
	case bool:
		return "boolean " + strconv.FormatBool(t)
	case time.Time:
		return "time " + formatTime(t)
	}
	if isNumber(v) {
		s, _ := scalarString(v)
		return "number " + s
	}
	if isObject(v) {
		return "object"
	}
	if isArray(v) {
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// quoteShort quotes s, cut to 40 runes so that errors stay short.
func quoteShort(s string) string {
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
