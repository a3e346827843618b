package store

import (
	"time"

	"github.com/google/uuid"
)

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

// RecentTeams remembers when each team last wrote small batches, for the
// backends' fairness between teams: a big batch is written more gently
// while another team wrote lately (SQLite's durable slices, PostgreSQL's
// short COPY chunks). It is not safe for concurrent use.
type RecentTeams map[uuid.UUID]time.Time

// Wrote records that team wrote at at.
func (m RecentTeams) Wrote(team uuid.UUID, at time.Time) { m[team] = at }

// OtherSince reports whether a team other than team wrote at since or
// later, and forgets the teams that did not.
func (m RecentTeams) OtherSince(team uuid.UUID, since time.Time) bool {
	other := false
	for k, at := range m {
		switch {
		case at.Before(since):
			delete(m, k)
		case k != team:
			other = true
		}
	}
	return other
}
