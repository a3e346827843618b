package main

import (
	"bytes"
	"fmt"
)

// summary is what one run measured, for -summary.
type summary struct {
	backend         string
	riverJobsPerSec float64 // River's no-op jobs worked a second; 0 if not measured
	deliveries      []deliveryResult
	ingest          []ingestResult
}

// deliveryResult is one batch size of the delivery phase, per sink.
type deliveryResult struct {
	size             int
	batches          int
	recordsPerSec    float64
	deliveriesPerSec float64
	carried          float64 // deliveries another delivery's job took on
	snoozed          float64 // jobs put back because their sink was busy
}

// ingestResult is one sink count of the ingest-cost phase.
type ingestResult struct {
	sinks         int
	batchesPerSec float64
	usPerBatch    float64
	base          float64 // µs a batch without sinks
}

// markdown renders s as the two tables docs/benchmarks.md shows.
func (s summary) markdown(o options) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "**%s**", s.backend)
	if s.riverJobsPerSec > 0 {
		fmt.Fprintf(&b, " (River alone works %.0f no-op jobs a second on this database, %d workers)", s.riverJobsPerSec, o.workers)
	}
	b.WriteString("\n\n")
	if len(s.deliveries) > 0 {
		fmt.Fprintf(&b, "Delivery to an HTTP receiver on loopback, %d sink(s), %d records per batch size queued first, then worked (per sink):\n\n", o.sinks, o.records)
		b.WriteString("| records per batch | records/s | deliveries/s | deliveries/s ÷ River no-op jobs/s | deliveries carried by another's job | jobs put back, sink busy |\n|---|---|---|---|---|---|\n")
		for _, r := range s.deliveries {
			ratio := "–"
			if s.riverJobsPerSec > 0 {
				ratio = fmt.Sprintf("%.2f×", r.deliveriesPerSec/s.riverJobsPerSec)
			}
			fmt.Fprintf(&b, "| %d | %.0f | %.0f | %s | %.0f of %d | %.0f |\n", r.size, r.recordsPerSec, r.deliveriesPerSec, ratio, r.carried, r.batches, r.snoozed)
		}
		b.WriteString("\n")
	}
	if len(s.ingest) > 0 {
		fmt.Fprintf(&b, "What sinks cost ingest: %d batches of %d records committed one after another through the engine, deliveries enqueued in each batch's transaction:\n\n", o.ingestN, o.ingestBatch)
		b.WriteString("| sinks | batches/s | µs a batch | added per sink |\n|---|---|---|---|\n")
		for _, r := range s.ingest {
			added := "–"
			if r.sinks > 0 {
				added = fmt.Sprintf("%.0f µs", (r.usPerBatch-r.base)/float64(r.sinks))
			}
			fmt.Fprintf(&b, "| %d | %.0f | %.0f | %s |\n", r.sinks, r.batchesPerSec, r.usPerBatch, added)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}
