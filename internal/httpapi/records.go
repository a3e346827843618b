package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/store"
)

// What a pipeline produced: records (newest first, from the recent-records
// cache when it holds the whole page, else from the store), rejected
// records and runs. Every listing pages with an opaque cursor.

// RecordBody is a stored record.
type RecordBody struct {
	ID   int64           `json:"id" doc:"The record's id; 0 for a pipeline that does not persist."`
	TS   time.Time       `json:"ts" doc:"The record's event time."`
	Data json.RawMessage `json:"data" doc:"The mapped record."`
}

// RejectedBody is a record that failed mapping or validation.
type RejectedBody struct {
	ID         int64           `json:"id"`
	RunID      uuid.UUID       `json:"run_id"`
	Version    int             `json:"version" doc:"The pipeline version that rejected it."`
	ReceivedAt time.Time       `json:"received_at"`
	Raw        json.RawMessage `json:"raw" doc:"The input record as it was received."`
	Reason     string          `json:"reason"`
}

// RunBody is one execution of a pipeline.
type RunBody struct {
	ID         uuid.UUID `json:"id"`
	Version    int       `json:"version"`
	Trigger    string    `json:"trigger" enum:"webhook,poll,upload,p2p,manual"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"`
	Fetched    int       `json:"fetched" doc:"Records received: stored plus rejected."`
	Stored     int       `json:"stored" doc:"Records accepted."`
	Rejected   int       `json:"rejected"`
	Bytes      int64     `json:"bytes" doc:"Encoded size of the stored records."`
	Error      string    `json:"error,omitempty"`
}

func runBody(r core.Run) RunBody {
	return RunBody{ID: r.ID, Version: r.Version, Trigger: string(r.Trigger), StartedAt: r.StartedAt,
		DurationMS: float64(r.Duration) / float64(time.Millisecond), Fetched: r.Fetched, Stored: r.Stored,
		Rejected: r.Rejected, Bytes: r.Bytes, Error: r.Error}
}

// PageParams is the paging part of every listing.
type PageParams struct {
	Limit  int    `query:"limit" default:"100" minimum:"1" maximum:"1000" doc:"Page size, 1 to 1000."`
	Cursor string `query:"cursor" maxLength:"200" doc:"The next_cursor of the previous page."`
}

type recordsOutput struct {
	Body struct {
		Records    []RecordBody `json:"records"`
		NextCursor string       `json:"next_cursor,omitempty" doc:"Pass as cursor for the next (older) page; absent on the last page."`
	}
}

type rejectedOutput struct {
	Body struct {
		Rejected   []RejectedBody `json:"rejected"`
		NextCursor string         `json:"next_cursor,omitempty"`
	}
}

type runsOutput struct {
	Body struct {
		Runs       []RunBody `json:"runs"`
		NextCursor string    `json:"next_cursor,omitempty"`
	}
}

// Cursors are base64url of a kind byte and the position of the last item
// of a page, so that one listing's cursor is refused by another.
const (
	cursorRecords  byte = 'r'
	cursorRejected byte = 'j'
	cursorRuns     byte = 'n'
)

func encodeCursor(kind byte, parts ...[]byte) string {
	b := []byte{kind}
	for _, p := range parts {
		b = append(b, p...)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the cursor's payload of want bytes after the kind.
func decodeCursor(s string, kind byte, want int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 1+want || b[0] != kind {
		return nil, huma.Error422UnprocessableEntity("The cursor is not one this listing returned; pass next_cursor from the previous page unchanged, or leave it out for the first page.",
			&huma.ErrorDetail{Location: "query.cursor", Message: "not a cursor of this listing"})
	}
	return b[1:], nil
}

func int64Bytes(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func recordCursor(ts time.Time, id int64) string {
	return encodeCursor(cursorRecords, int64Bytes(ts.UnixNano()), int64Bytes(id))
}

func (r *pipelineRoutes) registerRecordRoutes() {
	api := r.s.api
	tags := []string{"Records"}

	huma.Register(api, huma.Operation{
		OperationID: "list-records", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/records", Tags: tags,
		Summary:     "List a pipeline's records",
		Description: "Newest event time first. `from` is inclusive, `to` exclusive; both are optional RFC 3339 times. Recent pages come from the in-memory cache, older ones from the store.",
	}, func(ctx context.Context, in *struct {
		PipelineScope
		From time.Time `query:"from" doc:"Oldest event time, inclusive (RFC 3339)."`
		To   time.Time `query:"to" doc:"Newest event time, exclusive (RFC 3339)."`
		PageParams
	}) (*recordsOutput, error) {
		p, err := r.pipeline(ctx, in.PipelineScope)
		if err != nil {
			return nil, err
		}
		if !in.From.IsZero() && !in.To.IsZero() && !in.From.Before(in.To) {
			return nil, huma.Error422UnprocessableEntity("from must be before to.",
				&huma.ErrorDetail{Location: "query.from", Message: "must be before to"})
		}
		q := store.RecordQuery{From: in.From, To: in.To, Limit: in.Limit}
		if in.Cursor != "" {
			b, err := decodeCursor(in.Cursor, cursorRecords, 16)
			if err != nil {
				return nil, err
			}
			q.BeforeTS = time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))).UTC()
			q.BeforeID = int64(binary.BigEndian.Uint64(b[8:]))
		}
		recs, err := r.records(ctx, caller(ctx, in.TeamScope), p, q)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &recordsOutput{}
		out.Body.Records = recs
		if len(recs) == q.Limit {
			last := recs[len(recs)-1]
			out.Body.NextCursor = recordCursor(last.TS, last.ID)
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-rejected", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/rejected", Tags: tags,
		Summary: "List a pipeline's rejected records", Description: "Records that failed mapping or validation, newest first, each with its raw input and the reason.",
	}, func(ctx context.Context, in *struct {
		PipelineScope
		PageParams
	}) (*rejectedOutput, error) {
		q := store.RejectedQuery{Limit: in.Limit}
		if in.Cursor != "" {
			b, err := decodeCursor(in.Cursor, cursorRejected, 8)
			if err != nil {
				return nil, err
			}
			q.BeforeID = int64(binary.BigEndian.Uint64(b))
		}
		rs, err := r.svc.RejectedRecords(ctx, caller(ctx, in.TeamScope), in.ID, q)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &rejectedOutput{}
		out.Body.Rejected = make([]RejectedBody, 0, len(rs))
		for _, x := range rs {
			out.Body.Rejected = append(out.Body.Rejected, RejectedBody{ID: x.ID, RunID: x.RunID, Version: x.Version,
				ReceivedAt: x.ReceivedAt, Raw: x.Raw, Reason: x.Reason})
		}
		if len(rs) == q.Limit {
			out.Body.NextCursor = encodeCursor(cursorRejected, int64Bytes(rs[len(rs)-1].ID))
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-runs", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/runs", Tags: tags,
		Summary: "List a pipeline's runs", Description: "Newest first: polls, webhook batches, uploads, with their counts and errors.",
	}, func(ctx context.Context, in *struct {
		PipelineScope
		PageParams
	}) (*runsOutput, error) {
		q := store.RunQuery{Limit: in.Limit}
		if in.Cursor != "" {
			b, err := decodeCursor(in.Cursor, cursorRuns, 8+16)
			if err != nil {
				return nil, err
			}
			q.BeforeAt = time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))).UTC()
			q.BeforeID = uuid.UUID(b[8:])
		}
		rs, err := r.svc.Runs(ctx, caller(ctx, in.TeamScope), in.ID, q)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &runsOutput{}
		out.Body.Runs = make([]RunBody, 0, len(rs))
		for _, x := range rs {
			out.Body.Runs = append(out.Body.Runs, runBody(x))
		}
		if len(rs) == q.Limit {
			last := rs[len(rs)-1]
			out.Body.NextCursor = encodeCursor(cursorRuns, int64Bytes(last.StartedAt.UnixNano()), last.ID[:])
		}
		return out, nil
	})
}

// records answers a records query from the cache when the cache holds the
// whole page, and from the store otherwise.
func (r *pipelineRoutes) records(ctx context.Context, who orchestrator.Caller, p core.Pipeline, q store.RecordQuery) ([]RecordBody, error) {
	if err := r.warm(ctx, p); err != nil {
		return nil, err
	}
	if recs, ok := r.cachedRecords(p.ID, q); ok {
		return recs, nil
	}
	rs, err := r.svc.Records(ctx, who, p.ID, q)
	if err != nil {
		return nil, err
	}
	out := make([]RecordBody, len(rs))
	for i, x := range rs {
		out[i] = RecordBody{ID: x.ID, TS: x.TS, Data: x.Data}
	}
	return out, nil
}

// cachedRecords answers q from the cache, if the cache can say for sure
// that its answer is the store's.
//
// A cursor continues after (BeforeTS, BeforeID): the range then ends just
// after BeforeTS, and the entries at exactly BeforeTS with an id at or
// above BeforeID — the first ones of that range, which sorts by time, then
// id, descending — are skipped. The cache is asked for the page plus those,
// so its coverage claim holds for the page that remains.
func (r *pipelineRoutes) cachedRecords(pipeline uuid.UUID, q store.RecordQuery) ([]RecordBody, bool) {
	to, skip := q.To, 0
	if !q.BeforeTS.IsZero() {
		if end := q.BeforeTS.Add(time.Nanosecond); to.IsZero() || end.Before(to) {
			to = end
		}
		tied, _ := r.cache.Range(pipeline, q.BeforeTS, to, 0)
		for _, e := range tied {
			if e.TS.Equal(q.BeforeTS) && e.ID >= q.BeforeID {
				skip++
			}
		}
	}
	entries, covered := r.cache.Range(pipeline, q.From, to, q.Limit+skip)
	if !covered {
		return nil, false
	}
	if skip > len(entries) {
		skip = len(entries)
	}
	entries = entries[skip:]
	out := make([]RecordBody, len(entries))
	for i, e := range entries {
		out[i] = RecordBody{ID: e.ID, TS: e.TS, Data: e.Data}
	}
	return out, true
}

// warm loads a pipeline's newest records into the cache once per process,
// so that live streams start with them and recent pages skip the store.
func (r *pipelineRoutes) warm(ctx context.Context, p core.Pipeline) error {
	return r.engine.Warm(ctx, p)
}
