package p2p

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

type depthKey struct{}

// WithDepth returns ctx carrying the depth of the p2p job being worked,
// for the Fanout of the batch it commits.
func WithDepth(ctx context.Context, depth int) context.Context {
	return context.WithValue(ctx, depthKey{}, depth)
}

func depthFrom(ctx context.Context) int {
	d, _ := ctx.Value(depthKey{}).(int)
	return d
}

// Fanout is the engine.Fanout of p2p pipelines: it is called inside
// every batch's transaction and must not touch the database.
type Fanout struct {
	ix  *Index
	log *slog.Logger
}

// NewFanout returns the Fanout that finds downstream pipelines in ix.
func NewFanout(ix *Index, log *slog.Logger) *Fanout {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fanout{ix: ix, log: log}
}

// BatchJobs implements engine.Fanout: one RunArgs job per downstream of p
// and per MaxJobRecords records, or DispatchArgs jobs when the index is
// stale. It touches no database.
func (f *Fanout) BatchJobs(ctx context.Context, p core.Pipeline, persist bool, runID string, records []core.Record) ([]river.InsertManyParams, error) {
	if len(records) == 0 {
		return nil, nil
	}
	downs, fresh := f.ix.Downstreams(p.TeamID, p.ID)
	if fresh && len(downs) == 0 {
		return nil, nil
	}
	depth := depthFrom(ctx) + 1
	if depth > MaxDepth {
		f.log.ErrorContext(ctx, "p2p: chain too long; the batch goes no further", "pipeline", p.ID, "run", runID, "depth", depth)
		return nil, nil
	}
	pieces, err := split(p.ID, runID, depth, persist, records)
	if err != nil {
		return nil, err
	}
	var out []river.InsertManyParams
	if !fresh {
		for _, b := range pieces {
			out = append(out, river.InsertManyParams{Args: DispatchArgs{TeamID: p.TeamID, Batch: b}})
		}
		return out, nil
	}
	for _, down := range downs {
		for _, b := range pieces {
			out = append(out, river.InsertManyParams{Args: RunArgs{TeamID: p.TeamID, Pipeline: down, Batch: b}})
		}
	}
	return out, nil
}

// split cuts a batch's records into job-sized Batches.
func split(upstream uuid.UUID, runID string, depth int, persist bool, records []core.Record) ([]Batch, error) {
	var out []Batch
	newBatch := func() Batch { return Batch{Upstream: upstream, UpstreamRun: runID, Depth: depth} }
	if persist {
		for start := 0; start < len(records); start += MaxJobRecords {
			chunk := records[start:min(start+MaxJobRecords, len(records))]
			b := newBatch()
			ids := make([]int64, len(chunk))
			for i, r := range chunk {
				if r.ID == 0 {
					return nil, fmt.Errorf("p2p: persisted record %d of run %s has no id", start+i, runID)
				}
				ids[i] = r.ID
				if b.From.IsZero() || r.TS.Before(b.From) {
					b.From = r.TS
				}
				if r.TS.After(b.To) {
					b.To = r.TS
				}
			}
			for _, r := range store.IDRanges(ids) {
				b.IDs = append(b.IDs, [2]int64{r.First, r.Last})
			}
			out = append(out, b)
		}
		return out, nil
	}
	b, size := newBatch(), 0
	for _, r := range records {
		if len(b.Records) > 0 && (len(b.Records) >= MaxJobRecords || size+len(r.Data) > MaxInlineBytes) {
			out = append(out, b)
			b, size = newBatch(), 0
		}
		b.Records = append(b.Records, Record{TS: r.TS, Data: r.Data})
		size += len(r.Data)
	}
	return append(out, b), nil
}

// Inputs turns upstream records into the inputs of a downstream run:
// each record's data, decoded with numbers kept exact, with "ts" set to
// the record's event time unless the data has a "ts" of its own.
func Inputs(records []core.Record) ([]any, error) {
	out := make([]any, 0, len(records))
	for _, r := range records {
		dec := json.NewDecoder(bytes.NewReader(r.Data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("p2p: decode record %d: %w", r.ID, err)
		}
		if m, ok := v.(map[string]any); ok {
			if _, has := m["ts"]; !has {
				m["ts"] = r.TS.UTC().Format(time.RFC3339Nano)
			}
		}
		out = append(out, v)
	}
	return out, nil
}
