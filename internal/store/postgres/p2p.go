package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// p2pLockSpace is the first key of the advisory locks that serialise the
// link changes of one team ("p2pl" in ASCII); the second is derived from
// the team id.
const p2pLockSpace = 0x7032706c

// lockLinks serialises the link changes of a team: under READ COMMITTED
// two transactions could each check the chain before the other's link is
// visible and together close a cycle. A transaction that sets an upstream
// takes this transaction-scoped advisory lock as its first statement,
// before any row lock: the second of two crossing updates then waits
// before it locks its own pipeline row (which the first one's foreign key
// check needs), and sees the first one's link when it checks its chain.
func lockLinks(ctx context.Context, tx pgx.Tx, teamID, upstream uuid.UUID) error {
	if upstream == uuid.Nil {
		return nil // removing a link cannot close a cycle
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, p2pLockSpace, teamID.String()); err != nil {
		return fmt.Errorf("lock team links: %w", err)
	}
	return nil
}

// setUpstream writes (or, with uuid.Nil, removes) the upstream link of a
// pipeline inside tx, which took lockLinks first.
func setUpstream(ctx context.Context, tx pgx.Tx, teamID, id, upstream uuid.UUID) error {
	if upstream == uuid.Nil {
		if _, err := tx.Exec(ctx, `DELETE FROM pipeline_links WHERE pipeline_id = $1`, id); err != nil {
			return fmt.Errorf("remove upstream link: %w", err)
		}
		return nil
	}
	if upstream == id {
		return fmt.Errorf("pipeline %s reads from itself: %w", id, store.ErrCycle)
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pipelines WHERE team_id = $1 AND id = $2)`, teamID, upstream).Scan(&ok); err != nil {
		return fmt.Errorf("check upstream: %w", err)
	}
	if !ok {
		return fmt.Errorf("upstream %s: %w", upstream, store.ErrUpstreamNotFound)
	}
	// Does the new upstream read, through its own chain, from id?
	if err := tx.QueryRow(ctx, `WITH RECURSIVE chain(id) AS (
			SELECT upstream_id FROM pipeline_links WHERE pipeline_id = $1
			UNION
			SELECT l.upstream_id FROM pipeline_links l JOIN chain c ON l.pipeline_id = c.id)
		SELECT EXISTS (SELECT 1 FROM chain WHERE id = $2)`, upstream, id).Scan(&ok); err != nil {
		return fmt.Errorf("check upstream chain: %w", err)
	}
	if ok {
		return fmt.Errorf("upstream %s reads from pipeline %s: %w", upstream, id, store.ErrCycle)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO pipeline_links (pipeline_id, team_id, upstream_id, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (pipeline_id) DO UPDATE SET upstream_id = excluded.upstream_id, created_at = excluded.created_at
		WHERE pipeline_links.upstream_id <> excluded.upstream_id`, id, teamID, upstream, core.Now()); err != nil {
		return fmt.Errorf("write upstream link: %w", err)
	}
	return nil
}

// PipelineLinks implements store.P2P.
func (s *Store) PipelineLinks(ctx context.Context) ([]store.PipelineLink, error) {
	rows, err := s.pool.Query(ctx, `SELECT team_id, pipeline_id, upstream_id FROM pipeline_links`)
	if err != nil {
		return nil, fmt.Errorf("list pipeline links: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.PipelineLink, error) {
		var l store.PipelineLink
		err := r.Scan(&l.TeamID, &l.Downstream, &l.Upstream)
		return l, err
	})
}

// PipelineUpstream implements store.P2P.
func (s *Store) PipelineUpstream(ctx context.Context, teamID, pipelineID uuid.UUID) (uuid.UUID, error) {
	var up uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT upstream_id FROM pipeline_links WHERE team_id = $1 AND pipeline_id = $2`, teamID, pipelineID).Scan(&up)
	return up, mapErr(err)
}

// Downstreams implements store.P2P.
func (s *Store) Downstreams(ctx context.Context, teamID, upstreamID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := s.pool.Query(ctx, `SELECT pipeline_id FROM pipeline_links WHERE team_id = $1 AND upstream_id = $2 ORDER BY pipeline_id`, teamID, upstreamID)
	if err != nil {
		return nil, fmt.Errorf("list downstream pipelines: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}
