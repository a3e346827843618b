package jsonvalue

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// decodeStd is what Parse stands in for: encoding/json with UseNumber,
// one value and white space.
func decodeStd(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

var seeds = []string{
	`{"a":1}`, `[{},{},{}]`, `[]`, `{}`, ` {"a" : [1, 2.5, -3e-7, 0, -0.0, 1E+2] } `,
	`"x"`, `true`, `false`, `null`, `-1`, `1e999999`, `12345678901234567890123`,
	`{"a":1,"a":2}`, `{"s":"\u0000\ud800"}`, `{"s":"caf\u00e9 \"quoted\" \\ \/ \n"}`,
	`{"é":"ünïcödé ✓ 😀"}`, "{\"bad\":\"\xff\xfe\"}", "{\"k\xff\":1}", "\"tab\there\"",
	`[[[[[[[[[[]]]]]]]]]]`, `{"a":{"b":{"c":[true,false,null]}}}`,
	``, ` `, `[`, `{"a":}`, `{"a":1,}`, `[1,]`, `01`, `-`, `1.`, `.5`, `1e`, `+1`, `tru`, `nul`,
	`{"a":1}x`, `{"a":1} {"b":2}`, "\xef\xbb\xbf{}", `{a:1}`, `'x'`, `"unterminated`, `"esc\`,
	`[1 2]`, `{"a" 1}`, `NaN`, `Infinity`, `{"a":[}`,
	`"\ud83d\ude00"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`, `"\ud83dx"`, `"\ud83d\ud83d\ude00"`, `"\u00"`, `"\u12G4"`,
	`"\U0041"`, `"\'"`, `"\x41"`, "\"\\\x01\"", `"\b\f\n\r\t\/\\\""`, "\"\xed\xa0\x80\"", "\"\xc0\xaf\"",
	"\"\\n\xff\"", `{"a":1,"\u0061":2}`, "\"\x7f\u2028\"", `"\\"`, `"\"`,
}

// FuzzParse holds Parse to encoding/json: it decodes what encoding/json
// decodes, to the same value, and declines the rest.
func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := Parse(b)
		want, stdOK := decodeStd(b)
		if ok != stdOK || !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q) = %#v, %v; encoding/json: %#v, %v", b, got, ok, want, stdOK)
		}
	})
}

func TestParseAsEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		got, ok := Parse([]byte(s))
		want, stdOK := decodeStd([]byte(s))
		if ok != stdOK || !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %#v, %v; encoding/json: %#v, %v", s, got, ok, want, stdOK)
		}
	}
}

// TestParseLeavesErrorsToEncodingJSON: what Parse declines is what
// encoding/json refuses, except nesting beyond its limit, which
// encoding/json refuses with its own message.
func TestParseLeavesErrorsToEncodingJSON(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	for _, s := range []string{deep, `{"a":1}x`, `[1,]`, "\"a\x01\"", `{"a":1,}`} {
		if v, ok := Parse([]byte(s)); ok {
			t.Errorf("Parse(%.20q…) = %v, true; want it left to encoding/json", s, v)
		}
		if _, ok := decodeStd([]byte(s)); ok {
			t.Errorf("encoding/json decodes %.20q…", s)
		}
	}
	ok := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if _, parsed := Parse([]byte(ok)); !parsed {
		t.Errorf("Parse declines nesting of %d", maxDepth)
	}
	if _, parsed := decodeStd([]byte(ok)); !parsed {
		t.Errorf("encoding/json declines nesting of %d", maxDepth)
	}
}

// TestParseSharesNotTheInput: the caller may reuse its buffer.
func TestParseSharesNotTheInput(t *testing.T) {
	b := []byte(`{"k":"value","n":12}`)
	v, ok := Parse(b)
	if !ok {
		t.Fatal("Parse declined a plain object")
	}
	for i := range b {
		b[i] = 'x'
	}
	if want := map[string]any{"k": "value", "n": json.Number("12")}; !reflect.DeepEqual(v, want) {
		t.Fatalf("after the input was overwritten: %#v, want %#v", v, want)
	}
}

func records(n int) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		id := strconv.Itoa(i)
		b.WriteString(`{"id":` + id + `,"ts":"2026-12-07T03:28:58.903853393Z","station":{"id":"berlin-` + id +
			`"},"temp_k":280.5,"humidity":55.5,"pressure":1013.2,"wind":{"speed":3.4,"dir":` + id +
			`},"ok":true,"tags":["a","b"],"note":"  steady  "}`)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

func TestParseRecords(t *testing.T) {
	b := records(100)
	got, ok := Parse(b)
	want, _ := decodeStd(b)
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse of 100 records: ok %v, equal %v", ok, reflect.DeepEqual(got, want))
	}
}

// BenchmarkDecode compares Parse with encoding/json on a webhook body of
// 100 records: go test -bench . ./internal/jsonvalue
func BenchmarkDecode(b *testing.B) {
	body := records(100)
	b.Run("jsonvalue", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := Parse(body); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeStd(body); !ok {
				b.Fatal("declined")
			}
		}
	})
}

// BenchmarkDecodeEscaped: strings with escapes, as Python's json.dumps
// writes non-ASCII text.
func BenchmarkDecodeEscaped(b *testing.B) {
	body := []byte("[" + strings.TrimSuffix(strings.Repeat(`"caf\u00e9 \"au lait\"\n",`, 1000), ",") + "]")
	b.Run("jsonvalue", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := Parse(body); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := decodeStd(body); !ok {
				b.Fatal("declined")
			}
		}
	})
}

// BenchmarkDecodeOne: a webhook body of one record.
func BenchmarkDecodeOne(b *testing.B) {
	body := records(1)
	body = body[1 : len(body)-1]
	b.Run("jsonvalue", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := Parse(body); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := decodeStd(body); !ok {
				b.Fatal("declined")
			}
		}
	})
}
