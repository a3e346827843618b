package schema

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// Draft is the JSON Schema dialect of the schemas FromType writes.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// FromType returns a JSON Schema (draft 2020-12) of the JSON form of a t,
// as the settings of a source or sink kind are written: one object per
// struct with its fields' JSON names, no other properties, the fields
// without omitempty required, and descriptions from `doc` tags. Named
// struct types that appear inside t are defined once under $defs. It
// panics when t cannot be described (a channel or a function), which is a
// programming error of a kind's author.
func FromType(t reflect.Type) json.RawMessage {
	reg := huma.NewMapRegistry("#/$defs/", huma.DefaultSchemaNamer)
	s := huma.SchemaFromType(reg, t)
	if s.Ref != "" { // a named struct: inline the top level
		s = reg.SchemaFromRef(s.Ref)
	}
	top, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("schema: describe %s: %v", t, err))
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(top, &doc); err != nil {
		panic(fmt.Sprintf("schema: describe %s: %v", t, err))
	}
	doc["$schema"], _ = json.Marshal(Draft)
	defs := maps.Clone(reg.Map())
	if ref := huma.SchemaFromType(reg, t).Ref; ref != "" {
		// Settings types do not refer to themselves.
		delete(defs, strings.TrimPrefix(ref, "#/$defs/"))
	}
	if len(defs) > 0 {
		raw, err := json.Marshal(defs)
		if err != nil {
			panic(fmt.Sprintf("schema: describe %s: %v", t, err))
		}
		doc["$defs"] = raw
	}
	out, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("schema: describe %s: %v", t, err))
	}
	return out
}
