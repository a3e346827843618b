package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Records implements store.Records.
func (s *Store) Records(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RecordQuery) ([]core.Record, error) {
	where := []string{"team_id = ?", "pipeline_id = ?", "id < " + publishedBelow("?")}
	args := []any{teamID, pipelineID, pipelineID}
	if !q.From.IsZero() {
		where, args = append(where, "ts >= ?"), append(args, micros(q.From))
	}
	if !q.To.IsZero() {
		where, args = append(where, "ts < ?"), append(args, micros(q.To))
	}
	if !q.BeforeTS.IsZero() {
		where, args = append(where, "(ts, id) < (?, ?)"), append(args, micros(q.BeforeTS), q.BeforeID)
	}
	args = append(args, store.ClampLimit(q.Limit))
	rows, err := s.read.QueryContext(ctx, `SELECT id, ts, version, data FROM records WHERE `+strings.Join(where, " AND ")+
		` ORDER BY ts DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	defer rows.Close()
	var out []core.Record
	for rows.Next() {
		rec := core.Record{PipelineID: pipelineID}
		var (
			ts   int64
			data string
		)
		if err := rows.Scan(&rec.ID, &ts, &rec.Version, &data); err != nil {
			return nil, fmt.Errorf("list records: %w", err)
		}
		rec.TS, rec.Data = fromMicros(ts), json.RawMessage(data)
		out = append(out, rec)
	}
	return out, rows.Err()
}

// RejectedRecords implements store.Records.
func (s *Store) RejectedRecords(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RejectedQuery) ([]core.Rejected, error) {
	before := q.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, run_id, version, received_at, raw, reason FROM rejected_records
		WHERE team_id = ? AND pipeline_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
		teamID, pipelineID, before, store.ClampLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("list rejected records: %w", err)
	}
	defer rows.Close()
	var out []core.Rejected
	for rows.Next() {
		rej := core.Rejected{PipelineID: pipelineID}
		var (
			received int64
			raw      string
		)
		if err := rows.Scan(&rej.ID, &rej.RunID, &rej.Version, &received, &raw, &rej.Reason); err != nil {
			return nil, fmt.Errorf("list rejected records: %w", err)
		}
		rej.ReceivedAt, rej.Raw = fromMicros(received), json.RawMessage(raw)
		out = append(out, rej)
	}
	return out, rows.Err()
}

// Runs implements store.Records.
func (s *Store) Runs(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RunQuery) ([]core.Run, error) {
	query := `SELECT id, version, trigger, started_at, duration_us, fetched, stored, rejected, bytes, error FROM runs
		WHERE team_id = ? AND pipeline_id = ?`
	args := []any{teamID, pipelineID}
	if !q.BeforeAt.IsZero() {
		query += ` AND (started_at, id) < (?, ?)`
		args = append(args, micros(q.BeforeAt), q.BeforeID)
	}
	args = append(args, store.ClampLimit(q.Limit))
	rows, err := s.read.QueryContext(ctx, query+` ORDER BY started_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []core.Run
	for rows.Next() {
		run := core.Run{TeamID: teamID, PipelineID: pipelineID}
		var started, us int64
		if err := rows.Scan(&run.ID, &run.Version, &run.Trigger, &started, &us, &run.Fetched, &run.Stored, &run.Rejected, &run.Bytes, &run.Error); err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		run.StartedAt, run.Duration = fromMicros(started), time.Duration(us)*time.Microsecond
		out = append(out, run)
	}
	return out, rows.Err()
}

// recordsByIDSQL reads the records of id ranges, given as one JSON
// parameter ([[first,last,from,to],...], each with its time window in
// micros), then the team, the pipeline and the pipeline again. Each range
// is a search of the primary key: the ranges are the outer loop (CROSS
// JOIN keeps them there, MATERIALIZED reads the JSON once) and the unary
// + keeps the planner off the (pipeline_id, ts) index, through which it
// scanned every record of the window once per range (a delivery job
// carrying 30 batches of a busy pipeline spent 70% of its CPU there).
var recordsByIDSQL = `WITH g(first, last, t0, t1) AS MATERIALIZED (
		SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]')
		FROM json_each(?))
	SELECT r.id, r.ts, r.version, r.data FROM g CROSS JOIN records r ON r.id BETWEEN g.first AND g.last
	WHERE r.team_id = ? AND +r.pipeline_id = ? AND +r.ts >= g.t0 AND +r.ts <= g.t1 AND r.id < ` + publishedBelow("?") + `
	ORDER BY r.id`

// RecordsByID implements store.P2P.
func (s *Store) RecordsByID(ctx context.Context, teamID, pipelineID uuid.UUID, ids []store.RecordIDRange, from, to time.Time) ([]core.Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// The ranges travel as one JSON parameter: [[first,last,from,to],...].
	param := make([][4]int64, len(ids))
	for i, r := range ids {
		t0, t1 := r.Window(from, to)
		param[i] = [4]int64{r.First, r.Last, micros(t0), micros(t1)}
	}
	text, err := json.Marshal(param)
	if err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, recordsByIDSQL, string(text), teamID, pipelineID, pipelineID)
	if err != nil {
		return nil, fmt.Errorf("read records by id: %w", err)
	}
	defer rows.Close()
	var out []core.Record
	for rows.Next() {
		rec := core.Record{PipelineID: pipelineID}
		var (
			ts   int64
			data string
		)
		if err := rows.Scan(&rec.ID, &ts, &rec.Version, &data); err != nil {
			return nil, fmt.Errorf("read records by id: %w", err)
		}
		rec.TS, rec.Data = fromMicros(ts), json.RawMessage(data)
		out = append(out, rec)
	}
	return out, rows.Err()
}
