package mapping

import (
	"testing"
	"time"
)

// benchSpec is a typical 10-field mapping: paths, casts, three transforms
// and an RFC 3339 timestamp.
var benchSpec = Spec{
	Timestamp: &TimestampSpec{Path: "observed_at"},
	Fields: map[string]FieldSpec{
		"temperature_c": {Path: "temp_k", Expr: "value - 273.15", Type: TypeNumber},
		"humidity":      {Path: "hum", Type: TypeNumber},
		"pressure_hpa":  {Path: "pressure", Expr: "round(value / 100, 1)", Type: TypeNumber},
		"station":       {Path: "station.id", Type: TypeString, Required: true},
		"city":          {Path: "station.city", Expr: "lower(value)", Type: TypeString},
		"wind_ms":       {Path: "wind.speed", Type: TypeNumber},
		"wind_dir":      {Path: "wind.deg", Type: TypeInteger},
		"raining":       {Path: "rain", Type: TypeBoolean},
		"observed":      {Path: "observed_at", Type: TypeTime},
		"seq":           {Path: "seq", Type: TypeInteger},
	},
}

const benchRecord = `{"observed_at":"2024-05-01T12:00:00Z","temp_k":293.4,"hum":55.5,"pressure":101325,
"station":{"id":"10384","city":"Berlin"},"wind":{"speed":3.4,"deg":270},"rain":false,"seq":123456789012}`

// BenchmarkApply10Fields maps one record per operation.
func BenchmarkApply10Fields(b *testing.B) {
	m, err := Compile(benchSpec)
	if err != nil {
		b.Fatal(err)
	}
	for _, in := range []struct {
		name  string
		input any
	}{
		{"float64", decodeFloat(b, benchRecord)},
		{"json.Number", decodeNumber(b, benchRecord)},
	} {
		b.Run(in.name, func(b *testing.B) {
			arrival := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				rs, err := m.Apply(in.input, arrival)
				if err != nil || rs[0].Err != nil {
					b.Fatal(err, rs[0].Err)
				}
			}
		})
	}
}

// BenchmarkApply10FieldsParallel is the same on every core, sharing one
// Mapping as the engine does.
func BenchmarkApply10FieldsParallel(b *testing.B) {
	m, err := Compile(benchSpec)
	if err != nil {
		b.Fatal(err)
	}
	input := decodeNumber(b, benchRecord)
	arrival := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Apply(input, arrival); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPacedCostlyLoop maps one record with a costly loop (the
// fairness flood's field) and reports the nanoseconds per operation a
// Pacer is told of, which sizes the engine's CPU slices.
func BenchmarkPacedCostlyLoop(b *testing.B) {
	m, err := Compile(Spec{Fields: map[string]FieldSpec{
		"n": {Expr: "len(filter(1..9000, # % 7 == 0))", Type: TypeNumber},
	}})
	if err != nil {
		b.Fatal(err)
	}
	p := &countingPacer{}
	input := map[string]any{"a": 1.0}
	arrival := time.Now()
	for b.Loop() {
		if _, err := m.ApplyPaced(input, arrival, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(p.ops), "ns/op-paced")
}

type countingPacer struct{ ops, calls int }

func (p *countingPacer) Work(ops int) { p.ops += ops; p.calls++ }
