package mapping

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCoerce(t *testing.T) {
	t.Parallel()
	tm := time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 7200))
	tests := []struct {
		typ     string
		in      any
		want    any
		wantErr string
	}{
		// string
		{typ: "string", in: "abc", want: "abc"},
		{typ: "string", in: 1.5, want: "1.5"},
		{typ: "string", in: 1e21, want: "1e+21"},
		{typ: "string", in: int64(12), want: "12"},
		{typ: "string", in: json.Number("12345678901234567890"), want: "12345678901234567890"},
		{typ: "string", in: true, want: "true"},
		{typ: "string", in: tm, want: "2024-05-01T10:00:00Z"},
		{typ: "string", in: map[string]any{}, wantErr: "expected string, got object"},
		{typ: "string", in: []any{}, wantErr: "expected string, got array"},
		// number
		{typ: "number", in: 1.5, want: 1.5},
		{typ: "number", in: int64(2), want: 2.0},
		{typ: "number", in: json.Number("2.5"), want: 2.5},
		{typ: "number", in: " 3.25 ", want: 3.25},
		{typ: "number", in: "-1e3", want: -1000.0},
		{typ: "number", in: "abc", wantErr: `expected number, got string "abc"`},
		{typ: "number", in: "NaN", wantErr: `expected number, got string "NaN"`},
		{typ: "number", in: "Inf", wantErr: `expected number, got string "Inf"`},
		{typ: "number", in: math.Inf(1), wantErr: "expected number, got number +Inf"},
		{typ: "number", in: true, wantErr: "expected number, got boolean true"},
		{typ: "number", in: []any{1.0}, wantErr: "expected number, got array"},
		// integer
		{typ: "integer", in: 3.0, want: int64(3)},
		{typ: "integer", in: int64(3), want: int64(3)},
		{typ: "integer", in: 3, want: int64(3)},
		{typ: "integer", in: json.Number("9007199254740993"), want: int64(9007199254740993)},
		{typ: "integer", in: json.Number("3.0"), want: int64(3)},
		{typ: "integer", in: "42", want: int64(42)},
		{typ: "integer", in: "1e3", want: int64(1000)},
		{typ: "integer", in: 1.5, wantErr: "expected integer, got number 1.5"},
		{typ: "integer", in: json.Number("1.5"), wantErr: "expected integer, got number 1.5"},
		{typ: "integer", in: "1.5", wantErr: `expected integer, got string "1.5"`},
		{typ: "integer", in: 1e300, wantErr: "expected integer"},
		{typ: "integer", in: false, wantErr: "expected integer, got boolean false"},
		// boolean
		{typ: "boolean", in: true, want: true},
		{typ: "boolean", in: "true", want: true},
		{typ: "boolean", in: "FALSE", want: false},
		{typ: "boolean", in: "1", want: true},
		{typ: "boolean", in: "0", want: false},
		{typ: "boolean", in: 1.0, want: true},
		{typ: "boolean", in: int64(0), want: false},
		{typ: "boolean", in: json.Number("1"), want: true},
		{typ: "boolean", in: "yes", wantErr: `expected boolean, got string "yes"`},
		{typ: "boolean", in: 2.0, wantErr: "expected boolean, got number 2"},
		// time
		{typ: "time", in: "2024-05-01T12:00:00+02:00", want: "2024-05-01T10:00:00Z"},
		{typ: "time", in: "2024-05-01T10:00:00.123Z", want: "2024-05-01T10:00:00.123Z"},
		{typ: "time", in: tm, want: "2024-05-01T10:00:00Z"},
		{typ: "time", in: "01/05/2024", wantErr: `expected an RFC 3339 time, got string "01/05/2024"`},
		{typ: "time", in: 1714557600.0, wantErr: "set format unix"},
		// object and array
		{typ: "object", in: map[string]any{"a": json.Number("1")}, want: map[string]any{"a": int64(1)}},
		{typ: "object", in: []any{}, wantErr: "expected object, got array"},
		{typ: "object", in: "{}", wantErr: `expected object, got string "{}"`},
		{typ: "array", in: []any{json.Number("1.5"), "x"}, want: []any{1.5, "x"}},
		{typ: "array", in: []string{"a"}, want: []any{"a"}},
		{typ: "array", in: map[string]any{}, wantErr: "expected array, got object"},
		// any
		{typ: "", in: json.Number("7"), want: int64(7)},
		{typ: "", in: "x", want: "x"},
		{typ: "", in: map[string]int{"a": 1}, want: map[string]any{"a": int64(1)}},
		{typ: "", in: func() {}, wantErr: "cannot be stored"},
	}
	for _, tt := range tests {
		typ, err := parseType(tt.typ)
		if err != nil {
			t.Fatal(err)
		}
		got, err := coerce(tt.in, typ, nil)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("coerce(%#v, %q) = %#v, %v; want error containing %q", tt.in, tt.typ, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("coerce(%#v, %q) error: %v", tt.in, tt.typ, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("coerce(%#v, %q) = %#v, want %#v", tt.in, tt.typ, got, tt.want)
		}
	}
}

func TestParseTypeUnknown(t *testing.T) {
	t.Parallel()
	if _, err := parseType("float"); err == nil || !strings.Contains(err.Error(), `unknown type "float"`) {
		t.Errorf("parseType(float) error = %v", err)
	}
}

func TestNormalizeCopiesOnlyWhatChanges(t *testing.T) {
	t.Parallel()
	inner := map[string]any{"s": "x"}
	in := map[string]any{"n": json.Number("1"), "inner": inner, "list": []any{json.Number("2.5")}}
	out, err := normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"n": int64(1), "inner": inner, "list": []any{2.5}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("normalize = %#v, want %#v", out, want)
	}
	if in["n"] != json.Number("1") {
		t.Error("normalize modified its input")
	}
	if reflect.ValueOf(out.(map[string]any)["inner"]).Pointer() != reflect.ValueOf(inner).Pointer() {
		t.Error("an unchanged inner map was copied")
	}
	plain := map[string]any{"a": 1.0}
	if out, _ := normalize(plain); reflect.ValueOf(out).Pointer() != reflect.ValueOf(plain).Pointer() {
		t.Error("a map without json.Number was copied")
	}
}

func TestDescribeIsShort(t *testing.T) {
	t.Parallel()
	got := describe(strings.Repeat("é", 100))
	if n := len([]rune(got)); n > 50 {
		t.Errorf("describe of a long string has %d runes: %s", n, got)
	}
}
