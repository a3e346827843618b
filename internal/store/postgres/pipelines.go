package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// pipelineColumns are the columns scanPipeline reads, from a query of the
// pipelines table not aliased. Stats are the row's plus the deltas that
// batches wrote since they were last folded into it (records.go).
const pipelineColumns = `id, team_id, name, kind, status, version, spec, coalesce(hook_token_prefix, ''), created_at, updated_at,
	record_count + coalesce((SELECT sum(records) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id), 0)::bigint,
	rejected_count + coalesce((SELECT sum(rejected) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id), 0)::bigint,
	stored_bytes + coalesce((SELECT sum(bytes) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id), 0)::bigint,
	greatest(last_record_at, (SELECT max(last_record_at) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id)),
	greatest(last_run_at, (SELECT max(last_run_at) FROM pipeline_stat_deltas d WHERE d.pipeline_id = pipelines.id))`

func scanPipeline(row pgx.Row) (core.Pipeline, error) {
	var p core.Pipeline
	err := row.Scan(&p.ID, &p.TeamID, &p.Name, &p.Kind, &p.Status, &p.Version, &p.Spec, &p.HookTokenPrefix, &p.CreatedAt, &p.UpdatedAt,
		&p.Stats.RecordCount, &p.Stats.RejectedCount, &p.Stats.StoredBytes, &p.Stats.LastRecordAt, &p.Stats.LastRunAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	utcPtr(p.Stats.LastRecordAt)
	utcPtr(p.Stats.LastRunAt)
	return p, mapErr(err)
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
		p, err = scanPipeline(tx.QueryRow(ctx, `INSERT INTO pipelines (id, team_id, name, kind, status, version, spec, hook_token_hash, hook_token_prefix, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'active', 1, $5, $6, $7, $8, $8) RETURNING `+pipelineColumns,
			core.NewID(), teamID, np.Name, np.Kind, np.Spec, hookHash(np.HookToken), nullString(core.HookTokenPrefixOf(np.HookToken)), now))
		if err != nil {
			return err
		}
		p.HookToken = np.HookToken
		if _, err = tx.Exec(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES ($1, 1, $2, $3)`, p.ID, np.Spec, now); err != nil {
			return err
		}
		if err := lockSecrets(ctx, tx, teamID, np.Secrets); err != nil {
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
	ps, err := readRows(ctx, s, func(r pgx.CollectableRow) (core.Pipeline, error) { return scanPipeline(r) },
		`SELECT `+pipelineColumns+` FROM pipelines WHERE team_id = $1 ORDER BY name, id`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return ps, nil
}

// hookHash is the stored hash of a webhook token; nil (NULL) for none.
func hookHash(token string) []byte {
	if token == "" {
		return nil
	}
	return core.HookTokenHash(token)
}

// PipelineByHookHash implements store.Pipelines.
func (s *Store) PipelineByHookHash(ctx context.Context, hash []byte) (core.Pipeline, error) {
	if len(hash) == 0 {
		return core.Pipeline{}, core.ErrNotFound
	}
	return scanPipeline(s.pool.QueryRow(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE hook_token_hash = $1`, hash))
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
		var err error
		p, err = updatePipeline(ctx, tx, teamID, id, u)
		return err
	})
	if err != nil {
		return core.Pipeline{}, fmt.Errorf("update pipeline: %w", mapErr(err))
	}
	return p, nil
}

// UpdatePipelineSink implements store.Pipelines.
func (s *Store) UpdatePipelineSink(ctx context.Context, teamID, id uuid.UUID, u store.PipelineUpdate, c store.SinkChange) (core.Pipeline, core.SinkState, error) {
	var (
		p  core.Pipeline
		st = core.SinkState{Sink: c.Sink}
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if p, err = updatePipeline(ctx, tx, teamID, id, u); err != nil {
			return err
		}
		switch {
		case c.Remove:
			_, err = tx.Exec(ctx, `DELETE FROM sink_states WHERE team_id = $1 AND pipeline_id = $2 AND sink = $3`, teamID, id, c.Sink)
		case c.Status == core.SinkActive:
			st, err = scanSinkState(tx.QueryRow(ctx, `INSERT INTO sink_states AS s (pipeline_id, sink, team_id, status, reason, updated_at)
				VALUES ($2, $3, $1, $4, $5, $6)
				ON CONFLICT (pipeline_id, sink) DO UPDATE SET status = excluded.status, reason = excluded.reason,
					consecutive_failures = 0, updated_at = excluded.updated_at
				RETURNING `+sinkStateColumns, teamID, id, c.Sink, c.Status, c.Reason, core.Now()))
		default:
			st, err = scanSinkState(tx.QueryRow(ctx, `INSERT INTO sink_states AS s (pipeline_id, sink, team_id, status, reason, updated_at)
				VALUES ($2, $3, $1, $4, $5, $6)
				ON CONFLICT (pipeline_id, sink) DO UPDATE SET status = excluded.status, reason = excluded.reason,
					updated_at = excluded.updated_at
				RETURNING `+sinkStateColumns, teamID, id, c.Sink, c.Status, c.Reason, core.Now()))
		}
		if err != nil {
			return fmt.Errorf("sink %q: %w", c.Sink, err)
		}
		return nil
	})
	if err != nil {
		return core.Pipeline{}, core.SinkState{}, fmt.Errorf("update pipeline: %w", mapErr(err))
	}
	return p, st, nil
}

// updatePipeline saves a new version of a pipeline inside tx.
func updatePipeline(ctx context.Context, tx pgx.Tx, teamID, id uuid.UUID, u store.PipelineUpdate) (core.Pipeline, error) {
	if err := lockLinks(ctx, tx, teamID, u.Upstream); err != nil {
		return core.Pipeline{}, err
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT version FROM pipelines WHERE team_id = $1 AND id = $2 FOR UPDATE`, teamID, id).Scan(&current); err != nil {
		return core.Pipeline{}, mapErr(err)
	}
	if u.IfVersion != 0 && u.IfVersion != current {
		return core.Pipeline{}, fmt.Errorf("%w: the pipeline is at version %d, not %d; reload and retry", core.ErrConflict, current, u.IfVersion)
	}
	if err := lockSecrets(ctx, tx, teamID, u.Secrets); err != nil {
		return core.Pipeline{}, err
	}
	now := core.Now()
	p, err := scanPipeline(tx.QueryRow(ctx, `UPDATE pipelines SET name = $3, kind = $4, spec = $5, version = version + 1, updated_at = $6
		WHERE team_id = $1 AND id = $2 RETURNING `+pipelineColumns, teamID, id, u.Name, u.Kind, u.Spec, now))
	if err != nil {
		return p, err
	}
	if _, err = tx.Exec(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES ($1, $2, $3, $4)`, id, p.Version, u.Spec, now); err != nil {
		return p, err
	}
	return p, setUpstream(ctx, tx, teamID, id, u.Upstream)
}

// lockSecrets takes a share lock on the named secrets of the team until tx
// ends, so that DeleteSecretIfUnused (which locks the row for update, then
// reads the pipelines) waits for this save and then sees it; it fails with
// store.ErrSecretMissing when one does not exist.
func lockSecrets(ctx context.Context, tx pgx.Tx, teamID uuid.UUID, names []string) error {
	if len(names) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT name FROM secrets WHERE team_id = $1 AND name = ANY($2) ORDER BY name FOR SHARE`, teamID, names)
	if err != nil {
		return fmt.Errorf("lock secrets: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("lock secrets: %w", err)
	}
	have := make(map[string]bool, len(found))
	for _, n := range found {
		have[n] = true
	}
	for _, n := range names {
		if !have[n] {
			return fmt.Errorf("secret %q: %w", n, store.ErrSecretMissing)
		}
	}
	return nil
}

// SetPipelineStatus implements store.Pipelines.
func (s *Store) SetPipelineStatus(ctx context.Context, teamID, id uuid.UUID, status core.PipelineStatus) (core.Pipeline, error) {
	return scanPipeline(s.pool.QueryRow(ctx, `UPDATE pipelines SET status = $3, updated_at = $4 WHERE team_id = $1 AND id = $2 RETURNING `+pipelineColumns,
		teamID, id, status, core.Now()))
}

// RotateHookToken implements store.Pipelines.
func (s *Store) RotateHookToken(ctx context.Context, teamID, id uuid.UUID, token string) (core.Pipeline, error) {
	p, err := scanPipeline(s.pool.QueryRow(ctx, `UPDATE pipelines SET hook_token_hash = $3, hook_token_prefix = $4, updated_at = $5
		WHERE team_id = $1 AND id = $2 AND kind = 'webhook' RETURNING `+pipelineColumns,
		teamID, id, hookHash(token), core.HookTokenPrefixOf(token), core.Now()))
	if err != nil {
		return p, err
	}
	p.HookToken = token
	return p, nil
}

// DeletePipeline implements store.Pipelines.
func (s *Store) DeletePipeline(ctx context.Context, teamID, id uuid.UUID) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Batches of the pipeline in flight commit first, and their rows
		// are deleted below; later ones fail (see migration 0018).
		if _, err := tx.Exec(ctx, lockPipeline, pipelineLockSpace, pipelineLockKey(id)); err != nil {
			return fmt.Errorf("delete pipeline: wait for its batches: %w", err)
		}
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
