package ingest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	obj := func(k string, v json.Number) map[string]any { return map[string]any{k: v} }
	for _, tc := range []struct {
		name   string
		body   string
		ndjson bool
		want   []any
	}{
		{"object", `{"a": 1}`, false, []any{obj("a", "1")}},
		{"array", `[{"a": 1}, {"a": 2.5}]`, false, []any{obj("a", "1"), obj("a", "2.5")}},
		{"empty array", `[]`, false, []any{}},
		{"array of scalars", `[1, "x"]`, false, []any{json.Number("1"), "x"}},
		{"ndjson", "{\"a\": 1}\n\n{\"a\": 2}\r\n", true, []any{obj("a", "1"), obj("a", "2")}},
		{"ndjson without a final newline", "{\"a\": 1}\n{\"a\": 2}", true, []any{obj("a", "1"), obj("a", "2")}},
		{"ndjson detected", "{\"a\": 1}\n{\"a\": 2}\n", false, []any{obj("a", "1"), obj("a", "2")}},
		{"ndjson of one array line", "[1]\n", true, []any{[]any{json.Number("1")}}},
		{"big numbers stay exact", `{"a": 12345678901234567890}`, false, []any{obj("a", "12345678901234567890")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeBody(strings.NewReader(tc.body), tc.ndjson, 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeBodyRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		body   string
		ndjson bool
		detail string
	}{
		{"empty", "", false, "The body is empty"},
		{"blank", " \n\t", true, "The body is empty"},
		{"malformed", `{"a": 1, "b": }`, false, "The body is not valid JSON: invalid character '}' looking for beginning of value at byte 15."},
		{"truncated", `[{"a": 1}, {"b"`, false, "ends early, after byte 15"},
		{"trailing data", `{"a": 1} x`, false, "unexpected data after the JSON value at byte 8"},
		{"two arrays on separate lines", "[1]\n[2]", false, "unexpected data after the JSON value at byte 3"},
		{"two objects on one line", `{"a": 1} {"a": 2}`, false, "at byte 8"},
		{"scalar", `"hello"`, false, "it is a single JSON string."},
		{"null", `null`, false, "single JSON null"},
		{"number", `5`, false, "single JSON number"},
		{"boolean", `true`, false, "single JSON boolean"},
		{"malformed ndjson line", "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3\n", true, "Line 3 is not valid JSON"},
		{"malformed detected ndjson", "{\"a\": 1}\n{\"a\": 2}\n\n{oops}\n", false, "Line 4 is not valid JSON"},
		{"two values on an ndjson line", "{\"a\": 1}\n{\"a\": 2} {\"a\": 3}\n", true, "Line 2 is not valid JSON: unexpected data after the JSON value at byte 9 of the line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeBody(strings.NewReader(tc.body), tc.ndjson, 1_000_000)
			var bad *BadJSONError
			if !errors.As(err, &bad) {
				t.Fatalf("decoded %#v, err %v; want a BadJSONError", got, err)
			}
			if !strings.Contains(bad.Detail, tc.detail) {
				t.Fatalf("detail %q lacks %q", bad.Detail, tc.detail)
			}
		})
	}
}

func TestIsNDJSON(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]bool{
		"application/x-ndjson":                 true,
		"application/x-ndjson; charset=utf-8":  true,
		"Application/JSONL":                    true,
		"application/jsonlines":                true,
		"application/json":                     false,
		"":                                     false,
		"application/x-ndjson; charset=\"utf8": false, // malformed parameters
	} {
		if got := isNDJSON(ct); got != want {
			t.Errorf("isNDJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}
