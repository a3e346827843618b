package schema

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxInferDepth bounds how deep Infer describes nested objects and arrays;
// deeper values are described by their type only.
const maxInferDepth = 8

// Infer returns a draft 2020-12 schema describing sample records, as a
// starting point a user can edit: the JSON types seen for each field (an
// integer field that also holds fractions is a number), "format":
// "date-time" for strings that are all RFC 3339 times, nested objects and
// array items described the same way, and as required the fields that are
// present and not null in every sample. Every sample validates against the
// result. The output is deterministic for the same samples.
func Infer(samples []map[string]any) json.RawMessage {
	objs := make([]any, len(samples))
	for i, s := range samples {
		objs[i] = s
	}
	sch := infer(objs, 0)
	sch["type"] = "object"
	sch["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	b, err := json.Marshal(sch)
	if err != nil {
		// Only JSON values go in; this is a bug, not an input problem.
		panic("schema: Infer produced an unencodable schema: " + err.Error())
	}
	return b
}

// infer describes a set of values.
func infer(values []any, depth int) map[string]any {
	sch := map[string]any{}
	types := map[string]bool{}
	var objs, items, strs []any
	for _, v := range values {
		t := jsonType(v)
		if t == "" {
			continue
		}
		types[t] = true
		switch t {
		case "object":
			objs = append(objs, v)
		case "array":
			items = append(items, v.([]any)...)
		case "string":
			strs = append(strs, v)
		}
	}
	if types["integer"] && types["number"] {
		delete(types, "integer")
	}
	names := slices.Sorted(maps.Keys(types))
	switch len(names) {
	case 0:
		return sch // no values: anything goes
	case 1:
		sch["type"] = names[0]
	default:
		sch["type"] = names
	}
	if depth >= maxInferDepth {
		return sch
	}
	if len(objs) > 0 {
		props, required := inferObjects(objs, depth)
		if len(props) > 0 {
			sch["properties"] = props
		}
		if len(required) > 0 {
			sch["required"] = required
		}
	}
	if len(items) > 0 {
		sch["items"] = infer(items, depth+1)
	}
	if len(strs) > 0 && allTimes(strs) {
		sch["format"] = "date-time"
	}
	return sch
}

// inferObjects describes each field of a set of objects and lists the fields
// present and not null in all of them.
func inferObjects(objs []any, depth int) (map[string]any, []string) {
	fields := map[string][]any{}
	for _, o := range objs {
		for k, v := range o.(map[string]any) {
			fields[k] = append(fields[k], v)
		}
	}
	props := make(map[string]any, len(fields))
	var required []string
	for name, vals := range fields {
		props[name] = infer(vals, depth+1)
		if len(vals) == len(objs) && !slices.Contains(vals, nil) {
			required = append(required, name)
		}
	}
	slices.Sort(required)
	return props, required
}

func allTimes(strs []any) bool {
	for _, s := range strs {
		if _, err := time.Parse(time.RFC3339Nano, s.(string)); err != nil {
			return false
		}
	}
	return true
}

// jsonType names the JSON Schema type of a decoded value.
func jsonType(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "integer"
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") {
			return "number"
		}
		return "integer"
	case float32, float64:
		return "number"
	}
	return "" // not a JSON value; left undescribed
}
