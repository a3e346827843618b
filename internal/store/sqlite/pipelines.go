package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

const pipelineColumns = `id, team_id, name, kind, status, version, spec, coalesce(hook_token, ''), created_at, updated_at,
	record_count, rejected_count, stored_bytes, last_record_at, last_run_at`

func scanPipeline(r row) (core.Pipeline, error) {
	var (
		p                   core.Pipeline
		spec                string
		created, updated    int64
		lastRecord, lastRun sql.NullInt64
	)
	err := r.Scan(&p.ID, &p.TeamID, &p.Name, &p.Kind, &p.Status, &p.Version, &spec, &p.HookToken, &created, &updated,
		&p.Stats.RecordCount, &p.Stats.RejectedCount, &p.Stats.StoredBytes, &lastRecord, &lastRun)
	p.Spec = json.RawMessage(spec)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	p.Stats.LastRecordAt, p.Stats.LastRunAt = fromNullMicros(lastRecord), fromNullMicros(lastRun)
	return p, mapErr(err)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreatePipeline implements store.Pipelines.
func (s *Store) CreatePipeline(ctx context.Context, teamID uuid.UUID, np store.NewPipeline) (core.Pipeline, error) {
	var p core.Pipeline
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := micros(core.Now())
		var err error
		p, err = scanPipeline(tx.QueryRowContext(ctx, `INSERT INTO pipelines (id, team_id, name, kind, status, version, spec, hook_token, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'active', 1, ?, ?, ?, ?) RETURNING `+pipelineColumns,
			core.NewID(), teamID, np.Name, np.Kind, string(np.Spec), nullString(np.HookToken), now, now))
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES (?, 1, ?, ?)`, p.ID, string(np.Spec), now); err != nil {
			return err
		}
		return setUpstream(ctx, tx, teamID, p.ID, np.Upstream)
	})
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("create pipeline %q: %w", np.Name, mapErr(err))
	}
	return p, nil
}

// Pipeline implements store.Pipelines.
func (s *Store) Pipeline(ctx context.Context, teamID, id uuid.UUID) (core.Pipeline, error) {
	return scanPipeline(s.read.QueryRowContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE team_id = ? AND id = ?`, teamID, id))
}

// Pipelines implements store.Pipelines.
func (s *Store) Pipelines(ctx context.Context, teamID uuid.UUID) ([]core.Pipeline, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE team_id = ? ORDER BY name, id`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	defer rows.Close()
	var out []core.Pipeline
	for rows.Next() {
		p, err := scanPipeline(rows)
		if err != nil {
			return nil, fmt.Errorf("list pipelines: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PipelineByHookToken implements store.Pipelines.
func (s *Store) PipelineByHookToken(ctx context.Context, token string) (core.Pipeline, error) {
	if token == "" {
		return core.Pipeline{}, core.ErrNotFound
	}
	return scanPipeline(s.read.QueryRowContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE hook_token = ?`, token))
}

// PipelineVersion implements store.Pipelines.
func (s *Store) PipelineVersion(ctx context.Context, teamID, id uuid.UUID, version int) (json.RawMessage, error) {
	var spec string
	err := s.read.QueryRowContext(ctx, `SELECT v.spec FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id
		WHERE p.team_id = ? AND p.id = ? AND v.version = ?`, teamID, id, version).Scan(&spec)
	return json.RawMessage(spec), mapErr(err)
}

// UpdatePipeline implements store.Pipelines.
func (s *Store) UpdatePipeline(ctx context.Context, teamID, id uuid.UUID, u store.PipelineUpdate) (core.Pipeline, error) {
	var p core.Pipeline
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT version FROM pipelines WHERE team_id = ? AND id = ?`, teamID, id).Scan(&current); err != nil {
			return mapErr(err)
		}
		if u.IfVersion != 0 && u.IfVersion != current {
			return fmt.Errorf("%w: the pipeline is at version %d, not %d; reload and retry", core.ErrConflict, current, u.IfVersion)
		}
		now := micros(core.Now())
		var err error
		p, err = scanPipeline(tx.QueryRowContext(ctx, `UPDATE pipelines SET name = ?, kind = ?, spec = ?, version = version + 1, updated_at = ?
			WHERE team_id = ? AND id = ? RETURNING `+pipelineColumns, u.Name, u.Kind, string(u.Spec), now, teamID, id))
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES (?, ?, ?, ?)`, id, p.Version, string(u.Spec), now); err != nil {
			return err
		}
		return setUpstream(ctx, tx, teamID, id, u.Upstream)
	})
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("update pipeline: %w", mapErr(err))
	}
	return p, nil
}

// SetPipelineStatus implements store.Pipelines.
func (s *Store) SetPipelineStatus(ctx context.Context, teamID, id uuid.UUID, status core.PipelineStatus) (core.Pipeline, error) {
	return scanPipeline(s.write.QueryRowContext(ctx, `UPDATE pipelines SET status = ?, updated_at = ? WHERE team_id = ? AND id = ? RETURNING `+pipelineColumns,
		status, micros(core.Now()), teamID, id))
}

// RotateHookToken implements store.Pipelines.
func (s *Store) RotateHookToken(ctx context.Context, teamID, id uuid.UUID, token string) (core.Pipeline, error) {
	return scanPipeline(s.write.QueryRowContext(ctx, `UPDATE pipelines SET hook_token = ?, updated_at = ?
		WHERE team_id = ? AND id = ? AND kind = 'webhook' RETURNING `+pipelineColumns, token, micros(core.Now()), teamID, id))
}

// DeletePipeline implements store.Pipelines.
func (s *Store) DeletePipeline(ctx context.Context, teamID, id uuid.UUID) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM pipelines WHERE team_id = ? AND id = ?`, teamID, id)
		if err != nil {
			return fmt.Errorf("delete pipeline: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete pipeline: %w", core.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE team_id = ? AND pipeline_id = ?`, teamID, id); err != nil {
			return fmt.Errorf("delete pipeline records: %w", err)
		}
		return deleteSeriesData(ctx, tx, id)
	})
}

// Records implements store.Records.
func (s *Store) Records(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RecordQuery) ([]core.Record, error) {
	where := []string{"team_id = ?", "pipeline_id = ?"}
	args := []any{teamID, pipelineID}
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

const secretColumns = `id, team_id, name, sealed, created_at, updated_at`

func scanSecret(r row) (core.Secret, error) {
	var (
		sec              core.Secret
		created, updated int64
	)
	err := r.Scan(&sec.ID, &sec.TeamID, &sec.Name, &sec.Sealed, &created, &updated)
	sec.CreatedAt, sec.UpdatedAt = fromMicros(created), fromMicros(updated)
	return sec, mapErr(err)
}

// CreateSecret implements store.Secrets.
func (s *Store) CreateSecret(ctx context.Context, sec core.Secret) (core.Secret, error) {
	now := micros(core.Now())
	out, err := scanSecret(s.write.QueryRowContext(ctx, `INSERT INTO secrets (id, team_id, name, sealed, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING `+secretColumns, sec.ID, sec.TeamID, sec.Name, sec.Sealed, now, now))
	if err != nil {
		return core.Secret{}, fmt.Errorf("create secret %q: %w", sec.Name, err)
	}
	return out, nil
}

// Secret implements store.Secrets.
func (s *Store) Secret(ctx context.Context, teamID uuid.UUID, name string) (core.Secret, error) {
	return scanSecret(s.read.QueryRowContext(ctx, `SELECT `+secretColumns+` FROM secrets WHERE team_id = ? AND name = ?`, teamID, name))
}

// Secrets implements store.Secrets.
func (s *Store) Secrets(ctx context.Context, teamID uuid.UUID) ([]core.Secret, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+secretColumns+` FROM secrets WHERE team_id = ? ORDER BY name`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer rows.Close()
	var out []core.Secret
	for rows.Next() {
		sec, err := scanSecret(rows)
		if err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		out = append(out, sec)
	}
	return out, rows.Err()
}

// RotateSecret implements store.Secrets.
func (s *Store) RotateSecret(ctx context.Context, teamID uuid.UUID, name string, sealed []byte) (core.Secret, error) {
	return scanSecret(s.write.QueryRowContext(ctx, `UPDATE secrets SET sealed = ?, updated_at = ? WHERE team_id = ? AND name = ? RETURNING `+secretColumns,
		sealed, micros(core.Now()), teamID, name))
}

// DeleteSecret implements store.Secrets.
func (s *Store) DeleteSecret(ctx context.Context, teamID uuid.UUID, name string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM secrets WHERE team_id = ? AND name = ?`, teamID, name)
	if err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete secret %q: %w", name, core.ErrNotFound)
	}
	return nil
}
