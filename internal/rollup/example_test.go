package rollup_test

import (
	"fmt"
	"time"

	"github.com/tributary-dev/tributary/internal/rollup"
)

func ExampleSet() {
	t0 := time.Date(2026, 5, 1, 12, 0, 10, 0, time.UTC)
	var s rollup.Set
	s.Add(t0, map[string]any{"temp": 21.5, "station": "a"})
	s.Add(t0.Add(20*time.Second), map[string]any{"temp": 22.5})
	s.Add(t0.Add(time.Minute), map[string]any{"temp": int64(20)})
	for _, d := range s.Deltas() {
		fmt.Printf("%s %s n=%d mean=%.1f last=%.1f\n", d.Field, d.Bucket.Format("15:04"), d.Count, d.Mean(), d.Last)
	}
	h := rollup.Coarsen(s.Deltas(), rollup.Hour)
	fmt.Printf("hour: n=%d min=%.1f max=%.1f\n", h[0].Count, h[0].Min, h[0].Max)
	// Output:
	// temp 12:00 n=2 mean=22.0 last=22.5
	// temp 12:01 n=1 mean=20.0 last=20.0
	// hour: n=3 min=20.0 max=22.5
}
