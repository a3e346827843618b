package mapping

import (
	"fmt"
	"strconv"
	"strings"
)

// path is a compiled dotted path such as "data.items.0.id". A segment that
// is an integer indexes an array (negative counts from the end) and is used
// as a key when the container is an object. "\." is a literal dot in a key
// and "\\" a literal backslash.
type path struct {
	text string
	segs []segment
}

type segment struct {
	key     string
	index   int
	isIndex bool
}

func parsePath(text string) (path, error) {
	p := path{text: text}
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
				return path{}, fmt.Errorf(`path %q: a backslash must escape "." or "\"`, text)
			}
			i++
			cur.WriteByte(text[i])
		case '.':
			if err := flush(); err != nil {
				return path{}, err
			}
		default:
			cur.WriteByte(c)
		}
	}
	if err := flush(); err != nil {
		return path{}, err
	}
	return p, nil
}

// empty reports whether the path selects the value itself.
func (p path) empty() bool { return len(p.segs) == 0 }

// lookup returns the value at the path and whether it exists. A path through
// a scalar, a missing key or an index out of range does not exist.
func (p path) lookup(v any) (any, bool) {
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

func (p path) String() string { return p.text }
