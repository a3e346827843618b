package source

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Templates are the one kind of substitution a spec can ask for:
// {{ state.NAME }} in a URL, a query or header value, a request body or a
// GraphQL variable is replaced by the current value of the state variable
// NAME. There are no functions, no conditions and no other names, so a
// template can neither fail at poll time nor reach anything but the state.

// template is a parsed string: literal parts alternating with state names.
type template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit   string
	state string // set for a {{ state.NAME }}
}

// whole reports the state name when the string is exactly one template.
func (t template) whole() (string, bool) {
	if len(t.parts) == 1 && t.parts[0].state != "" {
		return t.parts[0].state, true
	}
	return "", false
}

// names lists the state names the template uses.
func (t template) names() []string {
	var out []string
	for _, p := range t.parts {
		if p.state != "" {
			out = append(out, p.state)
		}
	}
	return out
}

// parseTemplate parses s. The error says, in one sentence, what is wrong.
func parseTemplate(s string) (template, error) {
	var t template
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if strings.Contains(s, "}}") {
				return t, fmt.Errorf(`has "}}" without a "{{" before it`)
			}
			if s != "" {
				t.parts = append(t.parts, tmplPart{lit: s})
			}
			return t, nil
		}
		if strings.Contains(s[:i], "}}") {
			return t, fmt.Errorf(`has "}}" without a "{{" before it`)
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: s[:i]})
		}
		rest := s[i+2:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			return t, fmt.Errorf(`has "{{" without a closing "}}"`)
		}
		inner := strings.TrimSpace(rest[:j])
		name, ok := strings.CutPrefix(inner, "state.")
		if !ok || !validStateName(name) {
			return t, fmt.Errorf("has the template {{ %s }}; the only template is {{ state.NAME }}, the value of a variable of source.state", truncate(inner, 40))
		}
		t.parts = append(t.parts, tmplPart{state: name})
		s = rest[j+2:]
	}
}

// validStateName reports whether name can name a state variable: letters,
// digits and underscores, not starting with a digit, at most 64 bytes.
func validStateName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// escaper turns a substituted value into text for its place.
type escaper func(string) string

func noEscape(s string) string { return s }

// render substitutes the state values; esc escapes each substituted value.
func (t template) render(vals Values, esc escaper) string {
	if len(t.parts) == 1 && t.parts[0].state == "" {
		return t.parts[0].lit
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.state == "" {
			b.WriteString(p.lit)
			continue
		}
		b.WriteString(esc(textOf(vals[p.state])))
	}
	return b.String()
}

// textOf writes a state value as text: strings as they are, numbers and
// booleans as in JSON, null as nothing, objects and arrays as JSON.
func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// urlTemplate is a templated URL: values substituted before the "?" are
// path-escaped, those after it query-escaped.
type urlTemplate struct {
	path, query template
	hasQuery    bool
}

func parseURLTemplate(s string) (urlTemplate, error) {
	var u urlTemplate
	p, q, has := strings.Cut(s, "?")
	var err error
	if u.path, err = parseTemplate(p); err != nil {
		return u, err
	}
	if u.query, err = parseTemplate(q); err != nil {
		return u, err
	}
	u.hasQuery = has
	return u, nil
}

func (u urlTemplate) render(vals Values) string {
	s := u.path.render(vals, url.PathEscape)
	if u.hasQuery {
		s += "?" + u.query.render(vals, url.QueryEscape)
	}
	return s
}

func (u urlTemplate) names() []string { return append(u.path.names(), u.query.names()...) }

// jsonTemplate is a JSON value whose strings may hold templates.
type jsonTemplate struct {
	v    any // decoded JSON with json.Number, strings parsed lazily
	refs []stateRef
}

// parseJSONTemplate checks every string of v (object keys excepted) and
// returns the problems by path relative to v.
func parseJSONTemplate(v any) (jsonTemplate, []Problem) {
	jt := jsonTemplate{v: v}
	var ps []Problem
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case string:
			t, err := parseTemplate(x)
			if err != nil {
				ps = append(ps, Problem{Path: path, Message: err.Error()})
				return
			}
			for _, n := range t.names() {
				jt.refs = append(jt.refs, stateRef{path, n})
			}
		case map[string]any:
			for k, e := range x {
				walk(e, joinPath(path, k))
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(v, "")
	return jt, ps
}

// render returns a copy of the value with its templates substituted. A
// string that is one template becomes the state value itself, so a number
// stays a number.
func (jt jsonTemplate) render(vals Values) any {
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			t, err := parseTemplate(x)
			if err != nil {
				return x // checked when the spec was built
			}
			if name, ok := t.whole(); ok {
				return vals[name]
			}
			return t.render(vals, noEscape)
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, e := range x {
				out[k] = walk(e)
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = walk(e)
			}
			return out
		}
		return v
	}
	return walk(jt.v)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	if strings.HasPrefix(key, "[") {
		return path + key
	}
	return path + "." + key
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
