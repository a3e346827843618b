package mapping

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sortedFields reports whether fs is sorted by name, each name once.
func sortedFields(fs Fields) bool {
	for i := 1; i < len(fs); i++ {
		if strings.Compare(fs[i-1].Name, fs[i].Name) >= 0 {
			return false
		}
	}
	return true
}

// TestFieldsSorted checks every way of mapping a record gives its fields
// sorted by name, which the engine relies on to encode them as they are.
func TestFieldsSorted(t *testing.T) {
	input := `{"zeta": 1, "beta": "b", "alpha": {"y": 2, "x": 1}, "mid": null, "num": 12345678901234567890}`
	for _, tt := range []struct {
		name, spec string
		want       map[string]any
	}{
		{"no mapping", `{}`, map[string]any{
			"zeta": int64(1), "beta": "b", "alpha": map[string]any{"y": int64(2), "x": int64(1)}, "mid": nil, "num": 12345678901234567890.0}},
		{"fields", `{"fields": {"z": {"path": "zeta", "type": "number"}, "a": {"path": "alpha.x"}, "m": {"path": "mid"}, "d": {"path": "none", "default": "x"}}}`,
			map[string]any{"z": 1.0, "a": int64(1), "d": "x"}},
		{"fields, keep unmapped", `{"keep_unmapped": true, "fields": {"beta": {"path": "zeta", "type": "string"}, "zeta": {"path": "gone"}, "aa": {"expr": "1"}}}`,
			map[string]any{"beta": "1", "alpha": map[string]any{"y": int64(2), "x": int64(1)}, "mid": nil, "num": 12345678901234567890.0, "aa": int64(1)}},
		{"expr", `{"expr": "{'y': 1, 'b': record.beta, 'a': [1]}"}`, map[string]any{"y": int64(1), "b": "b", "a": []any{int64(1)}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var spec Spec
			if err := json.Unmarshal([]byte(tt.spec), &spec); err != nil {
				t.Fatal(err)
			}
			m, err := Compile(spec)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(strings.NewReader(input))
			dec.UseNumber()
			var in any
			if err := dec.Decode(&in); err != nil {
				t.Fatal(err)
			}
			rs, err := m.Apply(in, time.Now())
			if err != nil || len(rs) != 1 || rs[0].Err != nil {
				t.Fatalf("Apply = %+v, %v", rs, err)
			}
			fs := rs[0].Fields
			if !sortedFields(fs) {
				t.Errorf("Fields = %+v, not sorted by name", fs)
			}
			if !reflect.DeepEqual(fs.Map(), tt.want) {
				t.Errorf("Fields = %#v, want %#v", fs.Map(), tt.want)
			}
			got, err := json.Marshal(fs)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Errorf("JSON = %s, want %s", got, want)
			}
			for name, v := range tt.want {
				if g, ok := fs.Get(name); !ok || !reflect.DeepEqual(g, v) {
					t.Errorf("Get(%q) = %v, %v; want %v", name, g, ok, v)
				}
			}
			if _, ok := fs.Get("nope"); ok {
				t.Error(`Get("nope") found a field`)
			}
		})
	}
}

// TestFieldsEmpty checks a record mapped to no fields has empty, not nil,
// Fields, which encode as {}.
func TestFieldsEmpty(t *testing.T) {
	m, err := Compile(Spec{Fields: map[string]FieldSpec{"a": {Path: "missing"}}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := m.Apply(map[string]any{}, time.Now())
	if err != nil || rs[0].Err != nil {
		t.Fatal(err, rs[0].Err)
	}
	if rs[0].Fields == nil || len(rs[0].Fields) != 0 {
		t.Fatalf("Fields = %#v, want empty", rs[0].Fields)
	}
	if b, _ := json.Marshal(rs[0].Fields); string(b) != "{}" {
		t.Errorf("JSON = %s, want {}", b)
	}
	if b, _ := json.Marshal(Fields(nil)); string(b) != "null" {
		t.Errorf("nil Fields = %s, want null", b)
	}
}
