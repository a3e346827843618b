package schema

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzCompileValidate compiles arbitrary JSON Schemas and validates
// arbitrary values against the ones that compile: nothing panics.
func FuzzCompileValidate(f *testing.F) {
	for _, c := range [][2]string{
		{`{"type":"object","properties":{"t":{"type":"number","maximum":60}},"required":["t"]}`, `{"t":70}`},
		{`{"type":"array","items":{"type":"string","pattern":"^a+$"}}`, `["aaa","b"]`},
		{`{"$ref":"#"}`, `{}`},
		{`{"anyOf":[{"type":"integer"},{"minLength":2}]}`, `"x"`},
		{`{"pattern":"(a+)+$"}`, `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"`},
		{`{"$ref":"http://example.com/schema"}`, `1`},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, doc, value string) {
		s, err := Compile(json.RawMessage(doc))
		if err != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(value))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		_ = s.Validate(v)
	})
}
