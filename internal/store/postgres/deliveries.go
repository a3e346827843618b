package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// insertJobs enqueues jobs inside tx, with the rows of those that are
// deliveries (see store.DeliveryJob), in one more round trip.
func (s *Store) insertJobs(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) error {
	var batch pgx.Batch
	if err := s.insertJobsThen(ctx, tx, params, &batch); err != nil {
		return err
	}
	if batch.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return fmt.Errorf("insert deliveries: %w", mapErr(err))
	}
	return nil
}

// insertJobsThen enqueues jobs inside tx and queues the INSERT of the
// rows of those that are deliveries (see store.DeliveryJob) in batch, for
// the caller to send with its own statements.
func (s *Store) insertJobsThen(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams, batch *pgx.Batch) error {
	res, err := s.inserter.InsertManyTx(ctx, tx, params)
	if err != nil {
		return err
	}
	rows, idx := store.DeliveryRows(params)
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	var (
		ids, teams, pipes, runs, replays = make([][16]byte, n), make([][16]byte, n), make([][16]byte, n), make([]*[16]byte, n), make([]*[16]byte, n)
		sinks, keys                      = make([]string, n), make([]string, n)
		jobs                             = make([]*int64, n)
		counts                           = make([]int32, n)
		froms, tos, created              = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	)
	for i, d := range rows {
		ids[i], teams[i], pipes[i] = [16]byte(d.ID), [16]byte(d.TeamID), [16]byte(d.PipelineID)
		if d.RunID != uuid.Nil {
			r := [16]byte(d.RunID)
			runs[i] = &r
		}
		if d.ReplayID != uuid.Nil {
			r := [16]byte(d.ReplayID)
			replays[i] = &r
		}
		sinks[i], keys[i], counts[i] = d.Sink, d.Key, int32(d.Records)
		froms[i], tos[i], created[i] = d.From, d.To, d.CreatedAt
		if j := idx[i]; j < len(res) && res[j] != nil && res[j].Job != nil {
			id := res[j].Job.ID
			jobs[i] = &id
		}
	}
	batch.Queue(insertDeliveries, ids, teams, pipes, sinks, keys, runs, replays, jobs, counts, froms, tos, created)
	return nil
}

// insertDeliveries inserts pending delivery rows, one per array element.
const insertDeliveries = `INSERT INTO deliveries (id, team_id, pipeline_id, sink, idempotency_key, run_id, replay_id, job_id,
		records, ts_from, ts_to, status, created_at, updated_at)
	SELECT u.id, u.team_id, u.pipeline_id, u.sink, u.key, u.run_id, u.replay_id, u.job_id, u.records, u.ts_from, u.ts_to, 'pending', u.created_at, u.created_at
	FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::uuid[], $8::bigint[], $9::int[],
		$10::timestamptz[], $11::timestamptz[], $12::timestamptz[])
		AS u(id, team_id, pipeline_id, sink, key, run_id, replay_id, job_id, records, ts_from, ts_to, created_at)`

const deliveryColumns = `id, team_id, pipeline_id, sink, idempotency_key, run_id, replay_id, records, ts_from, ts_to, status, attempts,
	last_error, created_at, updated_at, last_attempt_at, next_attempt_at, delivered_at, duration_us, latency_us`

func scanDelivery(row pgx.Row) (core.Delivery, error) {
	var (
		d                 core.Delivery
		run, replay       *uuid.UUID
		duration, latency int64
	)
	err := row.Scan(&d.ID, &d.TeamID, &d.PipelineID, &d.Sink, &d.Key, &run, &replay, &d.Records, &d.From, &d.To, &d.Status, &d.Attempts,
		&d.LastError, &d.CreatedAt, &d.UpdatedAt, &d.LastAttemptAt, &d.NextAttemptAt, &d.DeliveredAt, &duration, &latency)
	if err != nil {
		return d, err
	}
	if run != nil {
		d.RunID = *run
	}
	if replay != nil {
		d.ReplayID = *replay
	}
	d.From, d.To, d.CreatedAt, d.UpdatedAt = d.From.UTC(), d.To.UTC(), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	utcPtr(d.LastAttemptAt)
	utcPtr(d.NextAttemptAt)
	utcPtr(d.DeliveredAt)
	d.Duration, d.Latency = time.Duration(duration)*time.Microsecond, time.Duration(latency)*time.Microsecond
	return d, nil
}

const sinkStateColumns = `team_id, pipeline_id, sink, status, reason, consecutive_failures, delivered, records, failed, dead,
	latency_total_us, last_success_at, last_failure_at, updated_at`

func scanSinkState(row pgx.Row) (core.SinkState, error) {
	var (
		st      core.SinkState
		latency int64
	)
	err := row.Scan(&st.TeamID, &st.PipelineID, &st.Sink, &st.Status, &st.Reason, &st.ConsecutiveFailures, &st.Delivered, &st.Records,
		&st.Failed, &st.Dead, &latency, &st.LastSuccessAt, &st.LastFailureAt, &st.UpdatedAt)
	if err != nil {
		return st, err
	}
	st.LatencyTotal, st.UpdatedAt = time.Duration(latency)*time.Microsecond, st.UpdatedAt.UTC()
	utcPtr(st.LastSuccessAt)
	utcPtr(st.LastFailureAt)
	return st, nil
}

// RecordDelivery implements store.Deliveries.
func (s *Store) RecordDelivery(ctx context.Context, o store.DeliveryOutcome) (core.SinkState, error) {
	var st core.SinkState
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var payload []byte
		if o.Status == core.DeliveryDead && o.Payload != nil {
			payload = o.Payload
		}
		errText := o.Error
		if o.Status == core.DeliveryDelivered {
			errText = ""
		}
		// A delivery delivered already (a rescued job that had succeeded)
		// is left alone and counts once: under the row lock, the second of
		// two concurrent successes finds it delivered.
		var latency int64
		err := tx.QueryRow(ctx, `UPDATE deliveries SET status = $3, attempts = greatest(attempts, $4), last_error = $5, last_attempt_at = $6,
				next_attempt_at = $7, delivered_at = CASE WHEN $3 = 'delivered' THEN $6::timestamptz END, duration_us = $8,
				latency_us = CASE WHEN $3 = 'delivered' THEN (extract(epoch FROM $6::timestamptz - created_at) * 1000000)::bigint ELSE 0 END,
				payload = CASE WHEN $3 = 'delivered' THEN NULL ELSE coalesce($9, payload) END, updated_at = $6
			WHERE team_id = $1 AND id = $2 AND status <> 'delivered'
			RETURNING latency_us`,
			o.TeamID, o.ID, string(o.Status), o.Attempt, errText, o.At, o.NextAttemptAt, o.Duration.Microseconds(), payload).Scan(&latency)
		if errors.Is(err, pgx.ErrNoRows) {
			var status core.DeliveryStatus
			if err := tx.QueryRow(ctx, `SELECT status FROM deliveries WHERE team_id = $1 AND id = $2`, o.TeamID, o.ID).Scan(&status); err != nil {
				return fmt.Errorf("record delivery %s: %w", o.ID, mapErr(err))
			}
			st, err = scanSinkState(tx.QueryRow(ctx, `SELECT `+sinkStateColumns+` FROM sink_states WHERE pipeline_id = $1 AND sink = $2`, o.PipelineID, o.Sink))
			return mapErr(err)
		}
		if err != nil {
			return fmt.Errorf("record delivery %s: %w", o.ID, err)
		}
		h, err := lockSinkHealth(ctx, tx, o.TeamID, o.PipelineID, o.Sink, o.At)
		if err != nil {
			return fmt.Errorf("update sink state: %w", err)
		}
		c := o.Counts(latency)
		if o.Status == core.DeliveryDelivered {
			h = h.Delivered()
		} else {
			h = h.Failed(o.Error, o.FailingAfter)
		}
		st, err = scanSinkState(tx.QueryRow(ctx, `UPDATE sink_states SET status = $4, reason = $5, consecutive_failures = $6,
				delivered = delivered + $7, records = records + $8, latency_total_us = latency_total_us + $9,
				failed = failed + $10, dead = dead + $11,
				last_success_at = coalesce($12, last_success_at), last_failure_at = coalesce($13, last_failure_at), updated_at = $14
			WHERE team_id = $1 AND pipeline_id = $2 AND sink = $3
			RETURNING `+sinkStateColumns,
			o.TeamID, o.PipelineID, o.Sink, h.Status, h.Reason, h.ConsecutiveFailures,
			c.Delivered, c.Records, c.LatencyUS, c.Failed, c.Dead, c.LastSuccessAt, c.LastFailureAt, o.At))
		if err != nil {
			return fmt.Errorf("update sink state: %w", err)
		}
		return nil
	})
	return st, err
}

// RecordDeliveries implements store.Deliveries.
func (s *Store) RecordDeliveries(ctx context.Context, os []store.DeliveryOutcome) (core.SinkState, error) {
	var st core.SinkState
	if len(os) == 0 {
		return st, nil
	}
	first := os[0]
	n := len(os)
	var (
		ids            = make([][16]byte, n)
		statuses, errs = make([]string, n), make([]string, n)
		attempts       = make([]int32, n)
		ats            = make([]time.Time, n)
		nexts          = make([]*time.Time, n)
		durations      = make([]int64, n)
		payloads       = make([]*string, n)
		byID           = make(map[uuid.UUID]int, n)
	)
	for i, o := range os {
		if o.TeamID != first.TeamID || o.PipelineID != first.PipelineID || o.Sink != first.Sink {
			return st, errors.New("record deliveries: outcomes of more than one sink")
		}
		ids[i], statuses[i], attempts[i], ats[i], nexts[i], durations[i] = [16]byte(o.ID), string(o.Status), int32(o.Attempt), o.At, o.NextAttemptAt, o.Duration.Microseconds()
		if o.Status != core.DeliveryDelivered {
			errs[i] = o.Error
		}
		if o.Status == core.DeliveryDead && o.Payload != nil {
			p := string(o.Payload)
			payloads[i] = &p
		}
		byID[o.ID] = i
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Deliveries delivered already are left alone and count once, as
		// in RecordDelivery.
		rows, err := tx.Query(ctx, `UPDATE deliveries d SET status = u.status, attempts = greatest(d.attempts, u.attempt), last_error = u.err,
				last_attempt_at = u.at, next_attempt_at = u.next, delivered_at = CASE WHEN u.status = 'delivered' THEN u.at END, duration_us = u.dur,
				latency_us = CASE WHEN u.status = 'delivered' THEN (extract(epoch FROM u.at - d.created_at) * 1000000)::bigint ELSE 0 END,
				payload = CASE WHEN u.status = 'delivered' THEN NULL ELSE coalesce(u.payload::jsonb, d.payload) END, updated_at = u.at
			FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::text[])
				AS u(id, status, attempt, err, at, next, dur, payload)
			WHERE d.team_id = $1 AND d.pipeline_id = $2 AND d.id = u.id AND d.status <> 'delivered'
			RETURNING d.id, d.latency_us`,
			first.TeamID, first.PipelineID, ids, statuses, attempts, errs, ats, nexts, durations, payloads)
		if err != nil {
			return fmt.Errorf("record deliveries: %w", err)
		}
		latency := make([]int64, n)
		applied := make([]bool, n)
		for rows.Next() {
			var (
				id uuid.UUID
				l  int64
			)
			if err := rows.Scan(&id, &l); err != nil {
				rows.Close()
				return fmt.Errorf("record deliveries: %w", err)
			}
			i := byID[id]
			latency[i], applied[i] = l, true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("record deliveries: %w", err)
		}
		if !slices.Contains(applied, true) {
			// Nothing changed (delivered already, or gone): the state as it is.
			st, err = scanSinkState(tx.QueryRow(ctx, `SELECT `+sinkStateColumns+` FROM sink_states WHERE team_id = $1 AND pipeline_id = $2 AND sink = $3`,
				first.TeamID, first.PipelineID, first.Sink))
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		h, err := lockSinkHealth(ctx, tx, first.TeamID, first.PipelineID, first.Sink, os[n-1].At)
		if err != nil {
			return fmt.Errorf("update sink state: %w", err)
		}
		var c store.SinkCounts
		for i, o := range os {
			if !applied[i] {
				continue
			}
			if o.Status == core.DeliveryDelivered {
				h = h.Delivered()
			} else {
				h = h.Failed(o.Error, o.FailingAfter)
			}
			c = c.Add(o.Counts(latency[i]))
		}
		st, err = scanSinkState(tx.QueryRow(ctx, `UPDATE sink_states SET status = $4, reason = $5, consecutive_failures = $6,
				delivered = delivered + $7, records = records + $8, latency_total_us = latency_total_us + $9,
				failed = failed + $10, dead = dead + $11,
				last_success_at = coalesce($12, last_success_at), last_failure_at = coalesce($13, last_failure_at), updated_at = $14
			WHERE team_id = $1 AND pipeline_id = $2 AND sink = $3
			RETURNING `+sinkStateColumns,
			first.TeamID, first.PipelineID, first.Sink, h.Status, h.Reason, h.ConsecutiveFailures,
			c.Delivered, c.Records, c.LatencyUS, c.Failed, c.Dead, c.LastSuccessAt, c.LastFailureAt, os[n-1].At))
		if err != nil {
			return fmt.Errorf("update sink state: %w", err)
		}
		return nil
	})
	return st, err
}

// ClaimDeliveries implements store.Deliveries. One statement: the claim
// locks the candidates' jobs (skipping those River or another claim
// holds), deletes them and points the rows at the carrier; the rows the
// carrier carried before come from the statement's snapshot, so none is
// returned twice.
func (s *Store) ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]store.CarriedDelivery, error) {
	rows, err := s.pool.Query(ctx, `WITH cand AS (
			SELECT d.id, d.job_id, d.records FROM deliveries d JOIN river_job j ON j.id = d.job_id
			WHERE d.pipeline_id = $2 AND d.sink = $3 AND d.status = 'pending' AND d.payload IS NULL AND d.team_id = $1
				AND d.id <> $5 AND j.state = 'available'
			ORDER BY d.id LIMIT $6
			FOR UPDATE OF j SKIP LOCKED
		), capped AS (
			SELECT id, job_id FROM (SELECT id, job_id, sum(records) OVER (ORDER BY id) AS total, row_number() OVER (ORDER BY id) AS n FROM cand) c
			WHERE c.total <= $7 OR c.n = 1
		), gone AS (
			DELETE FROM river_job j USING capped c WHERE j.id = c.job_id RETURNING j.id, j.args
		), claimed AS (
			UPDATE deliveries d SET job_id = $4, payload = g.args, updated_at = $8
			FROM capped c JOIN gone g ON g.id = c.job_id
			WHERE d.id = c.id
			RETURNING d.id, d.status, d.attempts, d.payload
		), own AS (
			-- The carrier's own delivery is carried too from now on: no
			-- other job may claim it (and so delete the carrier) while
			-- the carrier waits for its next run.
			UPDATE deliveries SET payload = (SELECT args FROM river_job WHERE id = $4)
			WHERE team_id = $1 AND id = $5 AND payload IS NULL AND status IN ('pending', 'retrying') AND EXISTS (SELECT 1 FROM claimed)
		)
		SELECT id, status, attempts, payload, claimed FROM (
			SELECT id, status, attempts, payload, false AS claimed FROM deliveries
			WHERE job_id = $4 AND status IN ('pending', 'retrying') AND payload IS NOT NULL AND team_id = $1 AND id <> $5
			UNION ALL
			SELECT id, status, attempts, payload, true FROM claimed
		) x ORDER BY id`,
		c.TeamID, c.PipelineID, c.Sink, c.Carrier, c.Own, max(c.Limit, 0), max(c.MaxRecords, 1), core.Now())
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.CarriedDelivery, error) {
		var d store.CarriedDelivery
		var args []byte
		err := r.Scan(&d.ID, &d.Status, &d.Attempts, &args, &d.Claimed)
		d.Args = args
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// lockSinkHealth returns the health of a sink, its row locked until tx
// ends. A sink without a state gets one first, so that concurrent writers
// queue on its row; a pipeline that is not the team's gives
// core.ErrNotFound.
func lockSinkHealth(ctx context.Context, tx pgx.Tx, teamID, pipelineID uuid.UUID, sink string, at time.Time) (core.SinkHealth, error) {
	const lock = `SELECT status, reason, consecutive_failures FROM sink_states WHERE team_id = $1 AND pipeline_id = $2 AND sink = $3 FOR UPDATE`
	var h core.SinkHealth
	err := tx.QueryRow(ctx, lock, teamID, pipelineID, sink).Scan(&h.Status, &h.Reason, &h.ConsecutiveFailures)
	if !errors.Is(err, pgx.ErrNoRows) {
		return h, err
	}
	h = core.NewSinkHealth()
	if _, err := tx.Exec(ctx, `INSERT INTO sink_states (pipeline_id, sink, team_id, status, updated_at)
		SELECT p.id, $3, p.team_id, $4, $5 FROM pipelines p WHERE p.team_id = $1 AND p.id = $2
		ON CONFLICT (pipeline_id, sink) DO NOTHING`, teamID, pipelineID, sink, h.Status, at); err != nil {
		return h, fmt.Errorf("add sink state: %w", mapErr(err))
	}
	if err := tx.QueryRow(ctx, lock, teamID, pipelineID, sink).Scan(&h.Status, &h.Reason, &h.ConsecutiveFailures); err != nil {
		return h, fmt.Errorf("pipeline %s: %w", pipelineID, mapErr(err))
	}
	return h, nil
}

// Delivery implements store.Deliveries.
func (s *Store) Delivery(ctx context.Context, teamID, id uuid.UUID) (core.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE team_id = $1 AND id = $2`, teamID, id))
	if err != nil {
		return d, fmt.Errorf("delivery %s: %w", id, mapErr(err))
	}
	return d, nil
}

// Deliveries implements store.Deliveries.
func (s *Store) Deliveries(ctx context.Context, teamID, pipelineID uuid.UUID, q store.DeliveryQuery) ([]core.Delivery, error) {
	where := []string{"team_id = $1", "pipeline_id = $2"}
	args := []any{teamID, pipelineID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.Sink != "" {
		add("sink = ?", q.Sink)
	}
	if q.Status != "" {
		add("status = ?", q.Status)
	}
	if q.ReplayID != uuid.Nil {
		add("replay_id = ?", q.ReplayID)
	}
	if q.BeforeID != uuid.Nil {
		add("id < ?", q.BeforeID)
	}
	args = append(args, store.ClampLimit(q.Limit))
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// RetryDelivery implements store.Deliveries.
func (s *Store) RetryDelivery(ctx context.Context, teamID, id uuid.UUID, job func(payload json.RawMessage) (river.InsertManyParams, error)) (core.Delivery, error) {
	var d core.Delivery
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			status  core.DeliveryStatus
			payload []byte
		)
		if err := tx.QueryRow(ctx, `SELECT status, payload FROM deliveries WHERE team_id = $1 AND id = $2 FOR UPDATE`, teamID, id).Scan(&status, &payload); err != nil {
			return fmt.Errorf("delivery %s: %w", id, mapErr(err))
		}
		if status != core.DeliveryDead || payload == nil {
			return fmt.Errorf("delivery %s is %s, not dead: %w", id, status, core.ErrConflict)
		}
		params, err := job(payload)
		if err != nil {
			return err
		}
		res, err := s.inserter.InsertManyTx(ctx, tx, []river.InsertManyParams{params})
		if err != nil {
			return fmt.Errorf("enqueue delivery %s: %w", id, err)
		}
		d, err = scanDelivery(tx.QueryRow(ctx, `UPDATE deliveries SET status = 'pending', job_id = $3, payload = NULL, next_attempt_at = NULL, updated_at = $4
			WHERE team_id = $1 AND id = $2 RETURNING `+deliveryColumns, teamID, id, res[0].Job.ID, core.Now()))
		return err
	})
	return d, err
}

// SinkStates implements store.Deliveries.
func (s *Store) SinkStates(ctx context.Context, teamID, pipelineID uuid.UUID) ([]core.SinkState, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sinkStateColumns+` FROM sink_states WHERE team_id = $1 AND pipeline_id = $2 ORDER BY sink`, teamID, pipelineID)
	if err != nil {
		return nil, fmt.Errorf("list sink states: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.SinkState, error) { return scanSinkState(r) })
	if err != nil {
		return nil, fmt.Errorf("list sink states: %w", err)
	}
	return out, nil
}

// SetSinkStatus implements store.Deliveries.
func (s *Store) SetSinkStatus(ctx context.Context, teamID, pipelineID uuid.UUID, sink string, status core.SinkStatus, reason string) (core.SinkState, error) {
	var st core.SinkState
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := core.Now()
		h, err := lockSinkHealth(ctx, tx, teamID, pipelineID, sink, now)
		if err != nil {
			return err
		}
		h = h.Set(status, reason)
		st, err = scanSinkState(tx.QueryRow(ctx, `UPDATE sink_states SET status = $4, reason = $5, consecutive_failures = $6, updated_at = $7
			WHERE team_id = $1 AND pipeline_id = $2 AND sink = $3
			RETURNING `+sinkStateColumns, teamID, pipelineID, sink, h.Status, h.Reason, h.ConsecutiveFailures, now))
		return err
	})
	if err != nil {
		return st, fmt.Errorf("set sink status: %w", mapErr(err))
	}
	return st, nil
}

// DeleteSinkState implements store.Deliveries.
func (s *Store) DeleteSinkState(ctx context.Context, teamID, pipelineID uuid.UUID, sink string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sink_states WHERE team_id = $1 AND pipeline_id = $2 AND sink = $3`, teamID, pipelineID, sink); err != nil {
		return fmt.Errorf("delete sink state: %w", err)
	}
	return nil
}

const replayColumns = `id, team_id, pipeline_id, sink, ts_from, ts_to, status, total, enqueued, error, created_at, updated_at, finished_at`

func scanReplay(row pgx.Row) (core.Replay, error) {
	var r core.Replay
	err := row.Scan(&r.ID, &r.TeamID, &r.PipelineID, &r.Sink, &r.From, &r.To, &r.Status, &r.Total, &r.Enqueued, &r.Error, &r.CreatedAt, &r.UpdatedAt, &r.FinishedAt)
	if err != nil {
		return r, err
	}
	r.From, r.To, r.CreatedAt, r.UpdatedAt = r.From.UTC(), r.To.UTC(), r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	utcPtr(r.FinishedAt)
	return r, nil
}

// CreateReplay implements store.Deliveries.
func (s *Store) CreateReplay(ctx context.Context, nr store.NewReplay, job river.InsertManyParams) (core.Replay, error) {
	var r core.Replay
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		r, err = scanReplay(tx.QueryRow(ctx, `INSERT INTO sink_replays (id, team_id, pipeline_id, sink, ts_from, ts_to, status, total, created_at, updated_at)
			SELECT $1, p.team_id, p.id, $4, $5, $6, 'running',
				(SELECT count(*) FROM records WHERE team_id = $2 AND pipeline_id = $3 AND ts >= $5 AND ts < $6), $7, $7
			FROM pipelines p WHERE p.team_id = $2 AND p.id = $3
			RETURNING `+replayColumns,
			nr.ID, nr.TeamID, nr.PipelineID, nr.Sink, nr.From, nr.To, core.Now()))
		if err != nil {
			return fmt.Errorf("insert replay: %w", mapErr(err))
		}
		return s.insertJobs(ctx, tx, []river.InsertManyParams{job})
	})
	if err != nil {
		return r, fmt.Errorf("create replay: %w", err)
	}
	r.Deliveries = map[core.DeliveryStatus]int{}
	return r, nil
}

// Replay implements store.Deliveries.
func (s *Store) Replay(ctx context.Context, teamID, id uuid.UUID) (core.Replay, error) {
	r, err := scanReplay(s.pool.QueryRow(ctx, `SELECT `+replayColumns+` FROM sink_replays WHERE team_id = $1 AND id = $2`, teamID, id))
	if err != nil {
		return r, fmt.Errorf("replay %s: %w", id, mapErr(err))
	}
	rows, err := s.pool.Query(ctx, `SELECT status, count(*), coalesce(sum(records), 0) FROM deliveries
		WHERE replay_id = $1 AND team_id = $2 GROUP BY status`, id, teamID)
	if err != nil {
		return r, fmt.Errorf("count replay deliveries: %w", err)
	}
	defer rows.Close()
	r.Deliveries = map[core.DeliveryStatus]int{}
	for rows.Next() {
		var (
			status  core.DeliveryStatus
			n       int
			records int64
		)
		if err := rows.Scan(&status, &n, &records); err != nil {
			return r, fmt.Errorf("count replay deliveries: %w", err)
		}
		r.Deliveries[status] = n
		if status == core.DeliveryDelivered {
			r.RecordsDelivered = records
		}
	}
	return r, rows.Err()
}

// Replays implements store.Deliveries.
func (s *Store) Replays(ctx context.Context, teamID, pipelineID uuid.UUID, sink string) ([]core.Replay, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+replayColumns+` FROM sink_replays WHERE team_id = $1 AND pipeline_id = $2 AND sink = $3
		ORDER BY id DESC LIMIT 100`, teamID, pipelineID, sink)
	if err != nil {
		return nil, fmt.Errorf("list replays: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Replay, error) { return scanReplay(r) })
	if err != nil {
		return nil, fmt.Errorf("list replays: %w", err)
	}
	return out, nil
}

// ReplayCursor implements store.Deliveries.
func (s *Store) ReplayCursor(ctx context.Context, teamID, id uuid.UUID) (store.ReplayCursor, error) {
	var (
		c  store.ReplayCursor
		ts *time.Time
		rc *int64
	)
	err := s.pool.QueryRow(ctx, `SELECT cursor_ts, cursor_id FROM sink_replays WHERE team_id = $1 AND id = $2 AND status = 'running'`,
		teamID, id).Scan(&ts, &rc)
	if err != nil {
		return c, fmt.Errorf("replay %s: %w", id, mapErr(err))
	}
	if ts != nil && rc != nil {
		c.TS, c.ID = ts.UTC(), *rc
	}
	return c, nil
}

// AdvanceReplay implements store.Deliveries.
func (s *Store) AdvanceReplay(ctx context.Context, step store.ReplayStep, jobs []river.InsertManyParams) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := core.Now()
		status := step.Status
		if status == "" {
			status = core.ReplayRunning
		}
		var finished, cursorTS *time.Time
		var cursorID *int64
		if status != core.ReplayRunning {
			finished = &now
		}
		if !step.CursorTS.IsZero() {
			ts, id := step.CursorTS, step.CursorID
			cursorTS, cursorID = &ts, &id
		}
		tag, err := tx.Exec(ctx, `UPDATE sink_replays SET enqueued = enqueued + $3, cursor_ts = coalesce($4, cursor_ts), cursor_id = coalesce($5, cursor_id),
				status = $6, error = $7, finished_at = $8, updated_at = $9
			WHERE team_id = $1 AND id = $2 AND status = 'running'`,
			step.TeamID, step.ID, step.Enqueued, cursorTS, cursorID, status, step.Error, finished, now)
		if err != nil {
			return fmt.Errorf("advance replay %s: %w", step.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("replay %s is not running: %w", step.ID, core.ErrNotFound)
		}
		// A batch whose records span two pages of the replay is enqueued
		// once: the deliveries the replay already has are dropped.
		if keys := store.DeliveryKeys(jobs); len(keys) > 0 {
			rows, err := tx.Query(ctx, `SELECT idempotency_key FROM deliveries WHERE replay_id = $1 AND idempotency_key = ANY($2)`, step.ID, keys)
			if err != nil {
				return fmt.Errorf("advance replay %s: %w", step.ID, err)
			}
			have, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("advance replay %s: %w", step.ID, err)
			}
			jobs = store.WithoutKeys(jobs, setOf(have))
		}
		if len(jobs) > 0 {
			if err := s.insertJobs(ctx, tx, jobs); err != nil {
				return fmt.Errorf("enqueue replay deliveries: %w", err)
			}
		}
		return nil
	})
}

// setOf returns the set of ss.
func setOf(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// DeleteDeliveries implements store.Deliveries.
func (s *Store) DeleteDeliveries(ctx context.Context, c store.DeliveryCleanup) (int, error) {
	limit := c.Limit
	if limit <= 0 {
		limit = 10000
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM deliveries WHERE id IN (
		SELECT id FROM deliveries WHERE (status = 'delivered' AND updated_at < $1) OR (status = 'dead' AND updated_at < $2) LIMIT $3)`,
		c.DeliveredBefore, c.DeadBefore, limit)
	if err != nil {
		return 0, fmt.Errorf("delete deliveries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// StuckDeliveries implements store.Deliveries.
func (s *Store) StuckDeliveries(ctx context.Context, before time.Time, limit int) ([]store.StuckDelivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT d.team_id, d.pipeline_id, d.sink, d.id, d.status, d.records, coalesce(j.state::text, ''), coalesce(d.payload, j.args)
		FROM deliveries d LEFT JOIN river_job j ON j.id = d.job_id
		WHERE d.status IN ('pending', 'retrying') AND d.updated_at < $1
			AND (j.id IS NULL OR j.state IN ('completed', 'discarded', 'cancelled'))
		ORDER BY d.updated_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("find stuck deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.StuckDelivery, error) {
		var d store.StuckDelivery
		var args []byte
		err := r.Scan(&d.TeamID, &d.PipelineID, &d.Sink, &d.ID, &d.Status, &d.Records, &d.JobState, &args)
		if args != nil {
			d.Args = args
		}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("find stuck deliveries: %w", err)
	}
	return out, nil
}
