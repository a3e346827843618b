package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.Polls = (*Store)(nil)

// ArmPoll implements store.Polls.
func (s *Store) ArmPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due time.Time, job river.InsertManyParams) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := micros(core.Now())
		res, err := tx.ExecContext(ctx, `INSERT INTO poll_schedules (pipeline_id, team_id, next_due, updated_at)
			SELECT id, team_id, ?, ? FROM pipelines WHERE team_id = ? AND id = ?
			ON CONFLICT (pipeline_id) DO UPDATE SET next_due = excluded.next_due, updated_at = excluded.updated_at`,
			micros(due), now, teamID, pipelineID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.ErrNotFound
		}
		if _, err := s.inserter.InsertManyTx(ctx, tx, []river.InsertManyParams{job}); err != nil {
			return fmt.Errorf("enqueue poll: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("arm poll of pipeline %s: %w", pipelineID, err)
	}
	return nil
}

// ClaimPoll implements store.Polls.
func (s *Store) ClaimPoll(ctx context.Context, c store.PollClaimArgs) (store.PollClaim, error) {
	var out store.PollClaim
	// The claim need not wait for an fsync (see inLazyTx): the poll's
	// batch, committed durably after it, makes it durable; if the machine
	// crashes first, the lease was never taken and the poll's retry takes
	// it. This saves one of a poll's two fsyncs on the one writer.
	err := s.inLazyTx(ctx, func(tx *sql.Tx) error {
		due, now := micros(c.Due), micros(c.Now)
		res, err := tx.ExecContext(ctx, `UPDATE poll_schedules SET lease_due = ?, lease_until = ?
			WHERE team_id = ? AND pipeline_id = ? AND next_due = ?
			  AND (lease_until IS NULL OR lease_until < ? OR lease_due = ?)`,
			due, micros(c.LeaseUntil), c.TeamID, c.PipelineID, due, now, due)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var next int64
			var until sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT next_due, lease_until FROM poll_schedules WHERE team_id = ? AND pipeline_id = ?`,
				c.TeamID, c.PipelineID).Scan(&next, &until)
			switch {
			case err == sql.ErrNoRows || err == nil && next != due:
				out.Stale = true
				return nil
			case err != nil:
				return err
			}
			out.BusyUntil = fromMicros(until.Int64)
			return nil
		}
		var state sql.NullString
		p, err := scanPipelineState(tx.QueryRowContext(ctx, `SELECT `+pipelineColumns+`, state FROM pipelines WHERE team_id = ? AND id = ?`,
			c.TeamID, c.PipelineID), &state)
		if err != nil {
			return err
		}
		out.Pipeline = p
		if state.Valid {
			out.State = json.RawMessage(state.String)
		}
		return nil
	})
	if err != nil {
		return store.PollClaim{}, fmt.Errorf("claim poll of pipeline %s: %w", c.PipelineID, mapErr(err))
	}
	return out, nil
}

// scanPipelineState scans pipelineColumns followed by the state.
func scanPipelineState(r row, state *sql.NullString) (core.Pipeline, error) {
	return scanPipeline(rowWithExtra{r, state})
}

// rowWithExtra scans one more column after those scanPipeline reads.
type rowWithExtra struct {
	r     row
	extra any
}

func (x rowWithExtra) Scan(dest ...any) error { return x.r.Scan(append(dest, x.extra)...) }

// FinishPoll implements store.Polls.
func (s *Store) FinishPoll(ctx context.Context, f store.PollFinish) (bool, error) {
	var moved bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		moved, err = s.finishPoll(ctx, tx, f)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("finish poll of pipeline %s: %w", f.PipelineID, err)
	}
	return moved, nil
}

// finishPoll is FinishPoll in tx: a batch's transaction (store.Batch.Finish)
// or FinishPoll's own.
func (s *Store) finishPoll(ctx context.Context, tx *sql.Tx, f store.PollFinish) (bool, error) {
	return s.finishPollJobs(ctx, tx, f, nil)
}

// finishPollJobs is finishPoll; with jobs set, the next poll's job is
// appended there for the caller to insert in the same transaction.
func (s *Store) finishPollJobs(ctx context.Context, tx *sql.Tx, f store.PollFinish, jobs *[]river.InsertManyParams) (bool, error) {
	var moved bool
	now := micros(core.Now())
	due := micros(f.Due)
	if !f.Next.IsZero() {
		res, err := tx.ExecContext(ctx, `UPDATE poll_schedules SET next_due = ?, lease_due = NULL, lease_until = NULL, updated_at = ?
			WHERE team_id = ? AND pipeline_id = ? AND next_due = ?`, micros(f.Next), now, f.TeamID, f.PipelineID, due)
		if err != nil {
			return false, err
		}
		n, _ := res.RowsAffected()
		moved = n > 0
	}
	if !moved {
		if _, err := tx.ExecContext(ctx, `UPDATE poll_schedules SET lease_due = NULL, lease_until = NULL, updated_at = ?
			WHERE team_id = ? AND pipeline_id = ? AND lease_due = ?`, now, f.TeamID, f.PipelineID, due); err != nil {
			return false, err
		}
	}
	if moved && f.Job != nil && jobs != nil {
		*jobs = append(*jobs, *f.Job)
	} else if moved && f.Job != nil {
		if _, err := s.inserter.InsertManyTx(ctx, tx, []river.InsertManyParams{*f.Job}); err != nil {
			return false, fmt.Errorf("enqueue next poll: %w", err)
		}
	}
	if f.Status != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE pipelines SET status = ?, updated_at = ?
			WHERE team_id = ? AND id = ? AND status <> 'paused' AND status <> ?`, f.Status, now, f.TeamID, f.PipelineID, f.Status); err != nil {
			return false, err
		}
	}
	return moved, nil
}

// PollSchedule implements store.Polls.
func (s *Store) PollSchedule(ctx context.Context, teamID, pipelineID uuid.UUID) (store.PollSchedule, error) {
	var (
		ps                  store.PollSchedule
		next, updated       int64
		leaseDue, leaseTill sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, `SELECT team_id, pipeline_id, next_due, lease_due, lease_until, updated_at
		FROM poll_schedules WHERE team_id = ? AND pipeline_id = ?`, teamID, pipelineID).
		Scan(&ps.TeamID, &ps.PipelineID, &next, &leaseDue, &leaseTill, &updated)
	if err != nil {
		return store.PollSchedule{}, mapErr(err)
	}
	ps.NextDue, ps.UpdatedAt = fromMicros(next), fromMicros(updated)
	ps.LeaseDue, ps.LeaseUntil = fromNullMicros(leaseDue), fromNullMicros(leaseTill)
	return ps, nil
}

// UnarmedPolls implements store.Polls.
func (s *Store) UnarmedPolls(ctx context.Context, overdue, now time.Time, limit int) ([]store.PollRef, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT p.team_id, p.id FROM pipelines p
		LEFT JOIN poll_schedules s ON s.pipeline_id = p.id
		WHERE p.kind = 'polling' AND p.status <> 'paused'
		  AND (s.pipeline_id IS NULL OR s.next_due < ? AND (s.lease_until IS NULL OR s.lease_until < ?))
		ORDER BY p.id LIMIT ?`, micros(overdue), micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list unarmed polls: %w", err)
	}
	defer rows.Close()
	var out []store.PollRef
	for rows.Next() {
		var r store.PollRef
		if err := rows.Scan(&r.TeamID, &r.PipelineID); err != nil {
			return nil, fmt.Errorf("list unarmed polls: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// keyChunk bounds the keys of one statement (SQLite limits parameters).
const keyChunk = 500

// SeenKeys implements store.Polls.
func (s *Store) SeenKeys(ctx context.Context, teamID, pipelineID uuid.UUID, keys [][]byte, now time.Time) ([]bool, error) {
	out := make([]bool, len(keys))
	index := make(map[string][]int, len(keys))
	for i, k := range keys {
		if k != nil {
			index[string(k)] = append(index[string(k)], i)
		}
	}
	var distinct [][]byte
	for k := range index {
		distinct = append(distinct, []byte(k))
	}
	for start := 0; start < len(distinct); start += keyChunk {
		chunk := distinct[start:min(start+keyChunk, len(distinct))]
		args := []any{teamID, pipelineID, micros(now)}
		for _, k := range chunk {
			args = append(args, k)
		}
		rows, err := s.read.QueryContext(ctx, `SELECT key FROM source_keys WHERE team_id = ? AND pipeline_id = ? AND expires_at > ?
			AND key IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read dedup keys: %w", err)
		}
		for rows.Next() {
			var k []byte
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read dedup keys: %w", err)
			}
			for _, i := range index[string(k)] {
				out[i] = true
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read dedup keys: %w", err)
		}
	}
	return out, nil
}

// AddKeys implements store.Polls.
func (s *Store) AddKeys(ctx context.Context, teamID, pipelineID uuid.UUID, keys [][]byte, expires time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error { return addKeys(ctx, tx, teamID, pipelineID, keys, expires) })
	if err != nil {
		return fmt.Errorf("write dedup keys: %w", err)
	}
	return nil
}

// addKeys is AddKeys in tx: a batch's transaction (store.Batch.Keys) or
// AddKeys' own.
func addKeys(ctx context.Context, tx *sql.Tx, teamID, pipelineID uuid.UUID, keys [][]byte, expires time.Time) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO source_keys (pipeline_id, team_id, key, expires_at)
		SELECT id, team_id, ?, ? FROM pipelines WHERE team_id = ? AND id = ?
		ON CONFLICT (pipeline_id, key) DO UPDATE SET expires_at = excluded.expires_at`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	exp := micros(expires)
	for _, k := range keys {
		if k == nil {
			continue
		}
		if _, err := stmt.ExecContext(ctx, k, exp, teamID, pipelineID); err != nil {
			return err
		}
	}
	return nil
}

// DeleteExpiredKeys implements store.Polls.
func (s *Store) DeleteExpiredKeys(ctx context.Context, now time.Time, limit int) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM source_keys WHERE (pipeline_id, key) IN (
		SELECT pipeline_id, key FROM source_keys WHERE expires_at < ? LIMIT ?)`, micros(now), limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired dedup keys: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
