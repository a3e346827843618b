package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// weather is the validation of the pipeline spec sketch in DESIGN.md.
const weather = `{"type": "object", "required": ["temperature_c"],
	"properties": {"temperature_c": {"type": "number", "minimum": -90, "maximum": 60}}}`

func mustCompile(t *testing.T, doc string) *Schema {
	t.Helper()
	s, err := Compile(json.RawMessage(doc))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCompileEmpty(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"", "  ", "null", " null\n"} {
		s, err := Compile(json.RawMessage(doc))
		if s != nil || err != nil {
			t.Errorf("Compile(%q) = %v, %v; want nil, nil", doc, s, err)
		}
	}
	var s *Schema
	if err := s.Validate(map[string]any{"anything": 1}); err != nil {
		t.Errorf("nil Schema: %v", err)
	}
}

func TestCompileBadSchemas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{name: "not JSON", doc: `{"type":`, want: "schema: not valid JSON"},
		{name: "trailing data", doc: `{} {}`, want: "schema: not valid JSON"},
		{name: "unknown type", doc: `{"type": "nmber"}`, want: `schema is invalid: /type: must be one of "array", "boolean", "integer", "null", "number", … (7 values) but found string "nmber"`},
		{name: "bad minimum", doc: `{"properties": {"t": {"minimum": "low"}}}`, want: `schema is invalid: /properties/t/minimum: must be number but found string "low"`},
		{name: "bad required", doc: `{"required": "a"}`, want: `schema is invalid: /required: must be array but found string "a"`},
		{name: "not an object", doc: `[1]`, want: "schema is invalid: /: must be boolean or object but found array"},
		{name: "bad regex", doc: `{"properties": {"s": {"pattern": "("}}}`, want: `schema is invalid: /properties/s/pattern: must be a valid regex but found string "("`},
		{name: "remote ref", doc: `{"$ref": "https://example.com/schema.json"}`, want: `schema: cannot use the reference "https://example.com/schema.json": only references inside the schema are allowed`},
		{name: "file ref", doc: `{"$ref": "file:///etc/passwd"}`, want: `cannot use the reference "file:///etc/passwd"`},
		{name: "relative ref", doc: `{"$ref": "other.json"}`, want: "only references inside the schema are allowed"},
		{name: "missing local ref", doc: `{"$ref": "#/$defs/nope"}`, want: `schema: json-pointer in "/$defs/nope" not found`},
		{name: "unknown draft", doc: `{"$schema": "https://example.com/my-draft"}`, want: "schema: "},
		{name: "reference cycle", doc: `{"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}`, want: "schema is invalid: the references at"},
		{name: "self reference", doc: `{"$ref": "#"}`, want: "form a cycle"},
		{name: "too large", doc: `{"description": "` + strings.Repeat("x", MaxSchemaSize) + `"}`, want: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Compile(json.RawMessage(tt.doc))
			if err == nil {
				t.Fatalf("Compile = %v, want an error", s)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), base) {
				t.Errorf("error %q shows the internal URL", err)
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		value  string
		want   string // empty: valid
	}{
		{name: "valid", schema: weather, value: `{"temperature_c": 21.5}`},
		{name: "maximum", schema: weather, value: `{"temperature_c": 75}`, want: "temperature_c: must be <= 60 but found 75"},
		{name: "minimum fraction", schema: weather, value: `{"temperature_c": -90.5}`, want: "temperature_c: must be >= -90 but found -90.5"},
		{name: "type", schema: weather, value: `{"temperature_c": "abc"}`, want: `temperature_c: must be number but found string "abc"`},
		{name: "required", schema: weather, value: `{}`, want: "temperature_c: required but missing"},
		{name: "record type", schema: weather, value: `[1]`, want: "record: must be object but found array"},
		{
			name:   "several fields, in order",
			schema: `{"properties": {"b": {"type": "string"}, "a": {"exclusiveMaximum": 10}, "c": {"enum": ["x", "y"]}}, "required": ["d"]}`,
			value:  `{"a": 10, "b": 1, "c": "z"}`,
			want:   `a: must be < 10 but found 10; b: must be string but found number 1; c: must be one of "x", "y" but found string "z"; d: required but missing`,
		},
		{
			name:   "nested and arrays",
			schema: `{"properties": {"station": {"properties": {"id": {"type": "string", "minLength": 3}}}, "tags": {"items": {"type": "string"}, "maxItems": 3}}}`,
			value:  `{"station": {"id": "ab"}, "tags": ["a", 2]}`,
			want:   "station.id: must be at least 3 characters long but has 2; tags.1: must be string but found number 2",
		},
		{
			name:   "additional properties",
			schema: `{"properties": {"a": true}, "additionalProperties": false}`,
			value:  `{"a": 1, "zz": 2}`,
			want:   "zz: not allowed by the schema",
		},
		{name: "pattern", schema: `{"properties": {"id": {"pattern": "^[0-9]+$"}}}`, value: `{"id": "12a"}`, want: `id: must match the pattern "^[0-9]+$" but found string "12a"`},
		{name: "format", schema: `{"properties": {"at": {"format": "date-time"}}}`, value: `{"at": "yesterday"}`, want: `at: must be a valid date-time but found string "yesterday"`},
		{name: "const", schema: `{"properties": {"v": {"const": 2}}}`, value: `{"v": 3}`, want: "v: must be 2 but found number 3"},
		{name: "multipleOf", schema: `{"properties": {"v": {"multipleOf": 0.5}}}`, value: `{"v": 0.7}`, want: "v: must be a multiple of 0.5 but found 0.7"},
		{name: "uniqueItems", schema: `{"properties": {"v": {"uniqueItems": true}}}`, value: `{"v": [1, 2, 1]}`, want: "v: items 0 and 2 must not be equal"},
		{
			name:   "anyOf of types",
			schema: `{"properties": {"v": {"anyOf": [{"type": "number"}, {"type": "null"}]}}}`,
			value:  `{"v": "x"}`,
			want:   `v: must be null or number but found string "x"`,
		},
		{
			name:   "anyOf with one plausible branch",
			schema: `{"properties": {"v": {"anyOf": [{"type": "number", "maximum": 5}, {"type": "null"}]}}}`,
			value:  `{"v": 7}`,
			want:   "v: must be <= 5 but found 7",
		},
		{
			name:   "oneOf matching two",
			schema: `{"properties": {"v": {"oneOf": [{"type": "number"}, {"minimum": 0}]}}}`,
			value:  `{"v": 1}`,
			want:   "v: matches more than one of the oneOf schemas (0 and 1)",
		},
		{
			name:   "local ref",
			schema: `{"$defs": {"temp": {"type": "number", "maximum": 60}}, "properties": {"t": {"$ref": "#/$defs/temp"}}}`,
			value:  `{"t": 61}`,
			want:   "t: must be <= 60 but found 61",
		},
		{
			name:   "recursive schema",
			schema: `{"type": "object", "properties": {"child": {"$ref": "#"}, "v": {"type": "number"}}}`,
			value:  `{"child": {"child": {"v": "x"}}}`,
			want:   `child.child.v: must be number but found string "x"`,
		},
		{
			name:   "draft 7 by $schema",
			schema: `{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"t": {"exclusiveMaximum": 5}}}`,
			value:  `{"t": 5}`,
			want:   "t: must be < 5 but found 5",
		},
		{name: "not", schema: `{"properties": {"v": {"not": {"type": "null"}}}}`, value: `{"v": null}`, want: `v: must not match the schema under "not"`},
		{name: "false schema", schema: `{"properties": {"v": false}}`, value: `{"v": 1}`, want: "v: not allowed by the schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustCompile(t, tt.schema)
			err := s.Validate(decode(t, tt.value))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil, want an error")
			}
			if err.Error() != tt.want {
				t.Errorf("Validate =\n  %s\nwant\n  %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Error("error does not wrap ErrInvalid")
			}
		})
	}
}

func TestValidateBoundedMessage(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, `{"additionalProperties": {"type": "string", "maxLength": 3}}`)
	rec := map[string]any{}
	for _, k := range strings.Split("a b c d e f g h i j k l", " ") {
		rec[k] = strings.Repeat("long value ", 100)
	}
	err := s.Validate(rec)
	if err == nil {
		t.Fatal("Validate = nil")
	}
	msg := err.Error()
	if !strings.HasSuffix(msg, "; and 7 more") || len(msg) > 600 {
		t.Errorf("message (%d bytes) = %s", len(msg), msg)
	}
}

func TestValidateMappedValues(t *testing.T) {
	t.Parallel()
	// What the mapping package produces: int64, float64, json-like maps.
	s := mustCompile(t, `{"properties": {"n": {"type": "integer", "maximum": 9007199254740993}, "f": {"type": "number"}}}`)
	if err := s.Validate(map[string]any{"n": int64(9007199254740993), "f": 1.5}); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if err := s.Validate(map[string]any{"n": 1.5}); err == nil || err.Error() != "n: must be integer but found number 1.5" {
		t.Errorf("Validate = %v", err)
	}
	if err := s.Validate(map[string]any{"n": json.Number("9007199254740994")}); err == nil || !strings.Contains(err.Error(), "must be <= 9007199254740993") {
		t.Errorf("Validate = %v", err)
	}
}

func TestInfer(t *testing.T) {
	t.Parallel()
	samples := []map[string]any{
		{"t": 21.5, "n": int64(1), "station": "a", "at": "2024-05-01T10:00:00Z", "ok": true, "loc": map[string]any{"lat": 52.5, "lon": 13.4}, "tags": []any{"x"}, "opt": nil},
		{"t": int64(20), "n": int64(2), "station": "b", "at": "2024-05-01T11:00:00Z", "ok": false, "loc": map[string]any{"lat": 48.1}, "tags": []any{}, "opt": "y"},
		{"t": 19.0, "n": int64(3), "station": "c", "at": "not a time", "ok": true, "loc": map[string]any{"lat": 50.0, "lon": 8.7}, "extra": json.Number("5")},
	}
	got := Infer(samples)
	want := `{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{` +
		`"at":{"type":"string"},` +
		`"extra":{"type":"integer"},` +
		`"loc":{"properties":{"lat":{"type":"number"},"lon":{"type":"number"}},"required":["lat"],"type":"object"},` +
		`"n":{"type":"integer"},` +
		`"ok":{"type":"boolean"},` +
		`"opt":{"type":["null","string"]},` +
		`"station":{"type":"string"},` +
		`"t":{"type":"number"},` +
		`"tags":{"items":{"type":"string"},"type":"array"}},` +
		`"required":["at","loc","n","ok","station","t"],"type":"object"}`
	if string(got) != want {
		t.Errorf("Infer =\n%s\nwant\n%s", got, want)
	}

	// The inferred schema compiles and accepts its samples.
	s := mustCompile(t, string(got))
	for i, sample := range samples {
		if err := s.Validate(sample); err != nil {
			t.Errorf("sample %d: %v", i, err)
		}
	}
	if err := s.Validate(map[string]any{"t": "warm"}); err == nil {
		t.Error("a record with the wrong type and missing fields validated")
	}

	// Times are recognised when all samples are times.
	times := Infer([]map[string]any{{"at": "2024-05-01T10:00:00Z"}, {"at": "2024-05-01T10:00:00.5+02:00"}})
	if !strings.Contains(string(times), `"at":{"format":"date-time","type":"string"}`) {
		t.Errorf("Infer(times) = %s", times)
	}
	if empty := Infer(nil); string(empty) != `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}` {
		t.Errorf("Infer(nil) = %s", empty)
	}
}

func TestConcurrentValidate(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, weather)
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			var err error
			for j := range 500 {
				v := map[string]any{"temperature_c": float64((i*500 + j) % 100)}
				e := s.Validate(v)
				if (v["temperature_c"].(float64) > 60) != (e != nil) {
					err = e
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestBooleanSchemas(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, "true")
	if err := s.Validate(map[string]any{"a": 1.0}); err != nil {
		t.Errorf("true schema: %v", err)
	}
	f, err := Compile(json.RawMessage("false"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(map[string]any{}); err == nil || err.Error() != "record: not allowed by the schema" {
		t.Errorf("false schema: %v", err)
	}
}
