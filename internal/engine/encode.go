package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/tributary-dev/tributary/internal/mapping"
)

// Records are encoded once, by appendJSON, from the values mapping
// produces: mapping.Fields (a record, its fields in order: encodeRecord),
// and in it nil, bool, string, int64, float64, json.Number, []any and
// map[string]any. It writes what encoding/json writes for them — object
// keys sorted, floats formatted alike — except that <, > and & are not
// escaped (the JSON is stored and streamed, never inlined in HTML), and it
// skips reflection. Other types fall back to encoding/json.

// scratch buffers hold a record while it is encoded; the result is copied
// out at its exact size.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// MaxDepth is how deeply a stored record may nest objects and arrays: a
// record nested deeper is rejected. SQLite's JSON functions refuse
// documents deeper than 1,000 levels, and real records rarely go past ten.
const MaxDepth = 64

// maxNumberLength is the longest number literal stored as a number; PostgreSQL
// numeric stops at 131,072 digits and float64 at about 1e308.
const maxNumberLength = 1000

// Errors of records that cannot be stored on every backend.
var (
	errTooDeep     = fmt.Errorf("nested more than %d levels deep (limit)", MaxDepth)
	errNumberRange = errors.New("holds a number out of the range that can be stored")
)

// encoder writes JSON. It notes whether a string held the character
// U+0000, which PostgreSQL cannot store in jsonb, and, when replaceNUL is
// set, writes U+FFFD for it instead.
//
// With lenient set (for the raw input of rejected records, which must be
// stored whatever it holds) values nested deeper than MaxDepth are written
// as the string "(nested too deeply)" and numbers that cannot be stored as
// strings; otherwise they are errors (errTooDeep, errNumberRange).
type encoder struct {
	replaceNUL bool
	lenient    bool
	sawNUL     bool
	depth      int
}

// encode returns v as compact JSON in a fresh slice of its own size.
func (enc *encoder) encode(v any) (json.RawMessage, error) {
	return encodeWith(func(b []byte) ([]byte, error) { return enc.appendJSON(b, v) }, slices.Clone)
}

// encodeRecord returns a mapped record as compact JSON in the slice keep
// returns, given the JSON in a scratch buffer.
func (enc *encoder) encodeRecord(fs mapping.Fields, keep func([]byte) []byte) (json.RawMessage, error) {
	enc.depth++
	defer func() { enc.depth-- }()
	return encodeWith(func(b []byte) ([]byte, error) { return enc.appendFields(b, fs) }, keep)
}

// encodeWith appends JSON to a scratch buffer and returns what keep makes
// of it.
func encodeWith(appendJSON func([]byte) ([]byte, error), keep func([]byte) []byte) (json.RawMessage, error) {
	bp := scratch.Get().(*[]byte)
	b, err := appendJSON((*bp)[:0])
	var out json.RawMessage
	if err == nil {
		out = keep(b)
	}
	if cap(b) <= 1<<16 { // do not pin one huge record's buffer
		*bp = b
		scratch.Put(bp)
	}
	return out, err
}

func (enc *encoder) appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return enc.appendString(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float64:
		return appendFloat(b, x)
	case json.Number:
		if !validNumber(string(x)) {
			if enc.lenient {
				return enc.appendString(b, string(x)), nil
			}
			return b, fmt.Errorf("invalid number %.40q", string(x))
		}
		if !storableNumber(string(x)) {
			if enc.lenient {
				return enc.appendString(b, string(x)), nil
			}
			return b, errNumberRange
		}
		return append(b, x...), nil
	case map[string]any:
		if enc.depth >= MaxDepth {
			return enc.tooDeep(b)
		}
		enc.depth++
		b, err := enc.appendObject(b, x)
		enc.depth--
		return b, err
	case []any:
		if enc.depth >= MaxDepth {
			return enc.tooDeep(b)
		}
		enc.depth++
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = enc.appendJSON(b, e); err != nil {
				return b, err
			}
		}
		enc.depth--
		return append(b, ']'), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, out...), nil
}

func (enc *encoder) tooDeep(b []byte) ([]byte, error) {
	if enc.lenient {
		return append(b, `"(nested too deeply)"`...), nil
	}
	return b, errTooDeep
}

// storableNumber reports whether a JSON number literal can be stored as a
// number by every backend: not too long, and within the range of float64
// (PostgreSQL's jsonb refuses 1e999999, SQLite reads it as infinity).
func storableNumber(s string) bool {
	if len(s) > maxNumberLength {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && !math.IsInf(f, 0)
}

// smallObject is the most fields appendObject sorts on the stack; records
// rarely have more.
const smallObject = 32

func (enc *encoder) appendObject(b []byte, m map[string]any) ([]byte, error) {
	if len(m) > smallObject {
		return enc.appendLargeObject(b, m)
	}
	// Keys and values are gathered in arrays on the stack and an index
	// permutation is sorted, which writes no pointers: sorting the strings
	// themselves costs GC write barriers while a collection runs.
	var (
		keys  [smallObject]string
		vals  [smallObject]any
		order [smallObject]uint8
		n     int
	)
	for k, v := range m {
		keys[n], vals[n], order[n] = k, v, uint8(n)
		n++
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && keys[order[j]] < keys[order[j-1]]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	b = append(b, '{')
	for i, o := range order[:n] {
		if i > 0 {
			b = append(b, ',')
		}
		b = enc.appendString(b, keys[o])
		b = append(b, ':')
		var err error
		if b, err = enc.appendJSON(b, vals[o]); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendFields writes a record's fields in their order, which is by
// name (mapping.Fields).
func (enc *encoder) appendFields(b []byte, fs mapping.Fields) ([]byte, error) {
	b = append(b, '{')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = enc.appendString(b, f.Name)
		b = append(b, ':')
		var err error
		if b, err = enc.appendJSON(b, f.Value); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func (enc *encoder) appendLargeObject(b []byte, m map[string]any) ([]byte, error) {
	keys := slices.Sorted(maps.Keys(m))
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = enc.appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = enc.appendJSON(b, m[k]); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendFloat formats f as encoding/json does.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("unsupported number %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 becomes 1e-7, as in ES6.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string: control characters, quotes and
// backslashes escaped, invalid UTF-8 replaced by U+FFFD, and U+2028 and
// U+2029 escaped so the JSON is also valid JavaScript.
func (enc *encoder) appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case 0:
				enc.sawNUL = true
				if enc.replaceNUL {
					b = append(b, `\ufffd`...)
				} else {
					b = append(b, `\u0000`...)
				}
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// validNumber reports whether s is a JSON number literal.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		for s = s[1:]; len(s) > 0 && isDigit(s[0]); s = s[1:] {
		}
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		for s = s[2:]; len(s) > 0 && isDigit(s[0]); s = s[1:] {
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for ; len(s) > 0 && isDigit(s[0]); s = s[1:] {
		}
	}
	return s == ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
