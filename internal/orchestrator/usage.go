package orchestrator

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// PipelineUsage is what one pipeline used: its stored totals (from the
// pipeline's stats) and its runs over the period asked for.
type PipelineUsage struct {
	Pipeline core.Pipeline
	store.RunUsage
}

// Usage lists the caller's team's pipelines by name with the runs they
// made since the given time (viewer).
func (s *Service) Usage(ctx context.Context, who Caller, since time.Time) ([]PipelineUsage, error) {
	team, _, err := s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	ps, err := s.st.Pipelines(ctx, team)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	ids := make([]uuid.UUID, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	byID := map[uuid.UUID]store.RunUsage{}
	if len(ids) > 0 {
		us, err := s.st.RunUsage(ctx, team, ids, since)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			byID[u.PipelineID] = u
		}
	}
	out := make([]PipelineUsage, len(ps))
	for i, p := range ps {
		u := byID[p.ID]
		u.PipelineID = p.ID
		out[i] = PipelineUsage{Pipeline: p, RunUsage: u}
	}
	return out, nil
}
