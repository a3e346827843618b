package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

const pipelineColumns = `id, team_id, name, kind, status, version, spec, coalesce(hook_token, ''), created_at, updated_at,
	record_count, rejected_count, stored_bytes, last_record_at, last_run_at`

func scanPipeline(row pgx.Row) (core.Pipeline, error) {
	var p core.Pipeline
	err := row.Scan(&p.ID, &p.TeamID, &p.Name, &p.Kind, &p.Status, &p.Version, &p.Spec, &p.HookToken, &p.CreatedAt, &p.UpdatedAt,
		&p.Stats.RecordCount, &p.Stats.RejectedCount, &p.Stats.StoredBytes, &p.Stats.LastRecordAt, &p.Stats.LastRunAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	utcPtr(p.Stats.LastRecordAt)
	utcPtr(p.Stats.LastRunAt)
	return p, mapErr(err)
}

func utcPtr(t *time.Time) {
	if t != nil {
		*t = t.UTC()
	}
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CreatePipeline implements store.Pipelines.
func (s *Store) CreatePipeline(ctx context.Context, teamID uuid.UUID, np store.NewPipeline) (core.Pipeline, error) {
	var p core.Pipeline
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := core.Now()
		var err error
		p, err = scanPipeline(tx.QueryRow(ctx, `INSERT INTO pipelines (id, team_id, name, kind, status, version, spec, hook_token, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'active', 1, $5, $6, $7, $7) RETURNING `+pipelineColumns,
			core.NewID(), teamID, np.Name, np.Kind, np.Spec, nullString(np.HookToken), now))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES ($1, 1, $2, $3)`, p.ID, np.Spec, now)
		return err
	})
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("create pipeline %q: %w", np.Name, mapErr(err))
	}
	return p, nil
}

// Pipeline implements store.Pipelines.
func (s *Store) Pipeline(ctx context.Context, teamID, id uuid.UUID) (core.Pipeline, error) {
	return scanPipeline(s.pool.QueryRow(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE team_id = $1 AND id = $2`, teamID, id))
}

// Pipelines implements store.Pipelines.
func (s *Store) Pipelines(ctx context.Context, teamID uuid.UUID) ([]core.Pipeline, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE team_id = $1 ORDER BY name, id`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Pipeline, error) { return scanPipeline(r) })
}

// PipelineByHookToken implements store.Pipelines.
func (s *Store) PipelineByHookToken(ctx context.Context, token string) (core.Pipeline, error) {
	if token == "" {
		return core.Pipeline{}, core.ErrNotFound
	}
	return scanPipeline(s.pool.QueryRow(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE hook_token = $1`, token))
}

// PipelineVersion implements store.Pipelines.
func (s *Store) PipelineVersion(ctx context.Context, teamID, id uuid.UUID, version int) (json.RawMessage, error) {
	var spec json.RawMessage
	err := s.pool.QueryRow(ctx, `SELECT v.spec FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id
		WHERE p.team_id = $1 AND p.id = $2 AND v.version = $3`, teamID, id, version).Scan(&spec)
	return spec, mapErr(err)
}

// UpdatePipeline implements store.Pipelines.
func (s *Store) UpdatePipeline(ctx context.Context, teamID, id uuid.UUID, u store.PipelineUpdate) (core.Pipeline, error) {
	var p core.Pipeline
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var current int
		if err := tx.QueryRow(ctx, `SELECT version FROM pipelines WHERE team_id = $1 AND id = $2 FOR UPDATE`, teamID, id).Scan(&current); err != nil {
			return mapErr(err)
		}
		if u.IfVersion != 0 && u.IfVersion != current {
			return fmt.Errorf("%w: the pipeline is at version %d, not %d; reload and retry", core.ErrConflict, current, u.IfVersion)
		}
		now := core.Now()
		var err error
		p, err = scanPipeline(tx.QueryRow(ctx, `UPDATE pipelines SET name = $3, kind = $4, spec = $5, version = version + 1, updated_at = $6
			WHERE team_id = $1 AND id = $2 RETURNING `+pipelineColumns, teamID, id, u.Name, u.Kind, u.Spec, now))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES ($1, $2, $3, $4)`, id, p.Version, u.Spec, now)
		return err
	})
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("update pipeline: %w", mapErr(err))
	}
	return p, nil
}

// SetPipelineStatus implements store.Pipelines.
func (s *Store) SetPipelineStatus(ctx context.Context, teamID, id uuid.UUID, status core.PipelineStatus) (core.Pipeline, error) {
	return scanPipeline(s.pool.QueryRow(ctx, `UPDATE pipelines SET status = $3, updated_at = $4 WHERE team_id = $1 AND id = $2 RETURNING `+pipelineColumns,
		teamID, id, status, core.Now()))
}

// RotateHookToken implements store.Pipelines.
func (s *Store) RotateHookToken(ctx context.Context, teamID, id uuid.UUID, token string) (core.Pipeline, error) {
	return scanPipeline(s.pool.QueryRow(ctx, `UPDATE pipelines SET hook_token = $3, updated_at = $4
		WHERE team_id = $1 AND id = $2 AND kind = 'webhook' RETURNING `+pipelineColumns, teamID, id, token, core.Now()))
}

// DeletePipeline implements store.Pipelines.
func (s *Store) DeletePipeline(ctx context.Context, teamID, id uuid.UUID) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM pipelines WHERE team_id = $1 AND id = $2`, teamID, id)
		if err != nil {
			return fmt.Errorf("delete pipeline: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("delete pipeline: %w", core.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM records WHERE team_id = $1 AND pipeline_id = $2`, teamID, id); err != nil {
			return fmt.Errorf("delete pipeline records: %w", err)
		}
		return nil
	})
}

// copyChunk is how many rows one COPY carries.
const copyChunk = 1000

// WriteBatch implements store.Records.
func (s *Store) WriteBatch(ctx context.Context, b *store.Batch) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if b.Persist && len(b.Records) > 0 {
			if err := s.copyRecords(ctx, tx, b); err != nil {
				return err
			}
		}
		if len(b.Rejected) > 0 {
			team, pipe, run, version := [16]byte(b.TeamID), [16]byte(b.PipelineID), [16]byte(b.Run.ID), int32(b.Version)
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"rejected_records"},
				[]string{"team_id", "pipeline_id", "run_id", "version", "received_at", "raw", "reason"},
				pgx.CopyFromSlice(len(b.Rejected), func(i int) ([]any, error) {
					r := &b.Rejected[i]
					return []any{team, pipe, run, version, r.ReceivedAt, []byte(r.Raw), r.Reason}, nil
				}))
			if err != nil {
				return fmt.Errorf("insert rejected records: %w", err)
			}
		}
		stats := store.SummarizeBatch(b)
		run := b.Run
		if _, err := tx.Exec(ctx, `INSERT INTO runs (id, team_id, pipeline_id, version, trigger, started_at, duration_us, fetched, stored, rejected, bytes, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			run.ID, b.TeamID, b.PipelineID, b.Version, run.Trigger, run.StartedAt, run.Duration.Microseconds(),
			run.Fetched, run.Stored, run.Rejected, run.Bytes, run.Error); err != nil {
			return fmt.Errorf("insert run: %w", mapErr(err))
		}
		tag, err := tx.Exec(ctx, `UPDATE pipelines SET
				record_count = record_count + $3,
				rejected_count = rejected_count + $4,
				stored_bytes = stored_bytes + $5,
				last_record_at = CASE WHEN $6::timestamptz IS NULL THEN last_record_at ELSE greatest(last_record_at, $6) END,
				last_run_at = $7,
				state = coalesce($8, state)
			WHERE team_id = $1 AND id = $2`,
			b.TeamID, b.PipelineID, stats.Persisted, len(b.Rejected), stats.Bytes, stats.Newest, run.StartedAt, rawJSONOrNil(b.State))
		if err != nil {
			return fmt.Errorf("update pipeline stats: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("write batch: pipeline %s: %w", b.PipelineID, core.ErrNotFound)
		}
		if b.Jobs != nil {
			params, err := b.Jobs(b.Records)
			if err != nil {
				return fmt.Errorf("build batch jobs: %w", err)
			}
			if len(params) > 0 {
				if _, err := s.inserter.InsertManyTx(ctx, tx, params); err != nil {
					return fmt.Errorf("enqueue batch jobs: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		for i := range b.Records {
			b.Records[i].ID = 0 // the ids were never committed
		}
	}
	return err
}

func (s *Store) copyRecords(ctx context.Context, tx pgx.Tx, b *store.Batch) error {
	rows, err := tx.Query(ctx, `SELECT nextval('records_id_seq') FROM generate_series(1, $1)`, len(b.Records))
	if err != nil {
		return fmt.Errorf("allocate record ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("allocate record ids: %w", err)
	}
	for i := range b.Records {
		b.Records[i].ID = ids[i]
	}
	// Values in the types pgx encodes directly: a uuid.UUID would go
	// through driver.Valuer and a string parse for every row.
	team, pipe, version := [16]byte(b.TeamID), [16]byte(b.PipelineID), int32(b.Version)
	for start := 0; start < len(b.Records); start += copyChunk {
		chunk := b.Records[start:min(start+copyChunk, len(b.Records))]
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"records"},
			[]string{"id", "team_id", "pipeline_id", "ts", "version", "data"},
			pgx.CopyFromSlice(len(chunk), func(i int) ([]any, error) {
				r := &chunk[i]
				return []any{r.ID, team, pipe, r.TS, version, []byte(r.Data)}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy records: %w", err)
		}
	}
	return nil
}

// rawJSONOrNil passes already-encoded JSON to a json/jsonb column as it
// is, or NULL.
func rawJSONOrNil(r json.RawMessage) any {
	if r == nil {
		return nil
	}
	return []byte(r)
}

// Records implements store.Records.
func (s *Store) Records(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RecordQuery) ([]core.Record, error) {
	where := []string{"team_id = $1", "pipeline_id = $2"}
	args := []any{teamID, pipelineID}
	add := func(cond string, vals ...any) {
		for _, v := range vals {
			args = append(args, v)
			cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(args)), 1)
		}
		where = append(where, cond)
	}
	if !q.From.IsZero() {
		add("ts >= ?", q.From)
	}
	if !q.To.IsZero() {
		add("ts < ?", q.To)
	}
	if !q.BeforeTS.IsZero() {
		add("(ts, id) < (?, ?)", q.BeforeTS, q.BeforeID)
	}
	args = append(args, store.ClampLimit(q.Limit))
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT id, ts, version, data FROM records WHERE %s ORDER BY ts DESC, id DESC LIMIT $%d`,
		strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Record, error) {
		rec := core.Record{PipelineID: pipelineID}
		var data []byte
		err := r.Scan(&rec.ID, &rec.TS, &rec.Version, &data)
		rec.TS = rec.TS.UTC()
		rec.Data = data
		return rec, err
	})
}

// RejectedRecords implements store.Records.
func (s *Store) RejectedRecords(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RejectedQuery) ([]core.Rejected, error) {
	before := q.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT id, run_id, version, received_at, raw, reason FROM rejected_records
		WHERE team_id = $1 AND pipeline_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
		teamID, pipelineID, before, store.ClampLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("list rejected records: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Rejected, error) {
		rej := core.Rejected{PipelineID: pipelineID}
		var raw []byte
		err := r.Scan(&rej.ID, &rej.RunID, &rej.Version, &rej.ReceivedAt, &raw, &rej.Reason)
		rej.ReceivedAt = rej.ReceivedAt.UTC()
		rej.Raw = raw
		return rej, err
	})
}

// Runs implements store.Records.
func (s *Store) Runs(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RunQuery) ([]core.Run, error) {
	query := `SELECT id, version, trigger, started_at, duration_us, fetched, stored, rejected, bytes, error FROM runs
		WHERE team_id = $1 AND pipeline_id = $2`
	args := []any{teamID, pipelineID, store.ClampLimit(q.Limit)}
	if !q.BeforeAt.IsZero() {
		query += ` AND (started_at, id) < ($4, $5)`
		args = append(args, q.BeforeAt, q.BeforeID)
	}
	rows, err := s.pool.Query(ctx, query+` ORDER BY started_at DESC, id DESC LIMIT $3`, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Run, error) {
		run := core.Run{TeamID: teamID, PipelineID: pipelineID}
		var us int64
		err := r.Scan(&run.ID, &run.Version, &run.Trigger, &run.StartedAt, &us, &run.Fetched, &run.Stored, &run.Rejected, &run.Bytes, &run.Error)
		run.StartedAt = run.StartedAt.UTC()
		run.Duration = time.Duration(us) * time.Microsecond
		return run, err
	})
}

const secretColumns = `id, team_id, name, sealed, created_at, updated_at`

func scanSecret(row pgx.Row) (core.Secret, error) {
	var sec core.Secret
	err := row.Scan(&sec.ID, &sec.TeamID, &sec.Name, &sec.Sealed, &sec.CreatedAt, &sec.UpdatedAt)
	sec.CreatedAt, sec.UpdatedAt = sec.CreatedAt.UTC(), sec.UpdatedAt.UTC()
	return sec, mapErr(err)
}

// CreateSecret implements store.Secrets.
func (s *Store) CreateSecret(ctx context.Context, sec core.Secret) (core.Secret, error) {
	now := core.Now()
	out, err := scanSecret(s.pool.QueryRow(ctx, `INSERT INTO secrets (id, team_id, name, sealed, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5) RETURNING `+secretColumns, sec.ID, sec.TeamID, sec.Name, sec.Sealed, now))
	if err != nil {
		return core.Secret{}, fmt.Errorf("create secret %q: %w", sec.Name, err)
	}
	return out, nil
}

// Secret implements store.Secrets.
func (s *Store) Secret(ctx context.Context, teamID uuid.UUID, name string) (core.Secret, error) {
	return scanSecret(s.pool.QueryRow(ctx, `SELECT `+secretColumns+` FROM secrets WHERE team_id = $1 AND name = $2`, teamID, name))
}

// Secrets implements store.Secrets.
func (s *Store) Secrets(ctx context.Context, teamID uuid.UUID) ([]core.Secret, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+secretColumns+` FROM secrets WHERE team_id = $1 ORDER BY name`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Secret, error) { return scanSecret(r) })
}

// RotateSecret implements store.Secrets.
func (s *Store) RotateSecret(ctx context.Context, teamID uuid.UUID, name string, sealed []byte) (core.Secret, error) {
	return scanSecret(s.pool.QueryRow(ctx, `UPDATE secrets SET sealed = $3, updated_at = $4 WHERE team_id = $1 AND name = $2 RETURNING `+secretColumns,
		teamID, name, sealed, core.Now()))
}

// DeleteSecret implements store.Secrets.
func (s *Store) DeleteSecret(ctx context.Context, teamID uuid.UUID, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM secrets WHERE team_id = $1 AND name = $2`, teamID, name)
	if err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete secret %q: %w", name, core.ErrNotFound)
	}
	return nil
}
