package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// insertJobs enqueues jobs inside tx, with the rows of those that are
// deliveries (see store.DeliveryJob).
func (s *Store) insertJobs(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error {
	res, err := s.inserter.InsertManyTx(ctx, tx, params)
	if err != nil {
		return err
	}
	rows, idx := store.DeliveryRows(params)
	if len(rows) == 0 {
		return nil
	}
	// One statement per 500 rows (SQLite binds at most 32766 values): most
	// batches have a row or two.
	for start := 0; start < len(rows); start += 500 {
		end := min(start+500, len(rows))
		var q strings.Builder
		q.WriteString(`INSERT INTO deliveries (id, team_id, pipeline_id, sink, idempotency_key, run_id, replay_id, job_id,
			records, ts_from, ts_to, status, created_at, updated_at) VALUES `)
		args := make([]any, 0, 13*(end-start))
		for i := start; i < end; i++ {
			d := rows[i]
			if i > start {
				q.WriteByte(',')
			}
			q.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`)
			var jobID any
			if j := idx[i]; j < len(res) && res[j] != nil && res[j].Job != nil {
				jobID = res[j].Job.ID
			}
			args = append(args, d.ID, d.TeamID, d.PipelineID, d.Sink, d.Key, nullUUID(d.RunID), nullUUID(d.ReplayID), jobID,
				d.Records, micros(d.From), micros(d.To), micros(d.CreatedAt), micros(d.CreatedAt))
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("insert deliveries: %w", mapErr(err))
		}
	}
	return nil
}

func usDuration(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

const deliveryColumns = `id, team_id, pipeline_id, sink, idempotency_key, run_id, replay_id, records, ts_from, ts_to, status, attempts,
	last_error, created_at, updated_at, last_attempt_at, next_attempt_at, delivered_at, duration_us, latency_us`

func scanDelivery(row interface{ Scan(...any) error }) (core.Delivery, error) {
	var (
		d                                  core.Delivery
		run, replay                        uuid.NullUUID
		from, to, created, updated         int64
		lastAttempt, nextAttempt, delivery sql.NullInt64
		duration, latency                  int64
	)
	err := row.Scan(&d.ID, &d.TeamID, &d.PipelineID, &d.Sink, &d.Key, &run, &replay, &d.Records, &from, &to, &d.Status, &d.Attempts,
		&d.LastError, &created, &updated, &lastAttempt, &nextAttempt, &delivery, &duration, &latency)
	if err != nil {
		return d, err
	}
	d.RunID, d.ReplayID = run.UUID, replay.UUID
	d.From, d.To, d.CreatedAt, d.UpdatedAt = fromMicros(from), fromMicros(to), fromMicros(created), fromMicros(updated)
	d.LastAttemptAt, d.NextAttemptAt, d.DeliveredAt = fromNullMicros(lastAttempt), fromNullMicros(nextAttempt), fromNullMicros(delivery)
	d.Duration, d.Latency = usDuration(duration), usDuration(latency)
	return d, nil
}

const sinkStateColumns = `team_id, pipeline_id, sink, status, reason, consecutive_failures, delivered, records, failed, dead,
	latency_total_us, last_success_at, last_failure_at, updated_at`

func scanSinkState(row interface{ Scan(...any) error }) (core.SinkState, error) {
	var (
		st                   core.SinkState
		latency, updated     int64
		lastSuccess, lastErr sql.NullInt64
	)
	err := row.Scan(&st.TeamID, &st.PipelineID, &st.Sink, &st.Status, &st.Reason, &st.ConsecutiveFailures, &st.Delivered, &st.Records,
		&st.Failed, &st.Dead, &latency, &lastSuccess, &lastErr, &updated)
	if err != nil {
		return st, err
	}
	st.LatencyTotal, st.UpdatedAt = usDuration(latency), fromMicros(updated)
	st.LastSuccessAt, st.LastFailureAt = fromNullMicros(lastSuccess), fromNullMicros(lastErr)
	return st, nil
}

// RecordDelivery implements store.Deliveries.
func (s *Store) RecordDelivery(ctx context.Context, o store.DeliveryOutcome) (core.SinkState, error) {
	var st core.SinkState
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		at := micros(o.At)
		var payload any
		if o.Status == core.DeliveryDead && o.Payload != nil {
			payload = string(o.Payload)
		}
		errText := o.Error
		if o.Status == core.DeliveryDelivered {
			errText = ""
		}
		// A delivery delivered already (a rescued job that had succeeded)
		// is left alone and counts once.
		var latency int64
		err := tx.QueryRowContext(ctx, `UPDATE deliveries SET status = ?1, attempts = max(attempts, ?2), last_error = ?3, last_attempt_at = ?4,
				next_attempt_at = ?5, delivered_at = CASE WHEN ?1 = 'delivered' THEN ?4 END, duration_us = ?6,
				latency_us = CASE WHEN ?1 = 'delivered' THEN ?4 - created_at ELSE 0 END,
				payload = CASE WHEN ?1 = 'delivered' THEN NULL ELSE coalesce(?7, payload) END, updated_at = ?4
			WHERE team_id = ?8 AND id = ?9 AND status <> 'delivered'
			RETURNING latency_us`,
			o.Status, o.Attempt, errText, at, nullMicros(o.NextAttemptAt), o.Duration.Microseconds(), payload,
			o.TeamID, o.ID).Scan(&latency)
		if errors.Is(err, sql.ErrNoRows) {
			var status core.DeliveryStatus
			if err := tx.QueryRowContext(ctx, `SELECT status FROM deliveries WHERE team_id = ? AND id = ?`, o.TeamID, o.ID).Scan(&status); err != nil {
				return fmt.Errorf("record delivery %s: %w", o.ID, mapErr(err))
			}
			st, err = scanSinkState(tx.QueryRowContext(ctx, `SELECT `+sinkStateColumns+` FROM sink_states WHERE pipeline_id = ? AND sink = ?`, o.PipelineID, o.Sink))
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
		st, err = updateSinkState(ctx, tx, h, c, at, o.TeamID, o.PipelineID, o.Sink)
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
	for _, o := range os {
		if o.TeamID != first.TeamID || o.PipelineID != first.PipelineID || o.Sink != first.Sink {
			return st, errors.New("record deliveries: outcomes of more than one sink")
		}
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		upd, err := tx.PrepareContext(ctx, `UPDATE deliveries SET status = ?1, attempts = max(attempts, ?2), last_error = ?3, last_attempt_at = ?4,
				next_attempt_at = ?5, delivered_at = CASE WHEN ?1 = 'delivered' THEN ?4 END, duration_us = ?6,
				latency_us = CASE WHEN ?1 = 'delivered' THEN ?4 - created_at ELSE 0 END,
				payload = CASE WHEN ?1 = 'delivered' THEN NULL ELSE coalesce(?7, payload) END, updated_at = ?4
			WHERE team_id = ?8 AND pipeline_id = ?9 AND id = ?10 AND status <> 'delivered'
			RETURNING latency_us`)
		if err != nil {
			return fmt.Errorf("record deliveries: %w", err)
		}
		defer upd.Close()
		var (
			c       store.SinkCounts
			h       core.SinkHealth
			locked  bool
			applied int
		)
		for _, o := range os {
			var payload any
			if o.Status == core.DeliveryDead && o.Payload != nil {
				payload = string(o.Payload)
			}
			errText := o.Error
			if o.Status == core.DeliveryDelivered {
				errText = ""
			}
			var latency int64
			err := upd.QueryRowContext(ctx, o.Status, o.Attempt, errText, micros(o.At), nullMicros(o.NextAttemptAt), o.Duration.Microseconds(),
				payload, o.TeamID, o.PipelineID, o.ID).Scan(&latency)
			if errors.Is(err, sql.ErrNoRows) {
				continue // delivered already, or gone
			}
			if err != nil {
				return fmt.Errorf("record delivery %s: %w", o.ID, err)
			}
			if !locked {
				if h, err = lockSinkHealth(ctx, tx, o.TeamID, o.PipelineID, o.Sink, o.At); err != nil {
					return fmt.Errorf("update sink state: %w", err)
				}
				locked = true
			}
			if o.Status == core.DeliveryDelivered {
				h = h.Delivered()
			} else {
				h = h.Failed(o.Error, o.FailingAfter)
			}
			c = c.Add(o.Counts(latency))
			applied++
		}
		if applied == 0 {
			st, err = scanSinkState(tx.QueryRowContext(ctx, `SELECT `+sinkStateColumns+` FROM sink_states WHERE team_id = ? AND pipeline_id = ? AND sink = ?`,
				first.TeamID, first.PipelineID, first.Sink))
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return mapErr(err)
		}
		at := micros(os[len(os)-1].At)
		st, err = updateSinkState(ctx, tx, h, c, at, first.TeamID, first.PipelineID, first.Sink)
		if err != nil {
			return fmt.Errorf("update sink state: %w", err)
		}
		return nil
	})
	return st, err
}

// ClaimDeliveries implements store.Deliveries. SQLite has one writer, so
// the candidates read in the write transaction cannot be taken by River
// or another claim meanwhile; without candidates (no backlog, the common
// case) no write transaction is opened.
func (s *Store) ClaimDeliveries(ctx context.Context, c store.DeliveryClaim) ([]store.CarriedDelivery, error) {
	const carriedQ = `SELECT id, status, attempts, payload FROM deliveries
		WHERE job_id = ? AND status IN ('pending', 'retrying') AND payload IS NOT NULL AND team_id = ? AND id <> ? ORDER BY id`
	const candQ = `SELECT d.id, d.job_id, d.records FROM deliveries d JOIN river_job j ON j.id = d.job_id
		WHERE d.pipeline_id = ? AND d.sink = ? AND d.status = 'pending' AND d.payload IS NULL AND d.team_id = ?
			AND d.id <> ? AND j.state = 'available'
		ORDER BY d.id LIMIT ?`
	type cand struct {
		id      uuid.UUID
		job     int64
		records int
	}
	readCarried := func(q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}) ([]store.CarriedDelivery, error) {
		rows, err := q.QueryContext(ctx, carriedQ, c.Carrier, c.TeamID, c.Own)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []store.CarriedDelivery
		for rows.Next() {
			var d store.CarriedDelivery
			var args string
			if err := rows.Scan(&d.ID, &d.Status, &d.Attempts, &args); err != nil {
				return nil, err
			}
			d.Args = json.RawMessage(args)
			out = append(out, d)
		}
		return out, rows.Err()
	}
	readCands := func(q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}) ([]cand, error) {
		if c.Limit <= 0 {
			return nil, nil
		}
		rows, err := q.QueryContext(ctx, candQ, c.PipelineID, c.Sink, c.TeamID, c.Own, c.Limit)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []cand
		total := 0
		for rows.Next() {
			var k cand
			if err := rows.Scan(&k.id, &k.job, &k.records); err != nil {
				return nil, err
			}
			if len(out) > 0 && total+k.records > c.MaxRecords {
				break
			}
			total += k.records
			out = append(out, k)
		}
		return out, rows.Err()
	}
	cands, err := readCands(s.read)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	if len(cands) == 0 {
		out, err := readCarried(s.read)
		if err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		return out, nil
	}
	var out []store.CarriedDelivery
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = readCarried(tx); err != nil {
			return err
		}
		// Read again under the write lock: River may have started some.
		if cands, err = readCands(tx); err != nil {
			return err
		}
		now := micros(core.Now())
		claimed := 0
		for _, k := range cands {
			var args string
			err := tx.QueryRowContext(ctx, `DELETE FROM river_job WHERE id = ? AND state = 'available' RETURNING json(args)`, k.job).Scan(&args)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			var d store.CarriedDelivery
			if err := tx.QueryRowContext(ctx, `UPDATE deliveries SET job_id = ?, payload = ?, updated_at = ? WHERE id = ? RETURNING id, status, attempts`,
				c.Carrier, args, now, k.id).Scan(&d.ID, &d.Status, &d.Attempts); err != nil {
				return err
			}
			d.Args, d.Claimed = json.RawMessage(args), true
			out = append(out, d)
			claimed++
		}
		if claimed > 0 {
			// The carrier's own delivery is carried too from now on: no
			// other job may claim it (and so delete the carrier) while the
			// carrier waits for its next run.
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET payload = (SELECT json(args) FROM river_job WHERE id = ?)
				WHERE team_id = ? AND id = ? AND payload IS NULL AND status IN ('pending', 'retrying')`, c.Carrier, c.TeamID, c.Own); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	slices.SortFunc(out, func(a, b store.CarriedDelivery) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out, nil
}

// lockSinkHealth returns the health of a sink inside tx (the only writer:
// SQLite has one). A sink without a state gets one first; a pipeline that
// is not the team's gives core.ErrNotFound.
func lockSinkHealth(ctx context.Context, tx *sql.Tx, teamID, pipelineID uuid.UUID, sink string, at time.Time) (core.SinkHealth, error) {
	h := core.NewSinkHealth()
	if _, err := tx.ExecContext(ctx, `INSERT INTO sink_states (pipeline_id, sink, team_id, status, updated_at)
		SELECT p.id, ?, p.team_id, ?, ? FROM pipelines p WHERE p.team_id = ? AND p.id = ?
		ON CONFLICT (pipeline_id, sink) DO NOTHING`, sink, h.Status, micros(at), teamID, pipelineID); err != nil {
		return h, fmt.Errorf("add sink state: %w", mapErr(err))
	}
	err := tx.QueryRowContext(ctx, `SELECT status, reason, consecutive_failures FROM sink_states WHERE team_id = ? AND pipeline_id = ? AND sink = ?`,
		teamID, pipelineID, sink).Scan(&h.Status, &h.Reason, &h.ConsecutiveFailures)
	if err != nil {
		return h, fmt.Errorf("pipeline %s: %w", pipelineID, mapErr(err))
	}
	return h, nil
}

// Delivery implements store.Deliveries.
func (s *Store) Delivery(ctx context.Context, teamID, id uuid.UUID) (core.Delivery, error) {
	d, err := scanDelivery(s.read.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE team_id = ? AND id = ?`, teamID, id))
	if err != nil {
		return d, fmt.Errorf("delivery %s: %w", id, mapErr(err))
	}
	return d, nil
}

// Deliveries implements store.Deliveries.
func (s *Store) Deliveries(ctx context.Context, teamID, pipelineID uuid.UUID, q store.DeliveryQuery) ([]core.Delivery, error) {
	where := []string{"team_id = ?", "pipeline_id = ?"}
	args := []any{teamID, pipelineID}
	if q.Sink != "" {
		where, args = append(where, "sink = ?"), append(args, q.Sink)
	}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, q.Status)
	}
	if q.ReplayID != uuid.Nil {
		where, args = append(where, "replay_id = ?"), append(args, q.ReplayID)
	}
	if q.BeforeID != uuid.Nil {
		where, args = append(where, "id < ?"), append(args, q.BeforeID)
	}
	args = append(args, store.ClampLimit(q.Limit))
	rows, err := s.read.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []core.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RetryDelivery implements store.Deliveries.
func (s *Store) RetryDelivery(ctx context.Context, teamID, id uuid.UUID, job func(payload json.RawMessage) (river.InsertManyParams, error)) (core.Delivery, error) {
	var d core.Delivery
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			status  core.DeliveryStatus
			payload sql.NullString
		)
		if err := tx.QueryRowContext(ctx, `SELECT status, payload FROM deliveries WHERE team_id = ? AND id = ?`, teamID, id).Scan(&status, &payload); err != nil {
			return fmt.Errorf("delivery %s: %w", id, mapErr(err))
		}
		if status != core.DeliveryDead || !payload.Valid {
			return fmt.Errorf("delivery %s is %s, not dead: %w", id, status, core.ErrConflict)
		}
		params, err := job(json.RawMessage(payload.String))
		if err != nil {
			return err
		}
		res, err := s.inserter.InsertManyTx(ctx, tx, []river.InsertManyParams{params})
		if err != nil {
			return fmt.Errorf("enqueue delivery %s: %w", id, err)
		}
		now := micros(core.Now())
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'pending', job_id = ?, payload = NULL, next_attempt_at = NULL, updated_at = ?
			WHERE team_id = ? AND id = ?`, res[0].Job.ID, now, teamID, id); err != nil {
			return fmt.Errorf("retry delivery %s: %w", id, err)
		}
		d, err = scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE team_id = ? AND id = ?`, teamID, id))
		return err
	})
	return d, err
}

// SinkStates implements store.Deliveries.
func (s *Store) SinkStates(ctx context.Context, teamID, pipelineID uuid.UUID) ([]core.SinkState, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+sinkStateColumns+` FROM sink_states WHERE team_id = ? AND pipeline_id = ? ORDER BY sink`, teamID, pipelineID)
	if err != nil {
		return nil, fmt.Errorf("list sink states: %w", err)
	}
	defer rows.Close()
	var out []core.SinkState
	for rows.Next() {
		st, err := scanSinkState(rows)
		if err != nil {
			return nil, fmt.Errorf("list sink states: %w", err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// SetSinkStatus implements store.Deliveries.
func (s *Store) SetSinkStatus(ctx context.Context, teamID, pipelineID uuid.UUID, sink string, status core.SinkStatus, reason string) (core.SinkState, error) {
	var st core.SinkState
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := core.Now()
		h, err := lockSinkHealth(ctx, tx, teamID, pipelineID, sink, now)
		if err != nil {
			return err
		}
		h = h.Set(status, reason)
		st, err = scanSinkState(tx.QueryRowContext(ctx, `UPDATE sink_states SET status = ?, reason = ?, consecutive_failures = ?, updated_at = ?
			WHERE team_id = ? AND pipeline_id = ? AND sink = ?
			RETURNING `+sinkStateColumns, h.Status, h.Reason, h.ConsecutiveFailures, micros(now), teamID, pipelineID, sink))
		return err
	})
	if err != nil {
		return st, fmt.Errorf("set sink status: %w", err)
	}
	return st, nil
}

// DeleteSinkState implements store.Deliveries.
func (s *Store) DeleteSinkState(ctx context.Context, teamID, pipelineID uuid.UUID, sink string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sink_states WHERE team_id = ? AND pipeline_id = ? AND sink = ?`, teamID, pipelineID, sink); err != nil {
			return fmt.Errorf("delete sink state: %w", err)
		}
		return nil
	})
}

const replayColumns = `id, team_id, pipeline_id, sink, ts_from, ts_to, status, total, enqueued, error, created_at, updated_at, finished_at`

func scanReplay(row interface{ Scan(...any) error }) (core.Replay, error) {
	var (
		r                          core.Replay
		from, to, created, updated int64
		finished                   sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.TeamID, &r.PipelineID, &r.Sink, &from, &to, &r.Status, &r.Total, &r.Enqueued, &r.Error, &created, &updated, &finished)
	if err != nil {
		return r, err
	}
	r.From, r.To, r.CreatedAt, r.UpdatedAt = fromMicros(from), fromMicros(to), fromMicros(created), fromMicros(updated)
	r.FinishedAt = fromNullMicros(finished)
	return r, nil
}

// CreateReplay implements store.Deliveries.
func (s *Store) CreateReplay(ctx context.Context, nr store.NewReplay, job river.InsertManyParams) (core.Replay, error) {
	var r core.Replay
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pipelines WHERE team_id = ? AND id = ?`, nr.TeamID, nr.PipelineID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("pipeline %s: %w", nr.PipelineID, core.ErrNotFound)
		}
		var total int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM records WHERE team_id = ? AND pipeline_id = ? AND ts >= ? AND ts < ? AND id < `+publishedBelow("?"),
			nr.TeamID, nr.PipelineID, micros(nr.From), micros(nr.To), nr.PipelineID).Scan(&total); err != nil {
			return fmt.Errorf("count records: %w", err)
		}
		now := micros(core.Now())
		var err error
		r, err = scanReplay(tx.QueryRowContext(ctx, `INSERT INTO sink_replays (id, team_id, pipeline_id, sink, ts_from, ts_to, status, total, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?) RETURNING `+replayColumns,
			nr.ID, nr.TeamID, nr.PipelineID, nr.Sink, micros(nr.From), micros(nr.To), total, now, now))
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
	r, err := scanReplay(s.read.QueryRowContext(ctx, `SELECT `+replayColumns+` FROM sink_replays WHERE team_id = ? AND id = ?`, teamID, id))
	if err != nil {
		return r, fmt.Errorf("replay %s: %w", id, mapErr(err))
	}
	rows, err := s.read.QueryContext(ctx, `SELECT status, count(*), coalesce(sum(records), 0) FROM deliveries
		WHERE replay_id = ? AND team_id = ? GROUP BY status`, id, teamID)
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
	rows, err := s.read.QueryContext(ctx, `SELECT `+replayColumns+` FROM sink_replays WHERE team_id = ? AND pipeline_id = ? AND sink = ?
		ORDER BY id DESC LIMIT 100`, teamID, pipelineID, sink)
	if err != nil {
		return nil, fmt.Errorf("list replays: %w", err)
	}
	defer rows.Close()
	var out []core.Replay
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			return nil, fmt.Errorf("list replays: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReplayCursor implements store.Deliveries.
func (s *Store) ReplayCursor(ctx context.Context, teamID, id uuid.UUID) (store.ReplayCursor, error) {
	var (
		c      store.ReplayCursor
		ts, rc sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, `SELECT cursor_ts, cursor_id FROM sink_replays WHERE team_id = ? AND id = ? AND status = 'running'`,
		teamID, id).Scan(&ts, &rc)
	if err != nil {
		return c, fmt.Errorf("replay %s: %w", id, mapErr(err))
	}
	if ts.Valid {
		c.TS, c.ID = fromMicros(ts.Int64), rc.Int64
	}
	return c, nil
}

// AdvanceReplay implements store.Deliveries.
func (s *Store) AdvanceReplay(ctx context.Context, step store.ReplayStep, jobs []river.InsertManyParams) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		now := micros(core.Now())
		status := step.Status
		if status == "" {
			status = core.ReplayRunning
		}
		var finished, cursorTS, cursorID any
		if status != core.ReplayRunning {
			finished = now
		}
		if !step.CursorTS.IsZero() {
			cursorTS, cursorID = micros(step.CursorTS), step.CursorID
		}
		res, err := tx.ExecContext(ctx, `UPDATE sink_replays SET enqueued = enqueued + ?, cursor_ts = coalesce(?, cursor_ts), cursor_id = coalesce(?, cursor_id),
				status = ?, error = ?, finished_at = ?, updated_at = ?
			WHERE team_id = ? AND id = ? AND status = 'running'`,
			step.Enqueued, cursorTS, cursorID, status, step.Error, finished, now, step.TeamID, step.ID)
		if err != nil {
			return fmt.Errorf("advance replay %s: %w", step.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("replay %s is not running: %w", step.ID, core.ErrNotFound)
		}
		// A batch whose records span two pages of the replay is enqueued
		// once: the deliveries the replay already has are dropped.
		if keys := store.DeliveryKeys(jobs); len(keys) > 0 {
			have := map[string]bool{}
			stmt, err := tx.PrepareContext(ctx, `SELECT count(*) FROM deliveries WHERE replay_id = ? AND idempotency_key = ?`)
			if err != nil {
				return fmt.Errorf("advance replay %s: %w", step.ID, err)
			}
			defer stmt.Close()
			for _, k := range keys {
				var n int
				if err := stmt.QueryRowContext(ctx, step.ID, k).Scan(&n); err != nil {
					return fmt.Errorf("advance replay %s: %w", step.ID, err)
				}
				have[k] = n > 0
			}
			jobs = store.WithoutKeys(jobs, have)
		}
		if len(jobs) > 0 {
			if err := s.insertJobs(ctx, tx, jobs); err != nil {
				return fmt.Errorf("enqueue replay deliveries: %w", err)
			}
		}
		return nil
	})
}

// DeleteDeliveries implements store.Deliveries.
func (s *Store) DeleteDeliveries(ctx context.Context, c store.DeliveryCleanup) (int, error) {
	limit := c.Limit
	if limit <= 0 {
		limit = 10000
	}
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE id IN (
			SELECT id FROM deliveries WHERE (status = 'delivered' AND updated_at < ?) OR (status = 'dead' AND updated_at < ?) LIMIT ?)`,
			micros(c.DeliveredBefore), micros(c.DeadBefore), limit)
		if err != nil {
			return fmt.Errorf("delete deliveries: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// StuckDeliveries implements store.Deliveries.
func (s *Store) StuckDeliveries(ctx context.Context, before time.Time, limit int) ([]store.StuckDelivery, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT d.team_id, d.pipeline_id, d.sink, d.id, d.status, d.records, coalesce(j.state, ''), coalesce(d.payload, json(j.args))
		FROM deliveries d LEFT JOIN river_job j ON j.id = d.job_id
		WHERE d.status IN ('pending', 'retrying') AND d.updated_at < ?
			AND (j.id IS NULL OR j.state IN ('completed', 'discarded', 'cancelled'))
		ORDER BY d.updated_at LIMIT ?`, micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("find stuck deliveries: %w", err)
	}
	defer rows.Close()
	var out []store.StuckDelivery
	for rows.Next() {
		var d store.StuckDelivery
		var args []byte
		if err := rows.Scan(&d.TeamID, &d.PipelineID, &d.Sink, &d.ID, &d.Status, &d.Records, &d.JobState, &args); err != nil {
			return nil, fmt.Errorf("find stuck deliveries: %w", err)
		}
		if args != nil {
			d.Args = args
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find stuck deliveries: %w", err)
	}
	return out, nil
}

// updateSinkState writes a sink's health h and adds the counts c of
// deliveries recorded at at to its row, returning the row.
func updateSinkState(ctx context.Context, tx *sql.Tx, h core.SinkHealth, c store.SinkCounts, at int64, teamID, pipelineID uuid.UUID, sink string) (core.SinkState, error) {
	return scanSinkState(tx.QueryRowContext(ctx, `UPDATE sink_states SET status = ?, reason = ?, consecutive_failures = ?,
			delivered = delivered + ?, records = records + ?, latency_total_us = latency_total_us + ?,
			failed = failed + ?, dead = dead + ?,
			last_success_at = coalesce(?, last_success_at), last_failure_at = coalesce(?, last_failure_at), updated_at = ?
		WHERE team_id = ? AND pipeline_id = ? AND sink = ?
		RETURNING `+sinkStateColumns,
		h.Status, h.Reason, h.ConsecutiveFailures, c.Delivered, c.Records, c.LatencyUS, c.Failed, c.Dead,
		nullMicros(c.LastSuccessAt), nullMicros(c.LastFailureAt), at, teamID, pipelineID, sink))
}
