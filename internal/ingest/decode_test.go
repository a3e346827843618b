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
		{"ndjson detected after blank lines", "\n \n  {\"a\": 1}\n{\"a\": 2}", false, []any{obj("a", "1"), obj("a", "2")}},
		{"pretty object", "{\n  \"a\": 1\n}\n", false, []any{obj("a", "1")}},
		{"array with white space", " \n[ {\"a\": 1} ,\n{\"a\": 2} ]\n ", false, []any{obj("a", "1"), obj("a", "2")}},
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
		{"malformed ndjson after blank lines", "\n{\"a\": 1}\n{oops}\n", false, "Line 3 is not valid JSON"},
		{"pretty object then another", "{\n\"a\": 1}\n{\"a\": 2}\n", false, "Line 1 is not valid JSON"},
		{"offset after leading space", "  {\"a\": 1, \"b\": }", false, "at byte 17."},
		{"missing comma", " [1 2]", false, "expected comma after array element in element 2 of the array, which starts after byte 4."},
		{"malformed array element", `[{"a": 1}, {"a": ]`, false, "invalid character ']' looking for beginning of value in element 2 of the array, which starts after byte 9."},
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

func TestDecodeBodyRecordLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		body   string
		ndjson bool
	}{
		{"array", `[1, 2, 3]`, false},
		{"ndjson", "{}\n\n{}\n{}\n", true},
		{"detected ndjson", "{}\n{}\n{}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := decodeBody(strings.NewReader(tc.body), tc.ndjson, 3); err != nil || len(got) != 3 {
				t.Fatalf("at the limit: decoded %d, err %v", len(got), err)
			}
			got, err := decodeBody(strings.NewReader(tc.body), tc.ndjson, 2)
			var e *TooManyRecordsError
			if !errors.As(err, &e) || e.Limit != 2 {
				t.Fatalf("decoded %#v, err %v; want a TooManyRecordsError of 2", got, err)
			}
		})
	}
}

// A body over its limit is refused as too large even when its JSON is bad
// before the limit, as when bodies were read whole before decoding.
func TestDecodeBodyLimitWinsOverBadJSON(t *testing.T) {
	t.Parallel()
	r, err := openBody(header(), strings.NewReader(`{"a": oops `+strings.Repeat("x", 2000)), 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeBody(r, false, 10)
	var e *TooLargeError
	if !errors.As(err, &e) || e.Limit != 1024 {
		t.Fatalf("err = %v, want a TooLargeError", err)
	}
}
