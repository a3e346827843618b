package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.Polls = (*Store)(nil)

// ArmPoll implements store.Polls.
func (s *Store) ArmPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due time.Time, job river.InsertManyParams) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO poll_schedules (pipeline_id, team_id, next_due, updated_at)
			SELECT id, team_id, $3, $4 FROM pipelines WHERE team_id = $1 AND id = $2
			ON CONFLICT (pipeline_id) DO UPDATE SET next_due = excluded.next_due, updated_at = excluded.updated_at`,
			teamID, pipelineID, due, core.Now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
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

// ClaimPoll implements store.Polls. The common case, a claim that
// succeeds, is one round trip: the lease is taken and the pipeline read in
// one statement, sent in one batch with its transaction.
//
// The claim and FinishPoll commit without waiting for the WAL flush
// (synchronous_commit off): a poll makes a durable commit after each of
// them — its batch after the claim, River's completion of its job after
// FinishPoll — and WAL is flushed in order, so that flush makes them
// durable too. Only if PostgreSQL itself crashes before that can one be
// lost, and then the lease times out, or the periodic check finds the
// schedule overdue and arms it again. This saves two of the three flushes
// of a poll, which bound the polls a node makes per second.
func (s *Store) ClaimPoll(ctx context.Context, c store.PollClaimArgs) (store.PollClaim, error) {
	var out store.PollClaim
	var state []byte
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL synchronous_commit TO OFF`)
	b.Queue(`WITH claimed AS (
			UPDATE poll_schedules SET lease_due = $3, lease_until = $5
			WHERE team_id = $1 AND pipeline_id = $2 AND next_due = $3
			  AND (lease_until IS NULL OR lease_until < $4 OR lease_due = $3)
			RETURNING pipeline_id)
		SELECT `+pipelineColumns+`, state FROM pipelines
		WHERE team_id = $1 AND id = (SELECT pipeline_id FROM claimed)`,
		c.TeamID, c.PipelineID, c.Due, c.Now, c.LeaseUntil)
	b.Queue(`COMMIT`)
	br := s.pool.SendBatch(ctx, b)
	_, errBegin := br.Exec()
	_, errSet := br.Exec()
	p, err := scanPipeline(rowWithExtra{br.QueryRow(), &state})
	_, errCommit := br.Exec()
	errClose := br.Close()
	if e := errors.Join(errBegin, errSet, errCommit, errClose); e != nil {
		return store.PollClaim{}, fmt.Errorf("claim poll of pipeline %s: %w", c.PipelineID, e)
	}
	switch {
	case err == nil:
		out.Pipeline = p
		if state != nil {
			out.State = json.RawMessage(state)
		}
		return out, nil
	case !errors.Is(err, core.ErrNotFound):
		return store.PollClaim{}, fmt.Errorf("claim poll of pipeline %s: %w", c.PipelineID, err)
	}
	var next time.Time
	var until *time.Time
	err = s.pool.QueryRow(ctx, `SELECT next_due, lease_until FROM poll_schedules WHERE team_id = $1 AND pipeline_id = $2`,
		c.TeamID, c.PipelineID).Scan(&next, &until)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || err == nil && !next.Equal(c.Due):
		out.Stale = true
	case err != nil:
		return store.PollClaim{}, fmt.Errorf("claim poll of pipeline %s: %w", c.PipelineID, err)
	case until != nil:
		out.BusyUntil = until.UTC()
	default:
		out.Stale = true
	}
	return out, nil
}

// rowWithExtra scans one more column after those scanPipeline reads.
type rowWithExtra struct {
	r     pgx.Row
	extra any
}

func (x rowWithExtra) Scan(dest ...any) error { return x.r.Scan(append(dest, x.extra)...) }

// FinishPoll implements store.Polls.
func (s *Store) FinishPoll(ctx context.Context, f store.PollFinish) (bool, error) {
	var moved bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// See ClaimPoll for why this commit need not wait for the flush.
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return err
		}
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
func (s *Store) finishPoll(ctx context.Context, tx pgx.Tx, f store.PollFinish) (bool, error) {
	now := core.Now()
	var moved bool
	if !f.Next.IsZero() {
		tag, err := tx.Exec(ctx, `UPDATE poll_schedules SET next_due = $4, lease_due = NULL, lease_until = NULL, updated_at = $5
			WHERE team_id = $1 AND pipeline_id = $2 AND next_due = $3`, f.TeamID, f.PipelineID, f.Due, f.Next, now)
		if err != nil {
			return false, err
		}
		moved = tag.RowsAffected() > 0
	}
	if !moved {
		if _, err := tx.Exec(ctx, `UPDATE poll_schedules SET lease_due = NULL, lease_until = NULL, updated_at = $4
			WHERE team_id = $1 AND pipeline_id = $2 AND lease_due = $3`, f.TeamID, f.PipelineID, f.Due, now); err != nil {
			return false, err
		}
	}
	if moved && f.Job != nil {
		if _, err := s.inserter.InsertManyTx(ctx, tx, []river.InsertManyParams{*f.Job}); err != nil {
			return false, fmt.Errorf("enqueue next poll: %w", err)
		}
	}
	if f.Status != "" {
		if _, err := tx.Exec(ctx, `UPDATE pipelines SET status = $3, updated_at = $4
			WHERE team_id = $1 AND id = $2 AND status <> 'paused' AND status <> $3`, f.TeamID, f.PipelineID, f.Status, now); err != nil {
			return false, err
		}
	}
	return moved, nil
}

// queueFinish queues finishPoll's statements but the job insert into a
// batch's pgx batch, in the same order and with the same effect: the
// schedule moves to f.Next if it is still at f.Due (then *moved is set
// when the batch is read), else only the lease of f.Due is let go (the
// second statement finds no lease left when the first moved the
// schedule); then the pipeline's status. The caller inserts f.Job when
// *moved.
func queueFinish(b *pgx.Batch, f store.PollFinish, moved *bool) {
	now := core.Now()
	if !f.Next.IsZero() {
		b.Queue(`UPDATE poll_schedules SET next_due = $4, lease_due = NULL, lease_until = NULL, updated_at = $5
			WHERE team_id = $1 AND pipeline_id = $2 AND next_due = $3`, f.TeamID, f.PipelineID, f.Due, f.Next, now).
			Exec(func(ct pgconn.CommandTag) error {
				*moved = ct.RowsAffected() > 0
				return nil
			})
	}
	b.Queue(`UPDATE poll_schedules SET lease_due = NULL, lease_until = NULL, updated_at = $4
		WHERE team_id = $1 AND pipeline_id = $2 AND lease_due = $3`, f.TeamID, f.PipelineID, f.Due, now)
	if f.Status != "" {
		b.Queue(`UPDATE pipelines SET status = $3, updated_at = $4
			WHERE team_id = $1 AND id = $2 AND status <> 'paused' AND status <> $3`, f.TeamID, f.PipelineID, f.Status, now)
	}
}

// PollSchedule implements store.Polls.
func (s *Store) PollSchedule(ctx context.Context, teamID, pipelineID uuid.UUID) (store.PollSchedule, error) {
	var ps store.PollSchedule
	err := s.pool.QueryRow(ctx, `SELECT team_id, pipeline_id, next_due, lease_due, lease_until, updated_at
		FROM poll_schedules WHERE team_id = $1 AND pipeline_id = $2`, teamID, pipelineID).
		Scan(&ps.TeamID, &ps.PipelineID, &ps.NextDue, &ps.LeaseDue, &ps.LeaseUntil, &ps.UpdatedAt)
	if err != nil {
		return store.PollSchedule{}, mapErr(err)
	}
	ps.NextDue, ps.UpdatedAt = ps.NextDue.UTC(), ps.UpdatedAt.UTC()
	utcPtr(ps.LeaseDue)
	utcPtr(ps.LeaseUntil)
	return ps, nil
}

// UnarmedPolls implements store.Polls.
func (s *Store) UnarmedPolls(ctx context.Context, overdue, now time.Time, limit int) ([]store.PollRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.team_id, p.id FROM pipelines p
		LEFT JOIN poll_schedules s ON s.pipeline_id = p.id
		WHERE p.kind = 'polling' AND p.status <> 'paused'
		  AND (s.pipeline_id IS NULL OR s.next_due < $1 AND (s.lease_until IS NULL OR s.lease_until < $2))
		ORDER BY p.id LIMIT $3`, overdue, now, limit)
	if err != nil {
		return nil, fmt.Errorf("list unarmed polls: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.PollRef, error) {
		var ref store.PollRef
		err := r.Scan(&ref.TeamID, &ref.PipelineID)
		return ref, err
	})
	if err != nil {
		return nil, fmt.Errorf("list unarmed polls: %w", err)
	}
	return out, nil
}

// SeenKeys implements store.Polls.
func (s *Store) SeenKeys(ctx context.Context, teamID, pipelineID uuid.UUID, keys [][]byte, now time.Time) ([]bool, error) {
	out := make([]bool, len(keys))
	index := make(map[string][]int, len(keys))
	var distinct [][]byte
	for i, k := range keys {
		if k == nil {
			continue
		}
		if _, ok := index[string(k)]; !ok {
			distinct = append(distinct, k)
		}
		index[string(k)] = append(index[string(k)], i)
	}
	if len(distinct) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT key FROM source_keys WHERE team_id = $1 AND pipeline_id = $2 AND expires_at > $3 AND key = ANY($4)`,
		teamID, pipelineID, now, distinct)
	if err != nil {
		return nil, fmt.Errorf("read dedup keys: %w", err)
	}
	seen, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("read dedup keys: %w", err)
	}
	for _, k := range seen {
		for _, i := range index[string(k)] {
			out[i] = true
		}
	}
	return out, nil
}

// addKeys remembers distinct keys ($3) of a pipeline until $4.
const addKeys = `INSERT INTO source_keys (pipeline_id, team_id, key, expires_at)
	SELECT p.id, p.team_id, k, $4 FROM pipelines p, unnest($3::bytea[]) AS k WHERE p.team_id = $1 AND p.id = $2
	ON CONFLICT (pipeline_id, key) DO UPDATE SET expires_at = excluded.expires_at`

// distinctKeys drops nil and repeated keys.
func distinctKeys(keys [][]byte) [][]byte {
	var list [][]byte
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if k != nil && !seen[string(k)] {
			seen[string(k)] = true
			list = append(list, k)
		}
	}
	return list
}

// AddKeys implements store.Polls.
func (s *Store) AddKeys(ctx context.Context, teamID, pipelineID uuid.UUID, keys [][]byte, expires time.Time) error {
	list := distinctKeys(keys)
	if len(list) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, addKeys, teamID, pipelineID, list, expires)
	if err != nil {
		return fmt.Errorf("write dedup keys: %w", err)
	}
	return nil
}

// DeleteExpiredKeys implements store.Polls.
func (s *Store) DeleteExpiredKeys(ctx context.Context, now time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM source_keys WHERE ctid IN (
		SELECT ctid FROM source_keys WHERE expires_at < $1 LIMIT $2)`, now, limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired dedup keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
