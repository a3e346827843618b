package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

const pipelineColumns = `id, team_id, name, kind, status, version, spec, coalesce(hook_token_prefix, ''), created_at, updated_at,
	record_count, rejected_count, stored_bytes, last_record_at, last_run_at`

func scanPipeline(r row) (core.Pipeline, error) {
	var (
		p                   core.Pipeline
		spec                string
		created, updated    int64
		lastRecord, lastRun sql.NullInt64
	)
	err := r.Scan(&p.ID, &p.TeamID, &p.Name, &p.Kind, &p.Status, &p.Version, &spec, &p.HookTokenPrefix, &created, &updated,
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
		p, err = scanPipeline(tx.QueryRowContext(ctx, `INSERT INTO pipelines (id, team_id, name, kind, status, version, spec, hook_token_hash, hook_token_prefix, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'active', 1, ?, ?, ?, ?, ?) RETURNING `+pipelineColumns,
			core.NewID(), teamID, np.Name, np.Kind, string(np.Spec), hookHash(np.HookToken), nullString(core.HookTokenPrefixOf(np.HookToken)), now, now))
		if err != nil {
			return err
		}
		p.HookToken = np.HookToken
		if _, err = tx.ExecContext(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES (?, 1, ?, ?)`, p.ID, string(np.Spec), now); err != nil {
			return err
		}
		if err := checkSecrets(ctx, tx, teamID, np.Secrets); err != nil {
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

// hookHash is the stored hash of a webhook token; nil (NULL) for none.
func hookHash(token string) any {
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
	return scanPipeline(s.read.QueryRowContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE hook_token_hash = ?`, hash))
}

// hashHookTokens replaces the plaintext tokens of pipelines made before
// migration 0008 by their hashes. SQLite has no sha256(), so Migrate calls
// it in Go, in the transaction that applies the migrations; once every
// token is hashed it finds nothing to do.
func hashHookTokens(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, hook_token FROM pipelines WHERE hook_token IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("hash webhook tokens: %w", err)
	}
	type tok struct{ id, token string }
	var toks []tok
	for rows.Next() {
		var t tok
		if err := rows.Scan(&t.id, &t.token); err != nil {
			rows.Close()
			return fmt.Errorf("hash webhook tokens: %w", err)
		}
		toks = append(toks, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("hash webhook tokens: %w", err)
	}
	for _, t := range toks {
		if _, err := tx.ExecContext(ctx, `UPDATE pipelines SET hook_token_hash = ?, hook_token_prefix = ?, hook_token = NULL WHERE id = ?`,
			core.HookTokenHash(t.token), nullString(core.HookTokenPrefixOf(t.token)), t.id); err != nil {
			return fmt.Errorf("hash webhook token of pipeline %s: %w", t.id, err)
		}
	}
	return nil
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = updatePipeline(ctx, tx, teamID, id, u); err != nil {
			return err
		}
		switch {
		case c.Remove:
			_, err = tx.ExecContext(ctx, `DELETE FROM sink_states WHERE team_id = ? AND pipeline_id = ? AND sink = ?`, teamID, id, c.Sink)
		case c.Status == core.SinkActive:
			st, err = scanSinkState(tx.QueryRowContext(ctx, `INSERT INTO sink_states (pipeline_id, sink, team_id, status, reason, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (pipeline_id, sink) DO UPDATE SET status = excluded.status, reason = excluded.reason,
					consecutive_failures = 0, updated_at = excluded.updated_at
				RETURNING `+sinkStateColumns, id, c.Sink, teamID, c.Status, c.Reason, micros(core.Now())))
		default:
			st, err = scanSinkState(tx.QueryRowContext(ctx, `INSERT INTO sink_states (pipeline_id, sink, team_id, status, reason, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (pipeline_id, sink) DO UPDATE SET status = excluded.status, reason = excluded.reason,
					updated_at = excluded.updated_at
				RETURNING `+sinkStateColumns, id, c.Sink, teamID, c.Status, c.Reason, micros(core.Now())))
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
func updatePipeline(ctx context.Context, tx *sql.Tx, teamID, id uuid.UUID, u store.PipelineUpdate) (core.Pipeline, error) {
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM pipelines WHERE team_id = ? AND id = ?`, teamID, id).Scan(&current); err != nil {
		return core.Pipeline{}, mapErr(err)
	}
	if u.IfVersion != 0 && u.IfVersion != current {
		return core.Pipeline{}, fmt.Errorf("%w: the pipeline is at version %d, not %d; reload and retry", core.ErrConflict, current, u.IfVersion)
	}
	if err := checkSecrets(ctx, tx, teamID, u.Secrets); err != nil {
		return core.Pipeline{}, err
	}
	now := micros(core.Now())
	p, err := scanPipeline(tx.QueryRowContext(ctx, `UPDATE pipelines SET name = ?, kind = ?, spec = ?, version = version + 1, updated_at = ?
		WHERE team_id = ? AND id = ? RETURNING `+pipelineColumns, u.Name, u.Kind, string(u.Spec), now, teamID, id))
	if err != nil {
		return p, err
	}
	if _, err = tx.ExecContext(ctx, `INSERT INTO pipeline_versions (pipeline_id, version, spec, created_at) VALUES (?, ?, ?, ?)`, id, p.Version, string(u.Spec), now); err != nil {
		return p, err
	}
	return p, setUpstream(ctx, tx, teamID, id, u.Upstream)
}

// checkSecrets fails with store.ErrSecretMissing unless the team has every
// named secret. Writes are serialized on SQLite's one write connection, so
// a secret seen here stays until the transaction commits.
func checkSecrets(ctx context.Context, tx *sql.Tx, teamID uuid.UUID, names []string) error {
	for _, name := range names {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM secrets WHERE team_id = ? AND name = ?`, teamID, name).Scan(&n); err != nil {
			return fmt.Errorf("check secret %q: %w", name, err)
		}
		if n == 0 {
			return fmt.Errorf("secret %q: %w", name, store.ErrSecretMissing)
		}
	}
	return nil
}

// SetPipelineStatus implements store.Pipelines.
func (s *Store) SetPipelineStatus(ctx context.Context, teamID, id uuid.UUID, status core.PipelineStatus) (core.Pipeline, error) {
	return scanPipeline(s.write.QueryRowContext(ctx, `UPDATE pipelines SET status = ?, updated_at = ? WHERE team_id = ? AND id = ? RETURNING `+pipelineColumns,
		status, micros(core.Now()), teamID, id))
}

// RotateHookToken implements store.Pipelines.
func (s *Store) RotateHookToken(ctx context.Context, teamID, id uuid.UUID, token string) (core.Pipeline, error) {
	p, err := scanPipeline(s.write.QueryRowContext(ctx, `UPDATE pipelines SET hook_token_hash = ?, hook_token_prefix = ?, updated_at = ?
		WHERE team_id = ? AND id = ? AND kind = 'webhook' RETURNING `+pipelineColumns,
		hookHash(token), nullString(core.HookTokenPrefixOf(token)), micros(core.Now()), teamID, id))
	if err != nil {
		return p, err
	}
	p.HookToken = token
	return p, nil
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
