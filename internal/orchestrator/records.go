package orchestrator

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// History is what the record and chart reads need of the store.
type History interface {
	Records(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RecordQuery) ([]core.Record, error)
	RejectedRecords(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RejectedQuery) ([]core.Rejected, error)
	Runs(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RunQuery) ([]core.Run, error)
}

// Charts is the time-series part of a store; a store without it answers
// ErrUnavailable to Series and StorageStats.
type Charts interface {
	Series(ctx context.Context, teamID, pipelineID uuid.UUID, q store.SeriesQuery) (store.Series, error)
	StorageStats(ctx context.Context, teamID, pipelineID uuid.UUID) (store.StorageStats, error)
}

// Records returns a page of a pipeline's stored records (viewer).
func (s *Service) Records(ctx context.Context, who Caller, id uuid.UUID, q store.RecordQuery) ([]core.Record, error) {
	p, h, err := s.history(ctx, who, id)
	if err != nil {
		return nil, err
	}
	rs, err := h.Records(ctx, p.TeamID, p.ID, q)
	if err != nil {
		return nil, fmt.Errorf("list records of pipeline %s: %w", p.ID, err)
	}
	return rs, nil
}

// RejectedRecords returns a page of a pipeline's rejected records, newest
// first (viewer).
func (s *Service) RejectedRecords(ctx context.Context, who Caller, id uuid.UUID, q store.RejectedQuery) ([]core.Rejected, error) {
	p, h, err := s.history(ctx, who, id)
	if err != nil {
		return nil, err
	}
	rs, err := h.RejectedRecords(ctx, p.TeamID, p.ID, q)
	if err != nil {
		return nil, fmt.Errorf("list rejected records of pipeline %s: %w", p.ID, err)
	}
	return rs, nil
}

// Runs returns a page of a pipeline's runs, newest first (viewer).
func (s *Service) Runs(ctx context.Context, who Caller, id uuid.UUID, q store.RunQuery) ([]core.Run, error) {
	p, h, err := s.history(ctx, who, id)
	if err != nil {
		return nil, err
	}
	rs, err := h.Runs(ctx, p.TeamID, p.ID, q)
	if err != nil {
		return nil, fmt.Errorf("list runs of pipeline %s: %w", p.ID, err)
	}
	return rs, nil
}

// Series aggregates a numeric field of a pipeline's records per bucket
// (viewer).
func (s *Service) Series(ctx context.Context, who Caller, id uuid.UUID, q store.SeriesQuery) (store.Series, error) {
	p, _, err := s.load(ctx, who, id, auth.Viewer)
	if err != nil {
		return store.Series{}, err
	}
	c, ok := s.st.(Charts)
	if !ok {
		return store.Series{}, &Error{Kind: ErrUnavailable, Msg: "This store keeps no time series."}
	}
	return c.Series(ctx, p.TeamID, p.ID, q)
}

// StorageStats says what a pipeline stores (viewer).
func (s *Service) StorageStats(ctx context.Context, who Caller, id uuid.UUID) (store.StorageStats, error) {
	p, _, err := s.load(ctx, who, id, auth.Viewer)
	if err != nil {
		return store.StorageStats{}, err
	}
	c, ok := s.st.(Charts)
	if !ok {
		return store.StorageStats{}, &Error{Kind: ErrUnavailable, Msg: "This store keeps no time series."}
	}
	return c.StorageStats(ctx, p.TeamID, p.ID)
}

func (s *Service) history(ctx context.Context, who Caller, id uuid.UUID) (core.Pipeline, History, error) {
	p, _, err := s.load(ctx, who, id, auth.Viewer)
	if err != nil {
		return p, nil, err
	}
	h, ok := s.st.(History)
	if !ok {
		return p, nil, errors.New("orchestrator: the store keeps no history")
	}
	return p, h, nil
}
