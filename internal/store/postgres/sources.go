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

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.Polls = (*Store)(nil)

// ArmPoll implements store.Polls.
func (s *Store) ArmPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due time.Time, manual bool) error {
	tag, err := s.pool.Exec(ctx, `INSERT INTO poll_schedules (pipeline_id, team_id, next_due, manual, updated_at)
		SELECT id, team_id, $3, $4, $5 FROM pipelines WHERE team_id = $1 AND id = $2
		ON CONFLICT (pipeline_id) DO UPDATE SET next_due = excluded.next_due, manual = excluded.manual, updated_at = excluded.updated_at`,
		teamID, pipelineID, due, manual, core.Now())
	switch {
	case err != nil:
		return fmt.Errorf("arm poll of pipeline %s: %w", pipelineID, err)
	case tag.RowsAffected() == 0:
		return fmt.Errorf("arm poll of pipeline %s: %w", pipelineID, core.ErrNotFound)
	}
	return nil
}

// ArmNewPoll implements store.Polls.
func (s *Store) ArmNewPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO poll_schedules (pipeline_id, team_id, next_due, manual, updated_at)
		SELECT id, team_id, $3, false, $4 FROM pipelines WHERE team_id = $1 AND id = $2
		ON CONFLICT (pipeline_id) DO NOTHING`, teamID, pipelineID, due, core.Now())
	if err != nil {
		return false, fmt.Errorf("arm first poll of pipeline %s: %w", pipelineID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// claimDuePolls leases the earliest due schedules whose lease is free,
// ended, or held by a node not listed with a heartbeat since $5 (when not
// null) ($1 now, $2 lease end, $3 owner, $4 limit) and returns them with
// their pipelines. SKIP LOCKED lets concurrent claims (other nodes) pass
// the rows one of them is taking instead of waiting for it; the lease
// itself keeps a row from being claimed again once that claim commits.
const claimDuePolls = `WITH due AS (
		SELECT pipeline_id FROM poll_schedules
		WHERE next_due <= $1 AND (lease_until IS NULL OR lease_until < $1
			OR $5::timestamptz IS NOT NULL AND NOT EXISTS (
				SELECT 1 FROM nodes WHERE nodes.id = poll_schedules.lease_owner AND nodes.heartbeat_at >= $5))
		ORDER BY next_due LIMIT $4
		FOR UPDATE SKIP LOCKED
	), claimed AS (
		UPDATE poll_schedules s SET lease_due = s.next_due, lease_until = $2, lease_owner = $3
		FROM due WHERE s.pipeline_id = due.pipeline_id
		RETURNING s.pipeline_id, s.next_due, s.manual
	)
	SELECT claimed.next_due, claimed.manual, ` + pipelineRowColumns + `, state
	FROM claimed JOIN pipelines ON pipelines.id = claimed.pipeline_id
	ORDER BY claimed.next_due`

// pipelineRowColumns are pipelineColumns with the stats of the row alone,
// without the deltas not yet folded into it: a poll reads none of them,
// and a claim of a hundred polls would add five reads of the deltas for
// each.
const pipelineRowColumns = `id, team_id, name, kind, status, version, spec, coalesce(hook_token_prefix, ''), created_at, updated_at,
	record_count, rejected_count, stored_bytes, last_record_at, last_run_at`

// ClaimDuePolls implements store.Polls: one statement, in one round trip
// with its transaction.
//
// The claim commits without waiting for the WAL flush (synchronous_commit
// off): each claimed poll makes a durable commit after it (its batch), and
// WAL is flushed in order, so that flush makes the claim durable too. Only
// if PostgreSQL itself crashes before that can the claim be lost, and then
// the lease was never taken: the schedule is claimed again.
func (s *Store) ClaimDuePolls(ctx context.Context, c store.PollBatchClaim) ([]store.DuePoll, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	b := lazyBatch()
	var out []store.DuePoll
	var deadBefore *time.Time
	if !c.DeadBefore.IsZero() {
		deadBefore = &c.DeadBefore
	}
	b.Queue(claimDuePolls, c.Now, c.LeaseUntil, c.Owner, c.Limit, deadBefore).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				d     store.DuePoll
				state []byte
			)
			p, err := scanPipeline(rowWithPrefix{rows, []any{&d.Due, &d.Manual}, &state})
			if err != nil {
				return err
			}
			d.Pipeline, d.Due = p, d.Due.UTC()
			if state != nil {
				d.State = json.RawMessage(state)
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	b.Queue(`COMMIT`)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("claim due polls: %w", err)
	}
	return out, nil
}

// lazyBatch begins a pgx batch that is one transaction committing without
// waiting for the WAL flush; the caller queues its statements and COMMIT.
func lazyBatch() *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL synchronous_commit TO OFF`)
	return b
}

// rowWithPrefix scans columns before and one after those scanPipeline
// reads.
type rowWithPrefix struct {
	r      pgx.Row
	before []any
	extra  any
}

func (x rowWithPrefix) Scan(dest ...any) error {
	return x.r.Scan(append(append(x.before, dest...), x.extra)...)
}

// ReleasePolls implements store.Polls.
func (s *Store) ReleasePolls(ctx context.Context, prefix string) (int, error) {
	if prefix == "" {
		return 0, errors.New("release polls: no owner given")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE poll_schedules SET lease_due = NULL, lease_until = NULL, lease_owner = NULL
		WHERE left(lease_owner, length($1)) = $1`, prefix)
	if err != nil {
		return 0, fmt.Errorf("release the polls of %s: %w", prefix, err)
	}
	return int(tag.RowsAffected()), nil
}

// RetryPoll implements store.Polls.
func (s *Store) RetryPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due, until time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE poll_schedules SET lease_until = $4
		WHERE team_id = $1 AND pipeline_id = $2 AND lease_due = $3`, teamID, pipelineID, due, until); err != nil {
		return fmt.Errorf("retry poll of pipeline %s: %w", pipelineID, err)
	}
	return nil
}

// FinishPoll implements store.Polls. The finish of an empty poll is one
// round trip that does not wait for the WAL flush (see ClaimDuePolls).
func (s *Store) FinishPoll(ctx context.Context, f store.PollFinish) (bool, error) {
	var moved bool
	if f.Empty {
		b := lazyBatch()
		queueFinish(b, f, &moved)
		b.Queue(`UPDATE pipelines SET last_run_at = $3
			WHERE team_id = $1 AND id = $2 AND (last_run_at IS NULL OR last_run_at < $3)`, f.TeamID, f.PipelineID, f.PolledAt)
		b.Queue(`COMMIT`)
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return false, fmt.Errorf("finish poll of pipeline %s: %w", f.PipelineID, err)
		}
		return moved, nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		queueFinish(b, f, &moved)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return false, fmt.Errorf("finish poll of pipeline %s: %w", f.PipelineID, err)
	}
	return moved, nil
}

// queueFinish queues the end of a poll into a pgx batch (a batch's, or
// FinishPoll's own): one statement moves the schedule to f.Next if it is
// still at f.Due (or deletes it when f.Next is zero) and releases the
// lease of f.Due in any case; *moved is set when the batch is read. Then
// the pipeline's status, when it changes.
func queueFinish(b *pgx.Batch, f store.PollFinish, moved *bool) {
	now := core.Now()
	setMoved := func(ct pgconn.CommandTag) error {
		*moved = ct.RowsAffected() > 0
		return nil
	}
	if f.Next.IsZero() {
		b.Queue(`DELETE FROM poll_schedules WHERE team_id = $1 AND pipeline_id = $2 AND next_due = $3`,
			f.TeamID, f.PipelineID, f.Due).Exec(setMoved)
		b.Queue(`UPDATE poll_schedules SET lease_due = NULL, lease_until = NULL, lease_owner = NULL, updated_at = $4
			WHERE team_id = $1 AND pipeline_id = $2 AND lease_due = $3`, f.TeamID, f.PipelineID, f.Due, now)
	} else {
		b.Queue(`UPDATE poll_schedules SET
				next_due = CASE WHEN next_due = $3 THEN $4 ELSE next_due END,
				manual = manual AND next_due <> $3,
				lease_due = NULL, lease_until = NULL, lease_owner = NULL, updated_at = $5
			WHERE team_id = $1 AND pipeline_id = $2 AND (next_due = $3 OR lease_due = $3)
			RETURNING next_due = $4`, f.TeamID, f.PipelineID, f.Due, f.Next, now).
			QueryRow(func(r pgx.Row) error {
				err := r.Scan(moved)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				return err
			})
	}
	if f.Status != "" {
		b.Queue(`UPDATE pipelines SET status = $3, updated_at = $4
			WHERE team_id = $1 AND id = $2 AND status <> 'paused' AND status <> $3`, f.TeamID, f.PipelineID, f.Status, now)
	}
}

// PollSchedule implements store.Polls.
func (s *Store) PollSchedule(ctx context.Context, teamID, pipelineID uuid.UUID) (store.PollSchedule, error) {
	var ps store.PollSchedule
	err := s.pool.QueryRow(ctx, `SELECT team_id, pipeline_id, next_due, lease_due, lease_until, coalesce(lease_owner, ''), manual, updated_at
		FROM poll_schedules WHERE team_id = $1 AND pipeline_id = $2`, teamID, pipelineID).
		Scan(&ps.TeamID, &ps.PipelineID, &ps.NextDue, &ps.LeaseDue, &ps.LeaseUntil, &ps.LeaseOwner, &ps.Manual, &ps.UpdatedAt)
	if err != nil {
		return store.PollSchedule{}, mapErr(err)
	}
	ps.NextDue, ps.UpdatedAt = ps.NextDue.UTC(), ps.UpdatedAt.UTC()
	utcPtr(ps.LeaseDue)
	utcPtr(ps.LeaseUntil)
	return ps, nil
}

// UnarmedPolls implements store.Polls.
func (s *Store) UnarmedPolls(ctx context.Context, limit int) ([]store.PollRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.team_id, p.id FROM pipelines p
		WHERE p.kind = 'polling' AND p.status <> 'paused'
		  AND NOT EXISTS (SELECT 1 FROM poll_schedules s WHERE s.pipeline_id = p.id)
		ORDER BY p.id LIMIT $1`, limit)
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
