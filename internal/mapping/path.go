package mapping

import (
	"fmt"
	"strconv"
	"strings"
)

// Path is a compiled dotted path such as "data.items.0.id". A segment that
// is an integer indexes an array (negative counts from the end) and is used
// as a key when the container is an object. "\." is a literal dot in a key
// and "\\" a literal backslash.
type Path struct {
	text string
	segs []segment
}

type segment struct {
	key     string
	index   int
	isIndex bool
}

// ParsePath parses a dotted path; the empty path is the value itself.
func ParsePath(text string) (Path, error) {
	p := Path{text: text}
	if text == "" {
		return p, nil
	}
	var cur strings.Builder
	flush := func() error {
		if cur.Len() == 0 {
			return fmt.Errorf("path %q has an empty segment", text)
		}
		s := segment{key: cur.String()}
		if i, err := strconv.Atoi(s.key); err == nil {
			s.index, s.isIndex = i, true
		}
		p.segs = append(p.segs, s)
		cur.Reset()
		return nil
	}
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '\\':
			if i+1 == len(text) || (text[i+1] != '.' && text[i+1] != '\\') {
				return Path{}, fmt.Errorf(`path %q: a backslash must escape "." or "\"`, text)
			}
			i++
			cur.WriteByte(text[i])
		case '.':
			if err := flush(); err != nil {
				return Path{}, err
			}
		default:
			cur.WriteByte(c)
		}
	}
	if err := flush(); err != nil {
		return Path{}, err
	}
	return p, nil
}

// Empty reports whether the path selects the value itself.
func (p Path) Empty() bool { return len(p.segs) == 0 }

// Lookup returns the value at the path and whether it exists. A path through
// a scalar, a missing key or an index out of range does not exist.
func (p Path) Lookup(v any) (any, bool) {
	for _, s := range p.segs {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[s.key]; !ok {
				return nil, false
			}
		case []any:
			if !s.isIndex {
				return nil, false
			}
			i := s.index
			if i < 0 {
				i += len(c)
			}
			if i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// String returns the path as written.
func (p Path) String() string { return p.text }

// escapeKey writes a key as a path segment.
func escapeKey(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, `\`, `\\`), ".", `\.`)
}

// Parent returns the path without its last segment.
func (p Path) Parent() Path {
	if len(p.segs) == 0 {
		return p
	}
	q := Path{segs: p.segs[:len(p.segs)-1]}
	parts := make([]string, len(q.segs))
	for i, s := range q.segs {
		parts[i] = escapeKey(s.key)
	}
	q.text = strings.Join(parts, ".")
	return q
}

// Child returns the path with key appended.
func (p Path) Child(key string) Path {
	q := Path{segs: append(p.segs[:len(p.segs):len(p.segs)], segment{key: key})}
	if p.text == "" {
		q.text = escapeKey(key)
	} else {
		q.text = p.text + "." + escapeKey(key)
	}
	return q
}
