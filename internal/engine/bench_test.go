package engine_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// benchSpec is the 10-field mapping of the mapping package's benchmark:
// paths, casts, three transforms and an RFC 3339 timestamp.
const benchSpec = `{"name":"bench","kind":"webhook","source":{},"mapping":{
	"timestamp":{"path":"observed_at"},
	"fields":{
		"temperature_c":{"path":"temp_k","expr":"value - 273.15","type":"number"},
		"humidity":{"path":"hum","type":"number"},
		"pressure_hpa":{"path":"pressure","expr":"round(value / 100, 1)","type":"number"},
		"station":{"path":"station.id","type":"string","required":true},
		"city":{"path":"station.city","expr":"lower(value)","type":"string"},
		"wind_ms":{"path":"wind.speed","type":"number"},
		"wind_dir":{"path":"wind.deg","type":"integer"},
		"raining":{"path":"rain","type":"boolean"},
		"observed":{"path":"observed_at","type":"time"},
		"seq":{"path":"seq","type":"integer"}}}}`

const benchRecord = `{"observed_at":"2024-05-01T12:00:00Z","temp_k":293.4,"hum":55.5,"pressure":101325,
"station":{"id":"10384","city":"Berlin"},"wind":{"speed":3.4,"deg":270},"rain":false,"seq":123456789012}`

// BenchmarkProcess10Fields maps, validates (no schema) and encodes one
// record per operation: ns/op is ns/record.
func BenchmarkProcess10Fields(b *testing.B) {
	c, err := compiler.Parse([]byte(benchSpec))
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Compiler: compiler}, nil, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	inputs := decode(b, benchRecord)
	arrival := time.Now()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if acc, _ := eng.Process(c, inputs, arrival); len(acc) != 1 {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				eng.Process(c, inputs, arrival)
			}
		})
	})
	// A 100-record request: records are mapped one after another.
	batch := make([]any, 100)
	for i := range batch {
		batch[i] = inputs[0]
	}
	b.Run("batch100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			eng.Process(c, batch, arrival)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
	})
}

// BenchmarkSubmit measures group commit end to end on each backend:
// concurrent single-record submissions (as webhook requests), each
// waiting for its commit. LINGER (a duration) and FLUSHES (an integer)
// override Config.Linger and Config.FlushConcurrency, for tuning.
func BenchmarkSubmit(b *testing.B) {
	for _, name := range storetest.Backends {
		b.Run(name, func(b *testing.B) {
			linger, _ := time.ParseDuration(os.Getenv("LINGER"))
			fc, _ := strconv.Atoi(os.Getenv("FLUSHES"))
			bd := setup(b, storetest.Open(b, name), options{spec: benchSpec, cfg: engine.Config{Linger: linger, FlushConcurrency: fc}})
			inputs := decode(b, benchRecord)
			b.SetParallelism(16) // 16 × GOMAXPROCS concurrent requests
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					acc, rej := bd.eng.Process(bd.c, inputs, time.Now())
					if _, err := bd.eng.Submit(context.Background(), bd.p, bd.c, acc, rej, core.TriggerWebhook); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/bd.commits(b), "records/run")
		})
	}
}
