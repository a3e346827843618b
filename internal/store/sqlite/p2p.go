package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// setUpstream writes (or, with uuid.Nil, removes) the upstream link of a
// pipeline inside tx. SQLite has one writer at a time, so the cycle check
// and the write cannot interleave with another link change.
func setUpstream(ctx context.Context, tx *sql.Tx, teamID, id, upstream uuid.UUID) error {
	if upstream == uuid.Nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pipeline_links WHERE pipeline_id = ?`, id); err != nil {
			return fmt.Errorf("remove upstream link: %w", err)
		}
		return nil
	}
	if upstream == id {
		return fmt.Errorf("pipeline %s reads from itself: %w", id, store.ErrCycle)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pipelines WHERE team_id = ? AND id = ?`, teamID, upstream).Scan(&n); err != nil {
		return fmt.Errorf("check upstream: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("upstream %s: %w", upstream, store.ErrUpstreamNotFound)
	}
	// Does the new upstream read, through its own chain, from id?
	if err := tx.QueryRowContext(ctx, `WITH RECURSIVE chain(id) AS (
			SELECT upstream_id FROM pipeline_links WHERE pipeline_id = ?
			UNION
			SELECT l.upstream_id FROM pipeline_links l JOIN chain c ON l.pipeline_id = c.id)
		SELECT count(*) FROM chain WHERE id = ?`, upstream, id).Scan(&n); err != nil {
		return fmt.Errorf("check upstream chain: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("upstream %s reads from pipeline %s: %w", upstream, id, store.ErrCycle)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO pipeline_links (pipeline_id, team_id, upstream_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (pipeline_id) DO UPDATE SET upstream_id = excluded.upstream_id, created_at = excluded.created_at
		WHERE pipeline_links.upstream_id <> excluded.upstream_id`, id, teamID, upstream, micros(core.Now())); err != nil {
		return fmt.Errorf("write upstream link: %w", err)
	}
	return nil
}

// PipelineLinks implements store.P2P.
func (s *Store) PipelineLinks(ctx context.Context) ([]store.PipelineLink, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT team_id, pipeline_id, upstream_id FROM pipeline_links`)
	if err != nil {
		return nil, fmt.Errorf("list pipeline links: %w", err)
	}
	defer rows.Close()
	var out []store.PipelineLink
	for rows.Next() {
		var l store.PipelineLink
		if err := rows.Scan(&l.TeamID, &l.Downstream, &l.Upstream); err != nil {
			return nil, fmt.Errorf("list pipeline links: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// PipelineUpstream implements store.P2P.
func (s *Store) PipelineUpstream(ctx context.Context, teamID, pipelineID uuid.UUID) (uuid.UUID, error) {
	var up uuid.UUID
	err := s.read.QueryRowContext(ctx, `SELECT upstream_id FROM pipeline_links WHERE team_id = ? AND pipeline_id = ?`, teamID, pipelineID).Scan(&up)
	return up, mapErr(err)
}

// Downstreams implements store.P2P.
func (s *Store) Downstreams(ctx context.Context, teamID, upstreamID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT pipeline_id FROM pipeline_links WHERE team_id = ? AND upstream_id = ? ORDER BY pipeline_id`, teamID, upstreamID)
	if err != nil {
		return nil, fmt.Errorf("list downstream pipelines: %w", err)
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list downstream pipelines: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
