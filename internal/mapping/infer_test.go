package mapping_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tributary-dev/tributary/internal/mapping"
)

func raws(docs ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		out[i] = json.RawMessage(d)
	}
	return out
}

func TestInfer(t *testing.T) {
	got := mapping.Infer(raws(
		`{"temp": 21.5, "count": 3, "room": "kitchen", "ok": true, "at": "2025-01-02T03:04:05Z",
		  "meta": {"id": 7, "tags": ["a"]}, "nothing": null, "mixed": 1, "level": 2}`,
		`{"temp": 20, "count": 4, "room": "hall", "ok": false, "at": "2025-01-02T03:04:06.5+01:00",
		  "meta": {"id": 8, "tags": []}, "mixed": "one", "level": "2.5", "extra": "only here"}`,
		`"not an object"`,
		`[1, 2]`,
	))
	want := []mapping.Suggestion{
		{Name: "at", Path: "at", Type: "time", Seen: 2},
		{Name: "count", Path: "count", Type: "integer", Seen: 2},
		{Name: "level", Path: "level", Type: "number", Seen: 2},
		{Name: "id", Path: "meta.id", Type: "integer", Seen: 2},
		{Name: "tags", Path: "meta.tags", Type: "array", Seen: 2},
		{Name: "mixed", Path: "mixed", Type: "", Seen: 2},
		{Name: "ok", Path: "ok", Type: "boolean", Seen: 2},
		{Name: "room", Path: "room", Type: "string", Seen: 2},
		{Name: "temp", Path: "temp", Type: "number", Seen: 2},
		{Name: "extra", Path: "extra", Type: "string", Seen: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Infer:\n got %+v\nwant %+v", got, want)
	}
}

func TestInferNames(t *testing.T) {
	// Two leaves with the same last segment are named by their whole path.
	got := mapping.Infer(raws(`{"a": {"id": 1}, "b": {"id": "x"}, "c": {"d": {"e": {"f": 1}}}}`))
	want := []mapping.Suggestion{
		{Name: "a_id", Path: "a.id", Type: "integer", Seen: 1},
		{Name: "b_id", Path: "b.id", Type: "string", Seen: 1},
		{Name: "e", Path: "c.d.e", Type: "object", Seen: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Infer:\n got %+v\nwant %+v", got, want)
	}
}

func TestInferNothing(t *testing.T) {
	for _, in := range [][]json.RawMessage{nil, raws(`1`, `"x"`, `null`, `{}`, `not json`)} {
		if got := mapping.Infer(in); got != nil {
			t.Errorf("Infer(%s) = %+v, want nil", in, got)
		}
	}
}

func TestInferBounds(t *testing.T) {
	doc := "{"
	for i := range mapping.InferMaxFields + 10 {
		if i > 0 {
			doc += ","
		}
		doc += fmt.Sprintf(`"f%03d": %d`, i, i)
	}
	doc += "}"
	if got := mapping.Infer(raws(doc)); len(got) != mapping.InferMaxFields {
		t.Fatalf("%d fields suggested, want at most %d", len(got), mapping.InferMaxFields)
	}
}

// The suggestions compile as a mapping and map their sample.
func TestInferCompiles(t *testing.T) {
	sample := raws(`{"temp": 21.5, "room": "kitchen", "at": "2025-01-02T03:04:05Z", "meta": {"id": 7}}`)
	spec := mapping.Spec{Fields: map[string]mapping.FieldSpec{}}
	for _, s := range mapping.Infer(sample) {
		spec.Fields[s.Name] = mapping.FieldSpec{Path: s.Path, Type: s.Type}
	}
	if _, err := mapping.Compile(spec); err != nil {
		t.Fatalf("the suggestions do not compile: %v", err)
	}
}
