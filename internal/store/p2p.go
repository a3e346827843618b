package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
)

// Pipeline-to-pipeline links.
//
// A p2p pipeline reads the records of one upstream pipeline of its team.
// The link is kept by pipeline id (a rename of the upstream does not
// break it), written in the same transaction as the downstream's create or
// update (NewPipeline.Upstream, PipelineUpdate.Upstream), and removed with
// either pipeline. The store refuses a link that would close a cycle, under
// a lock that serialises the link changes of a team, so that two
// concurrent updates cannot build a cycle between them.

// ErrCycle is returned (wrapped) by CreatePipeline and UpdatePipeline when
// the new upstream already reads, directly or through other pipelines,
// from the pipeline being saved. It matches core.ErrInvalid.
var ErrCycle = fmt.Errorf("%w: p2p pipelines would form a cycle", core.ErrInvalid)

// ErrUpstreamNotFound is returned (wrapped) by CreatePipeline and
// UpdatePipeline when the upstream is not a pipeline of the team. It
// matches core.ErrInvalid.
var ErrUpstreamNotFound = fmt.Errorf("%w: the upstream pipeline is not a pipeline of the team", core.ErrInvalid)

// PipelineLink is one p2p relation: Downstream reads Upstream's records.
type PipelineLink struct {
	TeamID     uuid.UUID
	Downstream uuid.UUID
	Upstream   uuid.UUID
}

// RecordIDRange is an inclusive range of record ids and, when From is
// set, the event times of its records (its batch's, inclusive): a read
// of many ranges then looks for each one's records within its own time
// window rather than within the union of all of them.
type RecordIDRange struct {
	First, Last int64
	From, To    time.Time
}

// Window returns the time window of r's records within [from, to].
func (r RecordIDRange) Window(from, to time.Time) (time.Time, time.Time) {
	if r.From.IsZero() {
		return from, to
	}
	return later(r.From, from), earlier(r.To, to)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// P2P stores the links between pipelines and reads an upstream batch's
// records back by id.
type P2P interface {
	// PipelineLinks lists every link of every team. It is the one p2p read
	// without a team id: it loads the in-memory index that lets a batch
	// find its downstream pipelines without a query inside its
	// transaction. It returns ids only.
	PipelineLinks(ctx context.Context) ([]PipelineLink, error)
	// PipelineUpstream returns the pipeline a p2p pipeline reads from, or
	// core.ErrNotFound when it has none.
	PipelineUpstream(ctx context.Context, teamID, pipelineID uuid.UUID) (uuid.UUID, error)
	// Downstreams lists the pipelines that read from a pipeline.
	Downstreams(ctx context.Context, teamID, upstreamID uuid.UUID) ([]uuid.UUID, error)
	// RecordsByID returns the records of a pipeline with ids in the ranges
	// and event times in [from, to] (which lets a partitioned table skip
	// partitions), and in a range's own window where it has one (see
	// RecordIDRange.Window), oldest id first. Ids that no longer exist are
	// left out.
	RecordsByID(ctx context.Context, teamID, pipelineID uuid.UUID, ids []RecordIDRange, from, to time.Time) ([]core.Record, error)
}

// IDRanges compresses ids into ranges of consecutive ids, in the order
// given; ids from one batch are mostly consecutive, so a batch of a
// thousand records is usually one range.
func IDRanges(ids []int64) []RecordIDRange {
	var out []RecordIDRange
	for _, id := range ids {
		if n := len(out); n > 0 && out[n-1].Last+1 == id {
			out[n-1].Last = id
			continue
		}
		out = append(out, RecordIDRange{First: id, Last: id})
	}
	return out
}

// CountIDs is how many ids the ranges hold.
func CountIDs(rs []RecordIDRange) int {
	n := 0
	for _, r := range rs {
		n += int(r.Last-r.First) + 1
	}
	return n
}

// IsCycle reports whether err is ErrCycle.
func IsCycle(err error) bool { return errors.Is(err, ErrCycle) }
