package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var arrival = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// decodeNumber decodes JSON as the engine should, with json.Number.
func decodeNumber(tb testing.TB, s string) any {
	tb.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// decodeFloat decodes JSON with float64 numbers.
func decodeFloat(tb testing.TB, s string) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func mustCompile(t *testing.T, spec Spec) *Mapping {
	t.Helper()
	m, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return m
}

func TestApplyRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		records string
		input   string
		want    int
		wantErr string
	}{
		{name: "object is one record", input: `{"a":1}`, want: 1},
		{name: "array is many", input: `[{"a":1},{"a":2},{"a":3}]`, want: 3},
		{name: "empty array", input: `[]`, want: 0},
		{name: "path", records: "data.items", input: `{"data":{"items":[{"a":1},{"a":2}]}}`, want: 2},
		{name: "path with index", records: "pages.1", input: `{"pages":[[{"a":1}],[{"a":2},{"a":3}]]}`, want: 2},
		{name: "path missing", records: "data.items", input: `{"data":{}}`, wantErr: `records not found: the input has nothing at "data.items"`},
		{name: "path not an array", records: "data", input: `{"data":{"a":1}}`, wantErr: `records not found: "data" is an object, not an array`},
		{name: "path null", records: "data", input: `{"data":null}`, wantErr: `"data" is null, not an array`},
		{name: "scalar input", input: `"hello"`, wantErr: "the input is a string, not an object or an array"},
		{name: "null input", input: `null`, wantErr: "the input is null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mustCompile(t, Spec{Records: tt.records})
			rs, err := m.Apply(decodeNumber(t, tt.input), arrival)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrRecords) {
					t.Fatalf("Apply error = %v, want ErrRecords containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != tt.want {
				t.Fatalf("got %d results, want %d", len(rs), tt.want)
			}
			for _, r := range rs {
				if r.Err != nil {
					t.Errorf("record error: %v", r.Err)
				}
			}
		})
	}
}

func TestApplyTimestamp(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name    string
		ts      *TimestampSpec
		fields  map[string]FieldSpec
		record  string
		want    time.Time
		wantErr string
	}{
		{name: "rfc3339 default", ts: &TimestampSpec{Path: "t"}, record: `{"t":"2024-05-01T12:30:00+02:00"}`, want: want},
		{name: "rfc3339 nested", ts: &TimestampSpec{Path: "meta.times.0"}, record: `{"meta":{"times":["2024-05-01T10:30:00Z"]}}`, want: want},
		{name: "unix", ts: &TimestampSpec{Path: "t", Format: "unix"}, record: `{"t":1714559400}`, want: want},
		{name: "unix fractional", ts: &TimestampSpec{Path: "t", Format: "unix"}, record: `{"t":1714559400.5}`, want: want.Add(500 * time.Millisecond)},
		{name: "unix_ms", ts: &TimestampSpec{Path: "t", Format: "unix_ms"}, record: `{"t":1714559400000}`, want: want},
		{name: "unix_us string", ts: &TimestampSpec{Path: "t", Format: "unix_us"}, record: `{"t":"1714559400000000"}`, want: want},
		{name: "unix_ns", ts: &TimestampSpec{Path: "t", Format: "unix_ns"}, record: `{"t":1714559400000000000}`, want: want},
		{name: "go layout", ts: &TimestampSpec{Path: "t", Format: "2006-01-02 15:04"}, record: `{"t":"2024-05-01 10:30"}`, want: want},
		{name: "strftime with zone", ts: &TimestampSpec{Path: "t", Format: "%d.%m.%Y %H:%M", Timezone: "Europe/Berlin"}, record: `{"t":"01.05.2024 12:30"}`, want: want},
		{name: "expr", ts: &TimestampSpec{Expr: "parseTime(record.day + 'T' + record.time + 'Z')"}, record: `{"day":"2024-05-01","time":"10:30:00"}`, want: want},
		{name: "expr with path and format", ts: &TimestampSpec{Path: "t", Expr: "value * 1000", Format: "unix_ms"}, record: `{"t":1714559400}`, want: want},
		{name: "missing", ts: &TimestampSpec{Path: "t"}, record: `{}`, wantErr: "timestamp: missing at t"},
		{name: "null", ts: &TimestampSpec{Path: "t"}, record: `{"t":null}`, wantErr: "timestamp: null at t"},
		{name: "bad", ts: &TimestampSpec{Path: "t"}, record: `{"t":"soon"}`, wantErr: `timestamp: expected an RFC 3339 time, got string "soon" at t`},
		{name: "number for rfc3339", ts: &TimestampSpec{Path: "t"}, record: `{"t":1714559400}`, wantErr: "set format unix"},
		{name: "out of range", ts: &TimestampSpec{Path: "t", Format: "unix_ms"}, record: `{"t":1e20}`, wantErr: "out of range"},
		{name: "expr returns null", ts: &TimestampSpec{Expr: "record.none"}, record: `{}`, wantErr: "timestamp: the expression returned null"},
		{name: "expr fails", ts: &TimestampSpec{Expr: "parseTime(record.t)"}, record: `{"t":"x"}`, wantErr: `timestamp: expr: parseTime: expected an RFC 3339 time, got string "x" (line 1, column 1)`},
		{name: "no spec: arrival", record: `{"a":1}`, want: arrival},
		{name: "no spec: ts field", record: `{"ts":"2024-05-01T10:30:00Z"}`, want: want},
		{name: "no spec: ts not a time", record: `{"ts":1714559400}`, want: arrival},
		{name: "no spec: mapped ts field", fields: map[string]FieldSpec{"ts": {Path: "when", Type: "time"}}, record: `{"when":"2024-05-01T12:30:00+02:00"}`, want: want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := mustCompile(t, Spec{Timestamp: tt.ts, Fields: tt.fields})
			rs, err := m.Apply(decodeNumber(t, tt.record), arrival)
			if err != nil {
				t.Fatal(err)
			}
			r := rs[0]
			if tt.wantErr != "" {
				if r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
					t.Fatalf("Err = %v, want one containing %q", r.Err, tt.wantErr)
				}
				return
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if !r.TS.Equal(tt.want) || r.TS.Location() != time.UTC {
				t.Errorf("TS = %v, want %v in UTC", r.TS, tt.want)
			}
		})
	}
}

// weatherSpec is the mapping of the pipeline spec sketch in DESIGN.md.
var weatherSpec = Spec{
	Records:   "data.items",
	Timestamp: &TimestampSpec{Path: "observed_at", Format: "rfc3339"},
	Fields: map[string]FieldSpec{
		"temperature_c": {Path: "temp_k", Expr: "value - 273.15", Type: "number"},
		"station":       {Path: "station.id", Type: "string"},
	},
}

func TestApplyFields(t *testing.T) {
	t.Parallel()
	input := `{"data":{"items":[
		{"observed_at":"2024-05-01T10:00:00Z","temp_k":300,"station":{"id":10384}},
		{"observed_at":"2024-05-01T10:01:00Z","temp_k":"abc","station":{"id":"10385"}},
		{"observed_at":"2024-05-01T10:02:00Z","temp_k":273.15}
	]}}`
	for name, decode := range map[string]func(testing.TB, string) any{"json.Number": decodeNumber, "float64": decodeFloat} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := mustCompile(t, weatherSpec)
			rs, err := m.Apply(decode(t, input), arrival)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 3 {
				t.Fatalf("got %d results", len(rs))
			}
			if rs[0].Err != nil {
				t.Fatal(rs[0].Err)
			}
			if got := rs[0].Fields.Map()["temperature_c"].(float64); got < 26.849 || got > 26.851 {
				t.Errorf("temperature_c = %v", got)
			}
			if got := rs[0].Fields.Map()["station"]; got != "10384" {
				t.Errorf("station = %#v, want the number as a string", got)
			}
			if !rs[0].TS.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
				t.Errorf("TS = %v", rs[0].TS)
			}
			if rs[0].Raw == nil {
				t.Error("Raw not set")
			}

			// The bad record is rejected with a readable reason; the
			// others are unaffected.
			if rs[1].Err == nil || rs[1].Fields != nil || rs[1].Raw == nil {
				t.Fatalf("record 1 = %+v, want a rejection with its raw input", rs[1])
			}
			if got, want := rs[1].Err.Error(), "field temperature_c: expr: invalid operation: string - number (line 1, column 7)"; got != want {
				t.Errorf("Err = %q, want %q", got, want)
			}
			var re *RecordError
			if !errors.As(rs[1].Err, &re) || re.Field != "temperature_c" {
				t.Errorf("errors.As(RecordError) = %+v", re)
			}

			// An optional field that is missing is left out.
			if rs[2].Err != nil {
				t.Fatal(rs[2].Err)
			}
			if _, ok := rs[2].Fields.Map()["station"]; ok || len(rs[2].Fields) != 1 {
				t.Errorf("Fields = %v, want only temperature_c", rs[2].Fields)
			}
		})
	}
}

func TestApplyFieldRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fields  map[string]FieldSpec
		keep    bool
		record  string
		want    map[string]any
		wantErr string
	}{
		{
			name:   "path defaults to the target name, a dot is literal",
			fields: map[string]FieldSpec{"a.b": {}, "c": {Type: "integer"}},
			record: `{"a.b":"x","a":{"b":"nested"},"c":"7"}`,
			want:   map[string]any{"a.b": "x", "c": int64(7)},
		},
		{
			name:   "expr without path reads the target name",
			fields: map[string]FieldSpec{"n": {Expr: "value * 2"}},
			record: `{"n":21}`,
			want:   map[string]any{"n": int64(42)},
		},
		{
			name:   "default for missing and null",
			fields: map[string]FieldSpec{"a": {Default: 1.0, Type: "integer"}, "b": {Default: "x"}, "c": {Path: "c", Expr: "value", Default: true}},
			record: `{"b":null}`,
			want:   map[string]any{"a": int64(1), "b": "x", "c": true},
		},
		{
			name:    "required missing",
			fields:  map[string]FieldSpec{"s": {Path: "station.id", Required: true}},
			record:  `{"station":{}}`,
			wantErr: "field s: required, but missing at station.id",
		},
		{
			name:    "required null",
			fields:  map[string]FieldSpec{"s": {Path: "station.id", Required: true}},
			record:  `{"station":{"id":null}}`,
			wantErr: "field s: required, but null at station.id",
		},
		{
			name:   "a missing value at an explicit path skips the expression",
			fields: map[string]FieldSpec{"a": {Path: "x", Expr: "upper(value)", Default: "none"}, "b": {Path: "y", Expr: "value - 1"}},
			record: `{"y":null}`,
			want:   map[string]any{"a": "none"},
		},
		{
			name:    "a missing value at an explicit path is reported as missing",
			fields:  map[string]FieldSpec{"a": {Path: "x", Expr: "upper(value)", Required: true}},
			record:  `{}`,
			wantErr: "field a: required, but missing at x",
		},
		{
			name:   "without a path the expression always runs",
			fields: map[string]FieldSpec{"name": {Expr: "record.first + ' ' + record.last"}},
			record: `{"first":"Ada","last":"Lovelace"}`,
			want:   map[string]any{"name": "Ada Lovelace"},
		},
		{
			name:    "required expression result",
			fields:  map[string]FieldSpec{"s": {Expr: "record.x ?? nil", Required: true}},
			record:  `{}`,
			wantErr: "field s: required, but the expression returned null",
		},
		{
			name:    "type errors of several fields are all reported",
			fields:  map[string]FieldSpec{"a": {Type: "number"}, "b": {Type: "integer"}, "c": {Type: "boolean"}},
			record:  `{"a":"abc","b":1.5,"c":"yes"}`,
			wantErr: `field a: expected number, got string "abc"; field b: expected integer, got number 1.5; field c: expected boolean, got string "yes"`,
		},
		{
			name:   "time field with format",
			fields: map[string]FieldSpec{"t": {Type: "time", Format: "unix"}},
			record: `{"t":1714557600}`,
			want:   map[string]any{"t": "2024-05-01T10:00:00Z"},
		},
		{
			name:   "object and array",
			fields: map[string]FieldSpec{"o": {Type: "object"}, "l": {Type: "array"}},
			record: `{"o":{"n":1},"l":[1,2.5]}`,
			want:   map[string]any{"o": map[string]any{"n": int64(1)}, "l": []any{int64(1), 2.5}},
		},
		{
			name:    "object shape",
			fields:  map[string]FieldSpec{"o": {Type: "object"}},
			record:  `{"o":[1]}`,
			wantErr: "field o: expected object, got array",
		},
		{
			name:   "keep unmapped",
			fields: map[string]FieldSpec{"t": {Path: "temp", Type: "number"}, "gone": {Path: "none"}},
			keep:   true,
			record: `{"temp":"1.5","other":2,"gone":"kept input field is dropped when its field is empty"}`,
			want:   map[string]any{"t": 1.5, "temp": "1.5", "other": int64(2)},
		},
		{
			name:   "int64 precision kept",
			fields: map[string]FieldSpec{"id": {Type: "integer"}, "raw": {Path: "id"}},
			record: `{"id":9007199254740993}`,
			want:   map[string]any{"id": int64(9007199254740993), "raw": int64(9007199254740993)},
		},
		{
			name:    "expression result that is not JSON",
			fields:  map[string]FieldSpec{"f": {Expr: "upper"}},
			record:  `{}`,
			wantErr: "field f",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Compile(Spec{Fields: tt.fields, KeepUnmapped: tt.keep})
			if err != nil {
				if tt.wantErr != "" && strings.Contains(err.Error(), tt.wantErr) {
					return
				}
				t.Fatal(err)
			}
			rs, err := m.Apply(decodeNumber(t, tt.record), arrival)
			if err != nil {
				t.Fatal(err)
			}
			r := rs[0]
			if tt.wantErr != "" {
				if r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErr) {
					t.Fatalf("Err = %v, want one containing %q", r.Err, tt.wantErr)
				}
				return
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if !reflect.DeepEqual(r.Fields.Map(), tt.want) {
				t.Errorf("Fields = %#v, want %#v", r.Fields, tt.want)
			}
		})
	}
}

func TestApplyMultipleErrorsUnwrap(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Spec{
		Timestamp: &TimestampSpec{Path: "t"},
		Fields:    map[string]FieldSpec{"a": {Type: "number"}, "b": {Type: "number"}},
	})
	rs, err := m.Apply(decodeNumber(t, `{"a":"x","b":"y"}`), arrival)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, e := range rs[0].Err.(interface{ Unwrap() []error }).Unwrap() {
		var re *RecordError
		if !errors.As(e, &re) {
			t.Fatalf("%v is not a *RecordError", e)
		}
		fields = append(fields, re.Where)
	}
	if got := strings.Join(fields, ","); got != "field a,field b,timestamp" {
		t.Errorf("errors of %s, want field a, field b, timestamp", got)
	}
}

func TestApplyRecordExpr(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, Spec{
		Records: "rows",
		Expr:    `{"t": record[1] - 273.15, "station": string(record[0]), "at": parseTime(record[2], "unix")}`,
	})
	rs, err := m.Apply(decodeNumber(t, `{"rows":[[10384, 300, 1714557600], [1, "x", 0], "not a row"]}`), arrival)
	if err != nil {
		t.Fatal(err)
	}
	k, c := 300.0, 273.15
	want := map[string]any{"t": k - c, "station": "10384", "at": "2024-05-01T10:00:00Z"}
	if rs[0].Err != nil || !reflect.DeepEqual(rs[0].Fields.Map(), want) {
		t.Errorf("record 0 = %#v, %v; want %#v", rs[0].Fields, rs[0].Err, want)
	}
	if rs[1].Err == nil || !strings.HasPrefix(rs[1].Err.Error(), "record: expr: invalid operation: string - number") {
		t.Errorf("record 1 Err = %v", rs[1].Err)
	}
	if rs[2].Err == nil || !strings.HasPrefix(rs[2].Err.Error(), "record: expr:") {
		t.Errorf("record 2 Err = %v", rs[2].Err)
	}

	m = mustCompile(t, Spec{Expr: "record.x"})
	rs, _ = m.Apply(decodeNumber(t, `[{"x":{"a":1}},{"x":5}]`), arrival)
	if rs[0].Err != nil || !reflect.DeepEqual(rs[0].Fields.Map(), map[string]any{"a": int64(1)}) {
		t.Errorf("record 0 = %#v, %v", rs[0].Fields, rs[0].Err)
	}
	if rs[1].Err == nil || rs[1].Err.Error() != "record: expr must return a map, returned number 5" {
		t.Errorf("record 1 Err = %v", rs[1].Err)
	}
}

func TestApplyPassThrough(t *testing.T) {
	t.Parallel()
	var nilMapping *Mapping
	zero := mustCompile(t, Spec{})
	for name, m := range map[string]*Mapping{"nil": nilMapping, "zero": zero} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rs, err := m.Apply(decodeNumber(t, `[{"a":1,"b":{"c":"x"},"ts":"2024-05-01T10:00:00Z"},{"a":2.5},7]`), arrival)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"a": int64(1), "b": map[string]any{"c": "x"}, "ts": "2024-05-01T10:00:00Z"}
			if rs[0].Err != nil || !reflect.DeepEqual(rs[0].Fields.Map(), want) {
				t.Errorf("record 0 = %#v, %v", rs[0].Fields, rs[0].Err)
			}
			if !rs[0].TS.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
				t.Errorf("record 0 TS = %v, want its ts field", rs[0].TS)
			}
			if !rs[1].TS.Equal(arrival) {
				t.Errorf("record 1 TS = %v, want arrival", rs[1].TS)
			}
			if rs[2].Err == nil || rs[2].Err.Error() != "record: expected a JSON object, got number 7" {
				t.Errorf("record 2 Err = %v", rs[2].Err)
			}
		})
	}
	if !(Spec{}).IsZero() || (Spec{Records: "x"}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec Spec
		want []Problem
	}{
		{
			name: "expression errors with positions",
			spec: Spec{Fields: map[string]FieldSpec{
				"a": {Expr: "value +"},
				"b": {Expr: "foo(value)"},
				"c": {Expr: "value\n  + nope"},
				"d": {Expr: "regexMatch(value, '[a-')"},
				"e": {Expr: "upper(1)"},
			}},
			want: []Problem{
				{Field: "fields.a.expr", Message: "unexpected token EOF", Line: 1, Column: 7},
				{Field: "fields.b.expr", Message: "unknown name foo", Line: 1, Column: 1},
				{Field: "fields.c.expr", Message: "unknown name nope", Line: 2, Column: 5},
				{Field: "fields.d.expr", Message: "invalid regular expression: missing closing ]: `[a-`", Line: 1, Column: 19},
				{Field: "fields.e.expr", Message: "cannot use int as argument (type string) to call upper", Line: 1, Column: 7},
			},
		},
		{
			name: "spec errors",
			spec: Spec{
				Records:   "a..b",
				Timestamp: &TimestampSpec{Format: "dd/mm/yyyy", Timezone: "Nowhere/City"},
				Fields: map[string]FieldSpec{
					"":  {},
					"p": {Path: "x."},
					"t": {Type: "float"},
					"f": {Type: "string", Format: "unix"},
					"g": {Type: "time", Format: "%H:%M"},
					"d": {Type: "integer", Default: "abc"},
				},
				Expr: "record",
			},
			want: []Problem{
				{Field: "expr", Message: "use either expr or fields, not both"},
				{Field: "fields", Message: "a field name must not be empty"},
				{Field: "fields.d.default", Message: `expected integer, got string "abc"`},
				{Field: "fields.f.format", Message: "format applies only to fields of type time"},
				{Field: "fields.g.format", Message: `time format "%H:%M" must contain a year, a month and a day`},
				{Field: "fields.p.path", Message: `path "x." has an empty segment`},
				{Field: "fields.t.type", Message: `unknown type "float": use string, number, integer, boolean, time, object or array`},
				{Field: "records", Message: `path "a..b" has an empty segment`},
				{Field: "timestamp", Message: "set a path, an expr or both"},
				{Field: "timestamp.format", Message: `unknown time format "dd/mm/yyyy"`},
				{Field: "timestamp.timezone", Message: `unknown time zone "Nowhere/City"`},
			},
		},
		{
			name: "result types known at compile time",
			spec: Spec{
				Timestamp: &TimestampSpec{Expr: "len(record)"},
				Fields: map[string]FieldSpec{
					"a": {Expr: "len(value) > 2", Type: "number"},
					"b": {Expr: "split(value, ',')", Type: "string"},
					"c": {Expr: "{'k': value}", Type: "array"},
					"d": {Expr: "upper(value)", Type: "integer"}, // "12" would do
					"e": {Expr: "value", Type: "object"},         // unknown until run
					"f": {Expr: "unix(value)", Type: "time", Format: "unix"},
				},
			},
			want: []Problem{
				{Field: "fields.a.expr", Message: "the expression returns a boolean, which cannot be a field of type number"},
				{Field: "fields.b.expr", Message: "the expression returns a list, which cannot be a field of type string"},
				{Field: "fields.c.expr", Message: "the expression returns a map, which cannot be a field of type array"},
				{Field: "timestamp.expr", Message: `the expression returns a number, which cannot be a time in format "rfc3339"`},
			},
		},
		{
			name: "record expression must build a map",
			spec: Spec{Expr: "'just text'"},
			want: []Problem{{Field: "expr", Message: "the expression returns a string; it must return a map"}},
		},
		{
			name: "now is explained",
			spec: Spec{Expr: "now()"},
			want: []Problem{{Field: "expr", Message: "unknown name now: expressions have no clock", Line: 1, Column: 1}},
		},
		{
			name: "empty and huge expressions",
			spec: Spec{Fields: map[string]FieldSpec{
				"a": {Expr: " "},
				"b": {Expr: strings.Repeat("1 + ", 1500) + "1"},
				"c": {Expr: `"` + strings.Repeat("x", MaxExprLength) + `"`},
			}},
			want: []Problem{
				{Field: "fields.a.expr", Message: "the expression is empty"},
				{Field: "fields.b.expr", Message: fmt.Sprintf("the expression is too large (more than %d nodes)", MaxNodes)},
				{Field: "fields.c.expr", Message: fmt.Sprintf("the expression is longer than %d bytes", MaxExprLength)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Compile(tt.spec)
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile = %v, %v; want a *CompileError", m, err)
			}
			if len(ce.Problems) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant %d", strings.ReplaceAll(ce.Error(), "; ", "\n"), len(tt.want))
			}
			for i, want := range tt.want {
				got := ce.Problems[i]
				if got.Field != want.Field || !strings.HasPrefix(got.Message, want.Message) || got.Line != want.Line || got.Column != want.Column {
					t.Errorf("problem %d = %+v, want %+v", i, got, want)
				}
			}
			if !strings.HasPrefix(err.Error(), "mapping: ") {
				t.Errorf("Error() = %q", err)
			}
		})
	}
}

func TestApplyConcurrent(t *testing.T) {
	t.Parallel()
	m := mustCompile(t, benchSpec)
	input := decodeNumber(t, `[`+benchRecord+`,`+benchRecord+`]`)
	want, err := m.Apply(input, arrival)
	if err != nil || want[0].Err != nil {
		t.Fatal(err, want[0].Err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				rs, err := m.Apply(input, arrival)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range rs {
					if rs[i].Err != nil || !reflect.DeepEqual(rs[i].Fields, want[i].Fields) || !rs[i].TS.Equal(want[i].TS) {
						t.Errorf("concurrent result %d = %+v, want %+v", i, rs[i], want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
