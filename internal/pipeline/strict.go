package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// Decoding is strict. Before encoding/json decodes a document, checkShape
// walks the same JSON against the Go types and reports every key that has
// no field (encoding/json ignores them, or stops at the first without
// saying where), keys that differ from a field only in case (encoding/json
// would accept them silently), repeated keys (encoding/json keeps the last
// one silently) and values of the wrong JSON type — all of them, each with
// its path.

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// syntaxProblem checks that doc is exactly one JSON value and reports
// where it is not, under path.
func syntaxProblem(doc []byte, path string, ps *problems) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var v json.RawMessage
	err := dec.Decode(&v)
	if err == nil {
		if _, err := dec.Token(); err != io.EOF {
			line, col := position(doc, dec.InputOffset())
			ps.add(path, fmt.Sprintf("unexpected data after the document at line %d, column %d", line, col))
			return true
		}
		return false
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line, col := position(doc, se.Offset)
		ps.add(path, fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, strings.TrimPrefix(se.Error(), "json: ")))
	default: // io.ErrUnexpectedEOF
		ps.add(path, "invalid JSON: the document ends too early")
	}
	return true
}

// checkShape reports the unknown and repeated keys of raw, a valid JSON
// value to be decoded into a t, and its values of the wrong JSON type,
// under path. It reports whether every value had the right type.
func checkShape(raw []byte, t reflect.Type, path string, ps *problems) (typed bool) {
	typed = true
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return true
	}
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" { // absent, as encoding/json reads it
		return true
	}
	if want, ok := jsonKindOf(t, raw); !ok {
		if path == "" {
			ps.add("", "the document must be a JSON object, not "+describeJSON(raw))
		} else {
			ps.add(path, "must be "+want+", not "+describeJSON(raw))
		}
		return false
	}
	switch t.Kind() {
	case reflect.Struct:
		fields, names := jsonFields(t)
		eachMember(raw, path, ps, func(key string, val []byte) {
			ft, ok := fields[key]
			if !ok {
				// Any other member of a source is a kind's part; the
				// Compiler knows the kinds and checks its name.
				if t != sourceType {
					ps.add(joinPath(path, key), unknownField(key, names))
				}
				return
			}
			typed = checkShape(val, ft, joinPath(path, key), ps) && typed
		})
	case reflect.Map:
		eachMember(raw, path, ps, func(key string, val []byte) {
			typed = checkShape(val, t.Elem(), joinPath(path, key), ps) && typed
		})
	case reflect.Slice:
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.Token() // [
		for i := 0; dec.More(); i++ {
			var val json.RawMessage
			if dec.Decode(&val) != nil {
				break
			}
			typed = checkShape(val, t.Elem(), path+"["+strconv.Itoa(i)+"]", ps) && typed
		}
	}
	return typed
}

// jsonKindOf checks that raw has the JSON kind a t is decoded from, and
// names that kind.
func jsonKindOf(t reflect.Type, raw []byte) (string, bool) {
	switch t.Kind() {
	case reflect.String:
		return "a string", raw[0] == '"'
	case reflect.Bool:
		return "true or false", raw[0] == 't' || raw[0] == 'f'
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err := strconv.ParseInt(string(raw), 10, t.Bits())
		return "an integer", err == nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err := strconv.ParseUint(string(raw), 10, t.Bits())
		return "a positive integer", err == nil
	case reflect.Float32, reflect.Float64:
		return "a number", isNumber(raw)
	case reflect.Struct, reflect.Map:
		return "an object", raw[0] == '{'
	case reflect.Slice, reflect.Array:
		return "an array", raw[0] == '['
	}
	return "a JSON value", true
}

func isNumber(raw []byte) bool { return raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' }

// describeJSON names the kind of a valid JSON value, quoting short numbers.
func describeJSON(raw []byte) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	if len(raw) <= 24 {
		return "the number " + string(raw)
	}
	return "a number"
}

// eachMember calls fn for every member of the JSON object raw, and reports
// keys that appear more than once.
func eachMember(raw []byte, path string, ps *problems, fn func(key string, val []byte)) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.Token() // {
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if dec.Decode(&val) != nil {
			return
		}
		if seen[key] {
			ps.add(joinPath(path, key), "appears more than once")
			continue
		}
		seen[key] = true
		fn(key, val)
	}
}

// jsonFields returns the JSON names of t's fields with their types, and
// the names in declaration order.
func jsonFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := make(map[string]reflect.Type, t.NumField())
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

func unknownField(key string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return fmt.Sprintf("unknown field; did you mean %q?", k)
		}
	}
	return "unknown field; known fields are " + strings.Join(known, ", ")
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// position turns a byte offset into a 1-based line and column.
func position(doc []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(doc)))
	before := doc[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

// decodeStrict decodes doc, a JSON object, into v (a pointer) after
// checking its shape against v's type; problems go under path. It
// reports whether v holds the document's values: false when a value had
// the wrong type or the document is not JSON.
func decodeStrict(doc []byte, v any, path string, ps *problems) bool {
	if syntaxProblem(doc, path, ps) {
		return false
	}
	if !checkShape(doc, reflect.TypeOf(v).Elem(), path, ps) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // keeps numbers in free-form parts (mapping defaults) exact
	// This can fail only where a misspelt key that differs only in case,
	// reported already, holds a value of another type.
	return dec.Decode(v) == nil
}
