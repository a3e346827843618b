package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.Usage = (*Store)(nil)

// RunUsage implements store.Usage.
func (s *Store) RunUsage(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, since time.Time) ([]store.RunUsage, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT pipeline_id, count(*), coalesce(sum(CASE WHEN error <> '' THEN 1 ELSE 0 END), 0),
			coalesce(sum(fetched), 0), coalesce(sum(stored), 0), coalesce(sum(rejected), 0), coalesce(sum(bytes), 0)
		FROM runs WHERE pipeline_id IN (SELECT value FROM json_each(?)) AND team_id = ? AND started_at >= ?
		GROUP BY pipeline_id`, idList(pipelineIDs), teamID, micros(since))
	out, err := collect(rows, err, func(r row) (store.RunUsage, error) {
		var u store.RunUsage
		return u, r.Scan(&u.PipelineID, &u.Runs, &u.Failed, &u.Fetched, &u.Stored, &u.Rejected, &u.Bytes)
	})
	if err != nil {
		return nil, fmt.Errorf("read run usage: %w", err)
	}
	return out, nil
}
