package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// pipelineColumns are the columns scanPipeline reads, from a query of the
// pipelines table not aliased. Stats are the row's plus the deltas that
// batches wrote since they were last folded into it (records.go).
const pipelineColumns = `id, team_id, name, kind, status, version, spec, coalesce(hook_token, ''), created_at, updated_at,
	record_count + coalesce((SELECT sum(records) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id), 0)::bigint,
	rejected_count + coalesce((SELECT sum(rejected) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id), 0)::bigint,
	stored_bytes + coalesce((SELECT sum(bytes) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id), 0)::bigint,
	greatest(last_record_at, (SELECT max(last_record_at) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id)),
	greatest(last_run_at, (SELECT max(last_run_at) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id))`

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
		if err := lockLinks(ctx, tx, teamID, np.Upstream); err != nil {
			return err
		}
		now := core.Now()
		var err error
		p, err = scanPipeline(tx.QueryRow(ctx, `INSERT INTO pipelines (id, team_id, name, kind, status, version, spec, hook_token, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'active', 1, $5, $6, $7, $7) RETURNING `+pipelineColumns,
			core.NewID(), teamID, np.Name, np.Kind, np.Spec, nullString(np.HookToken), now))
		if err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES ($1, 1, $2, $3)`, p.ID, np.Spec, now); err != nil {
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
	return scanPipeline(s.pool.QueryRow(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE team_id = $1 AND id = $2`, teamID, id))
}

// Pipelines implements store.Pipelines.
func (s *Store) Pipelines(ctx context.Context, teamID uuid.UUID) ([]core.Pipeline, error) {
	rows, err := s.readQuery(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE team_id = $1 ORDER BY name, id`, teamID)
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
		if err := lockLinks(ctx, tx, teamID, u.Upstream); err != nil {
			return err
		}
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
		if _, err = tx.Exec(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES ($1, $2, $3, $4)`, id, p.Version, u.Spec, now); err != nil {
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
		return deleteSeriesData(ctx, tx, id)
	})
}

// RejectedRecords implements store.Records.
func (s *Store) RejectedRecords(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RejectedQuery) ([]core.Rejected, error) {
	before := q.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.readQuery(ctx, `SELECT id, run_id, version, received_at, raw, reason FROM rejected_records
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
	rows, err := s.readQuery(ctx, query+` ORDER BY started_at DESC, id DESC LIMIT $3`, args...)
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
