package store

import "time"

// BatchSummary is what a batch adds to its pipeline's stats.
type BatchSummary struct {
	Persisted int        // records written to the records table
	Bytes     int64      // their encoded size
	Newest    *time.Time // the newest event time among them
}

// SummarizeBatch computes a batch's stats contribution, the same way in
// every backend.
func SummarizeBatch(b *Batch) BatchSummary {
	var s BatchSummary
	if !b.Persist {
		return s
	}
	s.Persisted = len(b.Records)
	for i := range b.Records {
		r := &b.Records[i]
		s.Bytes += int64(len(r.Data))
		if s.Newest == nil || r.TS.After(*s.Newest) {
			ts := r.TS
			s.Newest = &ts
		}
	}
	return s
}

// MaxLimit is the largest page any listing returns.
const MaxLimit = 1000

// ClampLimit turns a requested page size into one in 1..MaxLimit
// (default 100).
func ClampLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}
