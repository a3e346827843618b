// Package jsonvalue decodes JSON held in memory into the Go values that
// encoding/json's Decoder gives an `any` with UseNumber: map[string]any,
// []any, string, json.Number, bool and nil. It is the fast path of
// webhook and poll decoding: more than twice as fast as encoding/json,
// with half the allocations, because it reads from memory rather than a
// stream, sizes every map and slice once, and makes the strings and
// object keys of a document share one copy of it.
//
// It decodes only what it decodes exactly as encoding/json would and
// reports false for anything else (malformed JSON, control characters in
// strings, nesting deeper than encoding/json allows), so that the caller
// decodes those with encoding/json, which explains what is wrong.
package jsonvalue

import (
	"encoding/json"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is encoding/json's limit of nesting; deeper documents are
// left to it, to refuse.
const maxDepth = 10000

// Parse decodes the one JSON value b holds, with nothing but white space
// around it. ok is false when b is not such a value, or holds something
// Parse leaves to encoding/json (see the package comment).
//
// The strings of the result share one copy of b; b may be reused once
// Parse returns.
func Parse(b []byte) (v any, ok bool) {
	p := parsers.Get().(*parser)
	p.b, p.s, p.i = b, string(b), 0
	defer p.release()
	v, ok = p.value(0)
	if !ok {
		return nil, false
	}
	p.space()
	if p.i != len(b) {
		return nil, false
	}
	return v, true
}

// parsers keep their stacks between documents.
var parsers = sync.Pool{New: func() any { return new(parser) }}

// maxKeptStack is the most members or elements a pooled parser's stacks
// keep room for: a document with a huge array does not pin its stack.
const maxKeptStack = 4096

func (p *parser) release() {
	p.b, p.s = nil, ""
	if cap(p.members) > maxKeptStack {
		p.members = nil
	}
	if cap(p.elems) > maxKeptStack {
		p.elems = nil
	}
	parsers.Put(p)
}

type parser struct {
	b []byte
	s string // the copy of b that strings share
	i int
	// members and elems are stacks of the objects and arrays being
	// decoded, so that each map and slice is made once, at its size.
	members []member
	elems   []any
}

type member struct {
	key   string
	value any
}

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, bool) {
	p.space()
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, ok := p.str()
		return s, ok
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.i
		if !p.number() {
			return nil, false
		}
		return json.Number(p.s[start:p.i]), true
	}
	return nil, false
}

func (p *parser) literal(word string) bool {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

func (p *parser) object(depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	p.i++ // {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return map[string]any{}, true
	}
	mark := len(p.members)
	defer func() {
		clear(p.members[mark:])
		p.members = p.members[:mark]
	}()
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, false
		}
		key, ok := p.str()
		if !ok {
			return nil, false
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		p.members = append(p.members, member{key, v})
		p.space()
		if p.i >= len(p.b) {
			return nil, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			m := make(map[string]any, len(p.members)-mark)
			for _, e := range p.members[mark:] {
				m[e.key] = e.value // the last of duplicate keys wins, as in encoding/json
			}
			return m, true
		default:
			return nil, false
		}
	}
}

func (p *parser) array(depth int) (any, bool) {
	if depth > maxDepth {
		return nil, false
	}
	p.i++ // [
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return []any{}, true
	}
	mark := len(p.elems)
	defer func() {
		clear(p.elems[mark:])
		p.elems = p.elems[:mark]
	}()
	for {
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		p.elems = append(p.elems, v)
		p.space()
		if p.i >= len(p.b) {
			return nil, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return append([]any(nil), p.elems[mark:]...), true
		default:
			return nil, false
		}
	}
}

// str decodes the string at p.i. A string of valid UTF-8 without escapes
// is a slice of the shared copy; any other is unescaped into a string of
// its own (unquote).
func (p *parser) str() (string, bool) {
	start := p.i + 1
	plain := true
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			p.i = j + 1
			if plain {
				return p.s[start:j], true
			}
			return unquote(p.b[start:j])
		case c == '\\':
			plain = false
			j++ // the escaped character, a quote perhaps
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			if plain {
				r, size := utf8.DecodeRune(p.b[j:])
				if r == utf8.RuneError && size == 1 {
					plain = false
				} else {
					j += size - 1
				}
			}
		}
	}
	return "", false
}

// unquote decodes the text between the quotes of a JSON string as
// encoding/json does: the escapes of RFC 8259; a \u escape of half a
// surrogate pair that is not followed by its other half, and every byte
// that is not valid UTF-8, become U+FFFD. ok is false for an invalid
// escape or a control character.
func unquote(s []byte) (string, bool) {
	out := make([]byte, 0, len(s)+2*utf8.UTFMax)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return "", false
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(s[i:])
				if !ok {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(s[i:]); ok {
						if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
							out = utf8.AppendRune(out, pair)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return "", false
			}
			i += 2
		case c < 0x20 || c == '"':
			return "", false
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			out = utf8.AppendRune(out, r) // U+FFFD for a byte that is not UTF-8
			i += size
		}
	}
	return string(out), true
}

// hex4 reads the \uXXXX escape s starts with.
func hex4(s []byte) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number moves past the JSON number at p.i, reporting whether there is
// one.
func (p *parser) number() bool {
	b, i := p.b, p.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		from := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == from {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		from := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == from {
			return false
		}
	}
	p.i = i
	return true
}
