package p2p

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/store"
)

// Bounds of what one job carries.
const (
	// MaxJobRecords is the most records one job carries; a larger upstream
	// batch becomes several jobs (and downstream runs).
	MaxJobRecords = 1000
	// MaxInlineBytes bounds the records data one job carries inline (from
	// a persist=false upstream).
	MaxInlineBytes = 1 << 20
	// MaxDepth is the longest chain of p2p pipelines a batch travels.
	MaxDepth = 32
)

// Batch is an upstream batch as a job carries it: by record id when the
// upstream persisted the records, else the records themselves.
type Batch struct {
	Upstream uuid.UUID `json:"upstream"`
	// UpstreamRun is the run that committed the batch, for logs.
	UpstreamRun string `json:"upstream_run"`
	// Depth is how many p2p hops the records made with this job: 1 for
	// the direct downstreams of a webhook or polling pipeline.
	Depth int `json:"depth"`
	// IDs are ranges of persisted record ids [first, last], with the
	// records' event times in [From, To].
	IDs  [][2]int64 `json:"ids,omitempty"`
	From time.Time  `json:"from,omitzero"`
	To   time.Time  `json:"to,omitzero"`
	// Records are the records of an upstream that does not persist.
	Records []Record `json:"records,omitempty"`
}

// Record is one record carried inline.
type Record struct {
	TS   time.Time       `json:"ts"`
	Data json.RawMessage `json:"data"`
}

// IDRanges returns b's ranges as the store takes them.
func (b Batch) IDRanges() []store.RecordIDRange {
	out := make([]store.RecordIDRange, len(b.IDs))
	for i, r := range b.IDs {
		out[i] = store.RecordIDRange{First: r[0], Last: r[1]}
	}
	return out
}

// Len is how many records b carries.
func (b Batch) Len() int {
	if b.Records != nil {
		return len(b.Records)
	}
	return store.CountIDs(b.IDRanges())
}

// RunArgs is the job that runs one downstream pipeline on one upstream
// batch.
type RunArgs struct {
	TeamID   uuid.UUID `json:"team_id"`
	Pipeline uuid.UUID `json:"pipeline"` // the downstream
	Batch
}

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return "p2p_run" }

// DispatchArgs is the job that finds an upstream batch's downstream
// pipelines in the store and enqueues a RunArgs job for each: the
// fallback of a node whose index is stale.
type DispatchArgs struct {
	TeamID uuid.UUID `json:"team_id"`
	Batch
}

// Kind implements river.JobArgs.
func (DispatchArgs) Kind() string { return "p2p_dispatch" }
