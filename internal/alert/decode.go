package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/internal/pipeline"
)

// Problem is one reason a document is not valid: where (a dotted path,
// "" for the document) and what.
type Problem = pipeline.Problem

// SpecError lists the problems of a rule or channel document; it matches
// core.ErrInvalid with errors.Is.
type SpecError = pipeline.SpecError

// problems collects the problems of one decoding.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &SpecError{Problems: ps}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// object decodes raw as a JSON object whose members are all in fields,
// calling each field's decoder with its value and path. Unknown members
// are problems that list the known ones. It reports whether raw was an
// object.
func object(raw json.RawMessage, path string, ps *problems, fields map[string]func(raw json.RawMessage, path string)) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		ps.add(path, "must be a JSON object, not %s", describe(raw))
		return false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		ps.add(path, "is not valid JSON: %v", err)
		return false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fn, ok := fields[k]
		if !ok {
			known := make([]string, 0, len(fields))
			for f := range fields {
				known = append(known, f)
			}
			slices.Sort(known)
			ps.add(join(path, k), "unknown field; the known fields here are %s", strings.Join(known, ", "))
			continue
		}
		fn(m[k], join(path, k))
	}
	return true
}

// describe names the JSON type of raw for messages, without its value.
func describe(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// typed decodes into dst, with a problem naming the expected type.
func typed[T any](dst *T, want string, ps *problems) func(json.RawMessage, string) {
	return func(raw json.RawMessage, path string) {
		raw = bytes.TrimSpace(raw)
		if err := json.Unmarshal(raw, dst); err != nil {
			ps.add(path, "must be %s, not %s", want, describe(raw))
		}
	}
}

func strictStr(dst *string, ps *problems) func(json.RawMessage, string) {
	return typed(dst, "a string", ps)
}

// parseDuration reads "90s", "15m", "2h" or "1d".
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || fmt.Sprint(days) != n || days < 0 {
			return 0, fmt.Errorf("%q is not a duration: write it like \"90s\", \"15m\", \"2h\" or \"1d\"", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write it like \"90s\", \"15m\", \"2h\" or \"1d\"", s)
	}
	return d, nil
}

// duration decodes a duration string within [lo, hi] into dst.
func duration(dst *time.Duration, lo, hi time.Duration, ps *problems) func(json.RawMessage, string) {
	return func(raw json.RawMessage, path string) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			ps.add(path, "must be a duration string such as \"5m\", not %s", describe(bytes.TrimSpace(raw)))
			return
		}
		d, err := parseDuration(s)
		switch {
		case err != nil:
			ps.add(path, "%s", err.Error())
		case d < lo:
			ps.add(path, "%q is shorter than the minimum of %s", s, lo)
		case d > hi:
			ps.add(path, "%q is longer than the maximum of %s", s, hi)
		default:
			*dst = d
		}
	}
}
