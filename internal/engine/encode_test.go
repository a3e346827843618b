package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// stdJSON is what encoding/json writes, without HTML escaping.
func stdJSON(t testing.TB, v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestEncodeMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	values := []any{
		nil, true, false, "", "plain", "quote \" backslash \\ slash /", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"<>&", "é☃😀", "\u2028\u2029", "bad \xff utf8 \xc3", int64(0), int64(math.MaxInt64), int64(math.MinInt64), 42,
		0.0, math.Copysign(0, -1), 0.1, 1.5, -2.25, 1e20, 1e21, 1e-6, 1e-7, 123456789.123, math.MaxFloat64, math.SmallestNonzeroFloat64,
		json.Number("12345678901234567890"), json.Number("-1.5e-10"),
		[]any{}, map[string]any{}, []any{1.0, "a", nil, []any{map[string]any{"k": false}}},
		map[string]any{"b": 1.0, "a": map[string]any{"z": "x", "é": 1.0, "A": nil}, "": "empty key", "\n": "newline key"},
	}
	for _, v := range values {
		enc := encoder{}
		got, err := enc.encode(v)
		if err != nil {
			t.Errorf("encode(%#v): %v", v, err)
			continue
		}
		if want := stdJSON(t, v); string(got) != want {
			t.Errorf("encode(%#v) = %s, want %s", v, got, want)
		}
	}
	// A map with more keys than the stack buffer.
	big := map[string]any{}
	for i := range 100 {
		big[strings.Repeat("k", i+1)] = float64(i)
	}
	if got, _ := (&encoder{}).encode(big); string(got) != stdJSON(t, big) {
		t.Error("large map differs")
	}
}

func TestEncodeRefuses(t *testing.T) {
	t.Parallel()
	for _, v := range []any{math.NaN(), math.Inf(1), json.Number("1x"), json.Number(""), json.Number("01"), json.Number("1e"), map[string]any{"a": []any{math.Inf(-1)}}, make(chan int)} {
		if b, err := (&encoder{}).encode(v); err == nil {
			t.Errorf("encode(%#v) = %s, want an error", v, b)
		}
	}
}

func TestEncodeNUL(t *testing.T) {
	t.Parallel()
	v := map[string]any{"a\x00": "b\x00"}
	enc := encoder{}
	if b, _ := enc.encode(v); !enc.sawNUL || string(b) != `{"a\u0000":"b\u0000"}` {
		t.Errorf("encode = %s, sawNUL %v", b, enc.sawNUL)
	}
	if got := string(encodeRaw(v)); got != `{"a\ufffd":"b\ufffd"}` {
		t.Errorf("encodeRaw = %s", got)
	}
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,2.5e300,"x\u0000"]`, `"\ud800"`, `{"b":{"c":[null,true]}}`, `-0.0000001`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		got, err := (&encoder{}).encode(v)
		if errors.Is(err, errNumberRange) {
			return // refused on purpose: stored numbers are float64
		}
		if err != nil {
			t.Fatalf("encode(%s): %v", doc, err)
		}
		if want := stdJSON(t, v); string(got) != want {
			t.Fatalf("encode(%s) = %s, want %s", doc, got, want)
		}
	})
}
func BenchmarkEncodeRecord(b *testing.B) {
	v := map[string]any{"temperature_c": 20.25, "humidity": 55.5, "pressure_hpa": 1013.3, "station": "10384", "city": "berlin",
		"wind_ms": 3.4, "wind_dir": int64(270), "raining": false, "observed": "2024-05-01T12:00:00Z", "seq": int64(123456789012)}
	b.Run("encoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			enc := encoder{}
			enc.encode(v)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(v)
		}
	})
}
