package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.Usage = (*Store)(nil)

// RunUsage implements store.Usage.
func (s *Store) RunUsage(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, since time.Time) ([]store.RunUsage, error) {
	out, err := readRows(ctx, s, func(r pgx.CollectableRow) (store.RunUsage, error) {
		var u store.RunUsage
		return u, r.Scan(&u.PipelineID, &u.Runs, &u.Failed, &u.Fetched, &u.Stored, &u.Rejected, &u.Bytes)
	}, `SELECT pipeline_id, count(*), count(*) FILTER (WHERE error <> ''),
			coalesce(sum(fetched), 0)::bigint, coalesce(sum(stored), 0)::bigint, coalesce(sum(rejected), 0)::bigint,
			coalesce(sum(bytes), 0)::bigint
		FROM runs WHERE pipeline_id = ANY($1::uuid[]) AND team_id = $2 AND started_at >= $3 GROUP BY pipeline_id`,
		pipelineIDs, teamID, since)
	if err != nil {
		return nil, fmt.Errorf("read run usage: %w", err)
	}
	return out, nil
}
