package mapping

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// evalExpr evaluates src as the expression of field "in", whose value is
// value, in a record that also has the given fields, and returns the mapped
// field. Without an explicit path the expression runs even for nil.
func evalExpr(t *testing.T, src string, value any, record map[string]any) (any, error) {
	t.Helper()
	m, err := Compile(Spec{Fields: map[string]FieldSpec{"in": {Expr: src}}})
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	rec := map[string]any{"in": value}
	for k, v := range record {
		rec[k] = v
	}
	rs, err := m.Apply(rec, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Err != nil {
		return nil, rs[0].Err
	}
	return rs[0].Fields.Map()["in"], nil
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src     string
		value   any
		want    any
		wantErr string
	}{
		// expr builtins that the library keeps
		{src: "lower(value)", value: "AbC", want: "abc"},
		{src: "upper(value)", value: "AbC", want: "ABC"},
		{src: "trim(value)", value: "  x ", want: "x"},
		{src: "split(value, ',')", value: "a,b", want: []any{"a", "b"}},
		{src: "toBase64(value)", value: "hi", want: "aGk="},
		{src: "fromBase64(value)", value: "aGk=", want: "hi"},
		{src: "fromBase64(value)", value: "%%", wantErr: "illegal base64"},
		// bounded replacements of builtins
		{src: "replace(value, 'a', 'b')", value: "aaa", want: "bbb"},
		{src: "replace(value, 'a', 'b', 2)", value: "aaa", want: "bba"},
		{src: "repeat(value, 3)", value: "ab", want: "ababab"},
		{src: "repeat(value, -1)", value: "ab", wantErr: "must not be negative"},
		{src: "join(value, '-')", value: []any{"a", "b", 1.0}, want: "a-b-1"},
		{src: "join(split(value, ','))", value: "a,b", want: "ab"},
		{src: "join(value)", value: []any{map[string]any{}}, wantErr: "element 0 is object, not a string"},
		{src: "string(value)", value: 1.5, want: "1.5"},
		{src: "toJSON(value)", value: map[string]any{"a": 1.0}, want: "{\n  \"a\": 1\n}"},
		{src: "flatten(value)", value: []any{[]any{1.0, []any{2.0}}, 3.0}, want: []any{1.0, 2.0, 3.0}},
		{src: "round(value)", value: 2.5, want: 3.0},
		{src: "round(value, 2)", value: 3.14159, want: 3.14},
		{src: "round(value, -2)", value: 1234.0, want: 1200.0},
		{src: "round(value, 1)", value: "2.25", want: 2.3},
		{src: "round(value, 1)", value: "x", wantErr: `round: expected a number, got string "x"`},
		// casts
		{src: "toNumber(value)", value: "1.5", want: 1.5},
		{src: "toNumber(value)", value: "x", wantErr: `toNumber: expected number, got string "x"`},
		{src: "toInt(value)", value: "42", want: int64(42)},
		{src: "toInt(value)", value: 4.5, wantErr: "toInt: expected integer, got number 4.5"},
		{src: "toInt(value) + 1", value: 41.0, want: int64(42)},
		{src: "toBool(value)", value: "TRUE", want: true},
		{src: "toBool(value)", value: "maybe", wantErr: "toBool: expected boolean"},
		{src: "toString(value)", value: 12.0, want: "12"},
		{src: "toString(value)", value: nil, want: ""},
		{src: "toString(value)", value: []any{1.0, "a"}, want: `[1,"a"]`},
		// regular expressions
		{src: "regexMatch(value, '^[a-z]+$')", value: "abc", want: true},
		{src: "regexMatch(value, '^[a-z]+$')", value: "ab1", want: false},
		{src: "value matches '^a'", value: "abc", want: true},
		{src: "value matches record.pattern", value: "abc", want: true},
		{src: "regexExtract(value, '[0-9]+')", value: "id-42-x", want: "42"},
		{src: "regexExtract(value, 'id-([0-9]+)')", value: "id-42-x", want: "42"},
		{src: "regexExtract(value, 'id-([0-9]+)', 0)", value: "id-42-x", want: "id-42"},
		{src: "regexExtract(value, 'id-([0-9]+)', 2)", value: "id-42-x", wantErr: "the pattern has no group 2"},
		{src: "regexExtract(value, '[0-9]+') ?? 'none'", value: "abc", want: "none"},
		{src: "regexReplace(value, '([a-z]+)-([0-9]+)', '$2:$1')", value: "ab-12 cd-34", want: "12:ab 34:cd"},
		{src: "regexReplace(value, 'x', 'y')", value: "abc", want: "abc"},
		{src: "regexMatch(value, record.pattern)", value: "abc", want: true},
		{src: "regexMatch(value, record.bad)", value: "abc", wantErr: "invalid regular expression"},
		{src: "regexMatch(value, 'a')", value: 5.0, wantErr: "regexMatch: the text must be a string, got number 5"},
		// time
		{src: "parseTime(value)", value: "2024-05-01T14:00:00+02:00", want: "2024-05-01T12:00:00Z"},
		{src: "parseTime(value, 'unix_ms')", value: 1714564800000.0, want: "2024-05-01T12:00:00Z"},
		{src: "parseTime(value, '%d.%m.%Y %H:%M', 'Europe/Berlin')", value: "01.05.2024 14:00", want: "2024-05-01T12:00:00Z"},
		{src: "parseTime(value, 'nope')", value: "x", wantErr: "unknown time format"},
		{src: "parseTime(value, 'unix', 'Mars/Base')", value: 1.0, wantErr: `unknown time zone "Mars/Base"`},
		{src: "formatTime(value)", value: "2024-05-01T14:00:00+02:00", want: "2024-05-01T12:00:00Z"},
		{src: "formatTime(value, '%Y-%m-%d')", value: "2024-05-01T23:30:00Z", want: "2024-05-01"},
		{src: "formatTime(value, '%Y-%m-%d', 'Europe/Berlin')", value: "2024-05-01T23:30:00Z", want: "2024-05-02"},
		{src: "formatTime(parseTime(value, 'unix'), 'unix_ms')", value: 1.5, want: "1500"},
		{src: "formatTime(value)", value: 5.0, wantErr: `use parseTime(value, "unix")`},
		{src: "unix(value)", value: "2024-05-01T12:00:00Z", want: int64(1714564800)},
		{src: "unixMilli(parseTime(value))", value: "2024-05-01T12:00:00.5Z", want: int64(1714564800500)},
		{src: "date(value)", value: "2024-05-01", want: "2024-05-01T00:00:00Z"},
		{src: "date(value, '02.01.2006')", value: "01.05.2024", want: "2024-05-01T00:00:00Z"},
		{src: "parseTime(value).In(timezone('Europe/Berlin')).Hour()", value: "2024-05-01T12:00:00Z", want: int64(14)},
		{src: "parseTime(value).Year()", value: "2024-05-01T12:00:00Z", want: int64(2024)},
		{src: "arrival.Unix()", value: nil, want: int64(1714564800)},
		{src: "unix(arrival) - unix(value)", value: "2024-05-01T11:00:00Z", want: int64(3600)},
		// missing values
		{src: "coalesce(value, record.other, 'c')", value: nil, want: "c"},
		{src: "coalesce(record.missing, value)", value: "v", want: "v"},
		{src: "coalesce(record.missing)", value: nil, want: nil},
		{src: "default(value, 'd')", value: "", want: "d"},
		{src: "default(value, 'd')", value: nil, want: "d"},
		{src: "default(value, 'd')", value: "v", want: "v"},
		{src: "default(value, 'd')", value: 0.0, want: 0.0},
		// hashes
		{src: "sha256(value)", value: "abc", want: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{src: "sha1(value)", value: "abc", want: "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{src: "md5(value)", value: "abc", want: "900150983cd24fb0d6963f7d28e17f72"},
		{src: "md5(value)", value: 12.0, want: "c20ad4d76fe97759aa27a0c99bff6710"},
		// operators and closures on normalised input
		{src: "value * 2", value: 21.0, want: 42.0},
		{src: "sum(map(value, #.n))", value: []any{map[string]any{"n": 1.0}, map[string]any{"n": 2.0}}, want: 3.0},
		{src: "value?.a?.b ?? 'none'", value: nil, want: "none"},
		{src: "{'a': value, 'b': [value]}", value: "x", want: map[string]any{"a": "x", "b": []any{"x"}}},
	}
	record := map[string]any{"pattern": "^a", "bad": "(", "other": nil}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			got, err := evalExpr(t, tt.src, tt.value, record)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("= %#v, %v; want error containing %q", got, err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "field in: expr: ") {
					t.Errorf("error %q does not name the field", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("= %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestFunctionsTypeCheckedAtCompile(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"regexMatch(value, 1)",
		"sha256()",
		"round(value, 'x')",
		"parseTime(value, 1)",
		"coalesce() + 1 + upper(2)",
		"default(value)",
	} {
		if _, err := Compile(Spec{Fields: map[string]FieldSpec{"x": {Expr: src}}}); err == nil {
			t.Errorf("Compile(%q) succeeded, want a type error", src)
		}
	}
}

func TestRegexCacheIsBounded(t *testing.T) {
	t.Parallel()
	l := &library{}
	for i := range maxCached + 50 {
		if _, err := l.regexp(strings.Repeat("a", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(l.regexps.m); n != maxCached {
		t.Errorf("cache holds %d patterns, want %d", n, maxCached)
	}
	if _, err := l.regexp(strings.Repeat("a", maxPattern+1)); err == nil {
		t.Error("an over-long pattern was accepted")
	}
}
