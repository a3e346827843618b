package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.Polls = (*Store)(nil)

// ArmPoll implements store.Polls.
func (s *Store) ArmPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due time.Time, manual bool) error {
	res, err := s.write.ExecContext(ctx, `INSERT INTO poll_schedules (pipeline_id, team_id, next_due, manual, updated_at)
		SELECT id, team_id, ?, ?, ? FROM pipelines WHERE team_id = ? AND id = ?
		ON CONFLICT (pipeline_id) DO UPDATE SET next_due = excluded.next_due, manual = excluded.manual, updated_at = excluded.updated_at`,
		micros(due), boolInt(manual), micros(core.Now()), teamID, pipelineID)
	if err != nil {
		return fmt.Errorf("arm poll of pipeline %s: %w", pipelineID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("arm poll of pipeline %s: %w", pipelineID, core.ErrNotFound)
	}
	return nil
}

// ArmNewPoll implements store.Polls.
func (s *Store) ArmNewPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `INSERT INTO poll_schedules (pipeline_id, team_id, next_due, manual, updated_at)
		SELECT id, team_id, ?, 0, ? FROM pipelines WHERE team_id = ? AND id = ?
		ON CONFLICT (pipeline_id) DO NOTHING`, micros(due), micros(core.Now()), teamID, pipelineID)
	if err != nil {
		return false, fmt.Errorf("arm first poll of pipeline %s: %w", pipelineID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ClaimDuePolls implements store.Polls: one UPDATE leases the due
// schedules and returns them, one SELECT reads their pipelines, in one
// transaction of the one writer, so no two claims overlap.
//
// The claim need not wait for an fsync (see inLazyTx): the polls'
// batches, committed durably after it, make it durable; if the machine
// crashes first, the leases were never taken and the schedules are
// claimed again.
func (s *Store) ClaimDuePolls(ctx context.Context, c store.PollBatchClaim) ([]store.DuePoll, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	var out []store.DuePoll
	err := s.inLazyTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		now := micros(c.Now)
		var deadBefore any // NULL: leases held by dead nodes wait for their end
		if !c.DeadBefore.IsZero() {
			deadBefore = micros(c.DeadBefore)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE poll_schedules SET lease_due = next_due, lease_until = ?, lease_owner = ?
			WHERE pipeline_id IN (SELECT pipeline_id FROM poll_schedules
				WHERE next_due <= ? AND (lease_until IS NULL OR lease_until < ?
					OR ? IS NOT NULL AND NOT EXISTS (
						SELECT 1 FROM nodes WHERE nodes.id = poll_schedules.lease_owner AND nodes.heartbeat_at >= ?))
				ORDER BY next_due LIMIT ?)
			RETURNING pipeline_id, next_due, manual`, micros(c.LeaseUntil), c.Owner, now, now, deadBefore, deadBefore, c.Limit)
		if err != nil {
			return err
		}
		index := map[string]int{}
		var ids []any
		for rows.Next() {
			var (
				id     string
				due    int64
				manual bool
			)
			if err := rows.Scan(&id, &due, &manual); err != nil {
				rows.Close()
				return err
			}
			index[id] = len(out)
			ids = append(ids, id)
			out = append(out, store.DuePoll{Due: fromMicros(due), Manual: manual})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err = tx.QueryContext(ctx, `SELECT `+pipelineColumns+`, state FROM pipelines WHERE id IN (?`+
			strings.Repeat(", ?", len(ids)-1)+`)`, ids...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var state sql.NullString
			p, err := scanPipelineState(rows, &state)
			if err != nil {
				return err
			}
			d := &out[index[p.ID.String()]]
			d.Pipeline = p
			if state.Valid {
				d.State = json.RawMessage(state.String)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim due polls: %w", err)
	}
	slices.SortFunc(out, func(a, b store.DuePoll) int { return a.Due.Compare(b.Due) })
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

// ReleasePolls implements store.Polls.
func (s *Store) ReleasePolls(ctx context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, errors.New("release polls: no owner given")
	}
	res, err := s.write.ExecContext(ctx, `UPDATE poll_schedules SET lease_due = NULL, lease_until = NULL, lease_owner = NULL
		WHERE substr(lease_owner, 1, length(?)) = ?`, prefix, prefix)
	if err != nil {
		return 0, fmt.Errorf("release the polls of %s: %w", prefix, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// RetryPoll implements store.Polls.
func (s *Store) RetryPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due, until time.Time) error {
	if _, err := s.write.ExecContext(ctx, `UPDATE poll_schedules SET lease_until = ?
		WHERE team_id = ? AND pipeline_id = ? AND lease_due = ?`, micros(until), teamID, pipelineID, micros(due)); err != nil {
		return fmt.Errorf("retry poll of pipeline %s: %w", pipelineID, err)
	}
	return nil
}

// FinishPoll implements store.Polls. The finish of an empty poll does not
// wait for the fsync (see inLazyTx).
func (s *Store) FinishPoll(ctx context.Context, f store.PollFinish) (bool, error) {
	var moved bool
	inTx := s.inTx
	if f.Empty {
		inTx = s.inLazyTx
	}
	err := inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if moved, err = finishPoll(ctx, tx, f); err != nil || !f.Empty {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE pipelines SET last_run_at = ?
			WHERE team_id = ? AND id = ? AND coalesce(last_run_at, 0) < ?`, micros(f.PolledAt), f.TeamID, f.PipelineID, micros(f.PolledAt))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("finish poll of pipeline %s: %w", f.PipelineID, err)
	}
	return moved, nil
}

// finishPoll is FinishPoll in tx: a batch's transaction (store.Batch.Finish)
// or FinishPoll's own. One statement moves the schedule to f.Next if it
// is still at f.Due (or deletes it when f.Next is zero) and releases the
// lease of f.Due in any case.
func finishPoll(ctx context.Context, tx *sql.Tx, f store.PollFinish) (bool, error) {
	var moved bool
	now := micros(core.Now())
	due := micros(f.Due)
	if f.Next.IsZero() {
		res, err := tx.ExecContext(ctx, `DELETE FROM poll_schedules WHERE team_id = ? AND pipeline_id = ? AND next_due = ?`,
			f.TeamID, f.PipelineID, due)
		if err != nil {
			return false, err
		}
		n, _ := res.RowsAffected()
		if moved = n > 0; !moved {
			if _, err := tx.ExecContext(ctx, `UPDATE poll_schedules SET lease_due = NULL, lease_until = NULL, lease_owner = NULL, updated_at = ?
				WHERE team_id = ? AND pipeline_id = ? AND lease_due = ?`, now, f.TeamID, f.PipelineID, due); err != nil {
				return false, err
			}
		}
	} else {
		next := micros(f.Next)
		err := tx.QueryRowContext(ctx, `UPDATE poll_schedules SET
				next_due = CASE WHEN next_due = ?1 THEN ?2 ELSE next_due END,
				manual = manual AND next_due <> ?1,
				lease_due = NULL, lease_until = NULL, lease_owner = NULL, updated_at = ?3
			WHERE team_id = ?4 AND pipeline_id = ?5 AND (next_due = ?1 OR lease_due = ?1)
			RETURNING next_due = ?2`, due, next, now, f.TeamID, f.PipelineID).Scan(&moved)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, err
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
	err := s.read.QueryRowContext(ctx, `SELECT team_id, pipeline_id, next_due, lease_due, lease_until, coalesce(lease_owner, ''), manual, updated_at
		FROM poll_schedules WHERE team_id = ? AND pipeline_id = ?`, teamID, pipelineID).
		Scan(&ps.TeamID, &ps.PipelineID, &next, &leaseDue, &leaseTill, &ps.LeaseOwner, &ps.Manual, &updated)
	if err != nil {
		return store.PollSchedule{}, mapErr(err)
	}
	ps.NextDue, ps.UpdatedAt = fromMicros(next), fromMicros(updated)
	ps.LeaseDue, ps.LeaseUntil = fromNullMicros(leaseDue), fromNullMicros(leaseTill)
	return ps, nil
}

// UnarmedPolls implements store.Polls.
func (s *Store) UnarmedPolls(ctx context.Context, limit int) ([]store.PollRef, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT p.team_id, p.id FROM pipelines p
		WHERE p.kind = 'polling' AND p.status <> 'paused'
		  AND NOT EXISTS (SELECT 1 FROM poll_schedules s WHERE s.pipeline_id = p.id)
		ORDER BY p.id LIMIT ?`, limit)
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

// boolInt stores a boolean in an INTEGER column of a STRICT table.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
