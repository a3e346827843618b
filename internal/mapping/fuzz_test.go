package mapping

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzCompileApply compiles arbitrary mapping specs and applies the ones
// that compile to arbitrary inputs: neither step panics, and a record
// that maps has a time and JSON-encodable fields.
func FuzzCompileApply(f *testing.F) {
	for _, c := range [][2]string{
		{`{"fields":{"t":{"path":"temp","type":"number"}}}`, `{"temp":21.5}`},
		{`{"records":"items","fields":{"n":{"expr":"len(filter(1..10, # % 2 == 0))"}}}`, `{"items":[{},{}]}`},
		{`{"fields":{"x":{"expr":"regexReplace(repeat('a', 80), 'a+', 'b')"}}}`, `{}`},
		{`{"fields":{"x":{"expr":"split(repeat('a', 100), '')"}}}`, `{}`},
		{`{"expr":"{'a': 1, 'b': [1,2]}"}`, `[1,2]`},
		{`{"timestamp":{"path":"ts","format":"unix"},"keep_unmapped":true}`, `{"ts":1e308,"s":"\u0000"}`},
		{`{"fields":{"d":{"path":"a.b.c","type":"string","default":"x"}}}`, `{"a":{"b":null}}`},
		{`{"fields":{"b":{"type":"integer"},"a":{"path":"x"}},"keep_unmapped":true}`, `{"c":1,"b":"2","a":3,"x":null}`},
	} {
		f.Add(c[0], c[1])
	}
	arrival := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, specDoc, inputDoc string) {
		var spec Spec
		if json.Unmarshal([]byte(specDoc), &spec) != nil {
			return
		}
		m, err := Compile(spec)
		if err != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(inputDoc))
		dec.UseNumber()
		var input any
		if dec.Decode(&input) != nil {
			return
		}
		results, err := m.Apply(input, arrival)
		if err != nil {
			return
		}
		for _, r := range results {
			if r.Err != nil {
				continue
			}
			if r.TS.IsZero() {
				t.Fatalf("a mapped record without a time: %+v", r)
			}
			got, err := json.Marshal(r.Fields)
			if err != nil {
				t.Fatalf("mapped fields do not encode: %v", err)
			}
			if r.Fields == nil || !sortedFields(r.Fields) {
				t.Fatalf("mapped fields are not sorted by name, each once: %+v", r.Fields)
			}
			if want, _ := json.Marshal(r.Fields.Map()); string(got) != string(want) {
				t.Fatalf("fields encode as %s, their map as %s", got, want)
			}
		}
	})
}
