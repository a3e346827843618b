package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// StorageStats implements store.Storage.
func (s *Store) StorageStats(ctx context.Context, teamID, pipelineID uuid.UUID) (store.StorageStats, error) {
	var out []store.StorageStats
	err := s.read(ctx, true, func(db dbtx) error {
		var err error
		out, err = s.storageStats(ctx, db, &teamID, []uuid.UUID{pipelineID})
		return err
	})
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
	var out []store.StorageStats
	err := s.read(ctx, true, func(db dbtx) error {
		var err error
		out, err = s.storageStats(ctx, db, nil, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage stats: %w", err)
	}
	return out, nil
}

// storageStats computes the stats of the team's pipelines in
// pipelineIDs, or (teamID nil) of all that store records. Disk bytes: each partition's size, shared among the pipelines
// with data in it by their bytes there.
func (s *Store) storageStats(ctx context.Context, db dbtx, teamID *uuid.UUID, pipelineIDs []uuid.UUID) ([]store.StorageStats, error) {
	l, err := s.recordLayout(ctx)
	if err != nil {
		return nil, err
	}
	parts, err := s.listPartitions(ctx, l, true)
	if err != nil {
		return nil, err
	}
	if l == layoutPlain {
		var tableSize int64
		if err := db.QueryRow(ctx, `SELECT pg_total_relation_size('records')`).Scan(&tableSize); err != nil {
			return nil, err
		}
		parts = []store.Partition{{From: time.Unix(-1<<40, 0), To: time.Unix(1<<40, 0), DiskBytes: tableSize}}
	}
	partOf := func(day time.Time) int {
		i, found := slices.BinarySearchFunc(parts, day, func(p store.Partition, t time.Time) int {
			switch {
			case !p.To.After(t):
				return -1
			case p.From.After(t):
				return 1
			}
			return 0
		})
		if !found {
			return -1
		}
		return i
	}
	rows, err := db.Query(ctx, `SELECT p.team_id, p.id, d.day, d.records, d.bytes, d.oldest, d.newest
		FROM pipelines p LEFT JOIN record_days_now d ON d.pipeline_id = p.id
		WHERE ($1::uuid IS NULL OR p.team_id = $1 AND p.id = ANY($2::uuid[])) AND ($1::uuid IS NOT NULL OR d.pipeline_id IS NOT NULL)
		ORDER BY p.id`, teamID, pipelineIDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.StorageStats
	// per[i][j]: bytes of out[i] in partition j.
	var per []map[int]int64
	needed := map[int]bool{}
	for rows.Next() {
		var (
			team, id            uuid.UUID
			day, oldest, newest *time.Time
			records, bytes      *int64
		)
		if err := rows.Scan(&team, &id, &day, &records, &bytes, &oldest, &newest); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].PipelineID != id {
			out = append(out, store.StorageStats{TeamID: team, PipelineID: id})
			per = append(per, map[int]int64{})
		}
		st := &out[len(out)-1]
		if day == nil {
			continue
		}
		st.Records += *records
		st.StoredBytes += *bytes
		if o := oldest.UTC(); st.Oldest == nil || o.Before(*st.Oldest) {
			st.Oldest = &o
		}
		if n := newest.UTC(); st.Newest == nil || n.After(*st.Newest) {
			st.Newest = &n
		}
		if i := partOf(day.UTC()); i >= 0 {
			per[len(per)-1][i] += *bytes
			needed[i] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// Each needed partition's bytes over all pipelines.
	var idx []int32
	var los, his []time.Time
	for i := range needed {
		idx, los, his = append(idx, int32(i)), append(los, parts[i].From), append(his, parts[i].To)
	}
	totals := map[int]int64{}
	if len(idx) > 0 {
		trows, err := db.Query(ctx, `SELECT u.i, (SELECT coalesce(sum(bytes), 0)::bigint FROM record_days_now WHERE day >= u.lo AND day < u.hi)
			FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[]) AS u(i, lo, hi)`, idx, los, his)
		if err != nil {
			return nil, err
		}
		for trows.Next() {
			var i int32
			var t int64
			if err := trows.Scan(&i, &t); err != nil {
				trows.Close()
				return nil, err
			}
			totals[int(i)] = t
		}
		if err := trows.Err(); err != nil {
			return nil, err
		}
	}
	for k := range out {
		for i, b := range per[k] {
			if t := totals[i]; t > 0 {
				out[k].DiskBytes += int64(float64(parts[i].DiskBytes) * float64(b) / float64(t))
			}
		}
	}
	return out, nil
}
