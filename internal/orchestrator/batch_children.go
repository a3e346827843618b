package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// batchOr answers a batch read for the caller's team (viewer) with the
// store's batch read, or, on a store without store.BatchReads, with the
// per-pipeline use case one, skipping missing pipelines.
func batchOr[T any](s *Service, who Caller, ids []uuid.UUID, what string,
	batch func(br store.BatchReads, team uuid.UUID) (map[uuid.UUID]T, error),
	one func(id uuid.UUID) (T, error)) (map[uuid.UUID]T, error) {
	team, _, err := s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	if br, ok := s.st.(store.BatchReads); ok {
		out, err := batch(br, team)
		if err != nil {
			return nil, fmt.Errorf("%s of pipelines: %w", what, err)
		}
		return out, nil
	}
	out := make(map[uuid.UUID]T, len(ids))
	for _, id := range ids {
		v, err := one(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = v
	}
	return out, nil
}

// RecordsOfPipelines returns the first page of stored records of each of
// the caller's team's pipelines in ids, as Records answers q without a
// cursor (viewer).
func (s *Service) RecordsOfPipelines(ctx context.Context, who Caller, ids []uuid.UUID, q store.RecordQuery) (map[uuid.UUID][]core.Record, error) {
	q.BeforeTS, q.BeforeID = time.Time{}, 0
	return batchOr(s, who, ids, "records",
		func(br store.BatchReads, team uuid.UUID) (map[uuid.UUID][]core.Record, error) {
			return br.RecordsOfPipelines(ctx, team, ids, q)
		},
		func(id uuid.UUID) ([]core.Record, error) { return s.Records(ctx, who, id, q) })
}

// RejectedOfPipelines returns the newest rejected records (at most n) of
// each of the caller's team's pipelines in ids (viewer).
func (s *Service) RejectedOfPipelines(ctx context.Context, who Caller, ids []uuid.UUID, n int) (map[uuid.UUID][]core.Rejected, error) {
	return batchOr(s, who, ids, "rejected records",
		func(br store.BatchReads, team uuid.UUID) (map[uuid.UUID][]core.Rejected, error) {
			return br.RejectedOfPipelines(ctx, team, ids, n)
		},
		func(id uuid.UUID) ([]core.Rejected, error) {
			return s.RejectedRecords(ctx, who, id, store.RejectedQuery{Limit: n})
		})
}

// DeliveriesOfPipelines returns the first page of sink deliveries of each
// of the caller's team's pipelines in ids, as Deliveries answers q
// without a cursor (viewer).
func (s *Service) DeliveriesOfPipelines(ctx context.Context, who Caller, ids []uuid.UUID, q store.DeliveryQuery) (map[uuid.UUID][]core.Delivery, error) {
	q.BeforeID = uuid.Nil
	return batchOr(s, who, ids, "deliveries",
		func(br store.BatchReads, team uuid.UUID) (map[uuid.UUID][]core.Delivery, error) {
			return br.DeliveriesOfPipelines(ctx, team, ids, q)
		},
		func(id uuid.UUID) ([]core.Delivery, error) { return s.Deliveries(ctx, who, id, q) })
}

// ReplaysOfPipelines returns the replays of the sink named sink of each of
// the caller's team's pipelines in ids (viewer).
func (s *Service) ReplaysOfPipelines(ctx context.Context, who Caller, ids []uuid.UUID, sink string) (map[uuid.UUID][]core.Replay, error) {
	return batchOr(s, who, ids, "replays",
		func(br store.BatchReads, team uuid.UUID) (map[uuid.UUID][]core.Replay, error) {
			return br.ReplaysOfPipelines(ctx, team, ids, sink)
		},
		func(id uuid.UUID) ([]core.Replay, error) { return s.Replays(ctx, who, id, sink) })
}

// UploadsOfPipelines returns the newest uploads (at most n) of each of
// the caller's team's pipelines in ids (viewer).
func (s *Service) UploadsOfPipelines(ctx context.Context, who Caller, ids []uuid.UUID, n int) (map[uuid.UUID][]core.Upload, error) {
	return batchOr(s, who, ids, "uploads",
		func(br store.BatchReads, team uuid.UUID) (map[uuid.UUID][]core.Upload, error) {
			return br.UploadsOfPipelines(ctx, team, ids, n)
		},
		func(id uuid.UUID) ([]core.Upload, error) { return s.Uploads(ctx, who, id, n) })
}

// StorageOfPipelines says what each of the caller's team's pipelines in
// ids stores (viewer).
func (s *Service) StorageOfPipelines(ctx context.Context, who Caller, ids []uuid.UUID) (map[uuid.UUID]store.StorageStats, error) {
	return batchOr(s, who, ids, "storage stats",
		func(br store.BatchReads, team uuid.UUID) (map[uuid.UUID]store.StorageStats, error) {
			return br.StorageStatsOfPipelines(ctx, team, ids)
		},
		func(id uuid.UUID) (store.StorageStats, error) { return s.StorageStats(ctx, who, id) })
}

// SchedulesOfPipelines returns the schedules of the polling pipelines
// among the caller's team's pipelines in ids, as Schedule answers them
// (viewer); other kinds get none.
func (s *Service) SchedulesOfPipelines(ctx context.Context, who Caller, ids []uuid.UUID) (map[uuid.UUID]Schedule, error) {
	team, role, err := s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	br, ok := s.st.(store.BatchReads)
	if !ok {
		out := make(map[uuid.UUID]Schedule, len(ids))
		for _, id := range ids {
			sc, err := s.Schedule(ctx, who, id)
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out[id] = sc
		}
		return out, nil
	}
	all, err := s.st.Pipelines(ctx, team)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	asked := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	var polling []core.Pipeline
	var pids []uuid.UUID
	for _, p := range all {
		if asked[p.ID] && p.Kind == core.KindPolling {
			polling, pids = append(polling, p), append(pids, p.ID)
		}
	}
	var next map[uuid.UUID]store.PollSchedule
	if s.pl != nil && len(pids) > 0 {
		if next, err = br.PollSchedulesOfPipelines(ctx, team, pids); err != nil {
			return nil, fmt.Errorf("schedules of pipelines: %w", err)
		}
	}
	out := make(map[uuid.UUID]Schedule, len(polling))
	for _, p := range polling {
		p.Spec = s.compiler.CanonicalSpec(p.Spec)
		ps, found := next[p.ID]
		out[p.ID] = s.schedule(p, role, ps, found)
	}
	return out, nil
}
