package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// StorageStats implements store.Storage.
func (s *Store) StorageStats(ctx context.Context, teamID, pipelineID uuid.UUID) (store.StorageStats, error) {
	out, err := s.storageStats(ctx, &teamID, []uuid.UUID{pipelineID})
	if err != nil {
		return store.StorageStats{}, fmt.Errorf("storage stats of pipeline %s: %w", pipelineID, err)
	}
	if len(out) == 0 {
		return store.StorageStats{}, core.ErrNotFound
	}
	return out[0], nil
}

// AllStorageStats implements store.Storage.
func (s *Store) AllStorageStats(ctx context.Context) ([]store.StorageStats, error) {
	out, err := s.storageStats(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("storage stats: %w", err)
	}
	return out, nil
}

// storageStats computes the stats of the team's pipelines in pipelineIDs,
// or (teamID nil) of every pipeline that stores records.
func (s *Store) storageStats(ctx context.Context, teamID *uuid.UUID, pipelineIDs []uuid.UUID) ([]store.StorageStats, error) {
	query := `SELECT p.team_id, p.id, coalesce(sum(d.records), 0), coalesce(sum(d.bytes), 0), min(d.oldest), max(d.newest)
		FROM pipelines p LEFT JOIN record_days d ON d.pipeline_id = p.id`
	var args []any
	if teamID != nil {
		query += ` WHERE p.team_id = ? AND p.id IN (SELECT value FROM json_each(?))`
		args = append(args, *teamID, idList(pipelineIDs))
	} else {
		query += ` WHERE d.pipeline_id IS NOT NULL`
	}
	rows, err := s.read.QueryContext(ctx, query+` GROUP BY p.team_id, p.id ORDER BY p.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.StorageStats
	for rows.Next() {
		var st store.StorageStats
		var oldest, newest sql.NullInt64
		if err := rows.Scan(&st.TeamID, &st.PipelineID, &st.Records, &st.StoredBytes, &oldest, &newest); err != nil {
			return nil, err
		}
		st.Oldest, st.Newest = fromNullMicros(oldest), fromNullMicros(newest)
		st.DiskBytes = st.StoredBytes + st.Records*store.SQLiteRecordOverhead
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.StorageStats) int {
		return strings.Compare(a.PipelineID.String(), b.PipelineID.String())
	})
	return out, nil
}
