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

// Overviews: what a page shows of a pipeline at a glance (the pipelines
// list, the head of a pipeline's dashboard), in one call per pipeline.

// ActivityMinutes is the length of Summary.Activity: one entry per minute
// of the last hour.
const ActivityMinutes = 60

// activityRuns bounds the runs read for a summary's activity.
const activityRuns = 500

// Summary is a pipeline as an overview shows it.
type Summary struct {
	Pipeline core.Pipeline
	// Role is the caller's role in the pipeline's team: pages show edit
	// controls to editors and above (the use cases check again).
	Role auth.Role
	// LastRun is the newest run; nil before the first one.
	LastRun *core.Run
	// LastError is the error of the newest run when it failed, the reason
	// a failing pipeline is failing.
	LastError string
	// Sinks are the pipeline's sinks with their health, and its
	// downstream pipelines.
	Sinks []Sink
	// Activity counts the records stored per minute over the last hour,
	// oldest first (ActivityMinutes entries), from the runs that started
	// then. It is the sparkline of the pipelines list.
	Activity []int
}

// Summaries lists the caller's team's pipelines by name with their
// summaries (viewer).
func (s *Service) Summaries(ctx context.Context, who Caller) ([]Summary, error) {
	team, role, err := s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	ps, err := s.st.Pipelines(ctx, team)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	out := make([]Summary, 0, len(ps))
	for _, p := range ps {
		sum, err := s.summary(ctx, who, view(p, role), role)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

// Summary returns one pipeline of the caller's team with its summary
// (viewer).
func (s *Service) Summary(ctx context.Context, who Caller, id uuid.UUID) (Summary, error) {
	p, role, err := s.load(ctx, who, id, auth.Viewer)
	if err != nil {
		return Summary{}, err
	}
	return s.summary(ctx, who, view(p, role), role)
}

func (s *Service) summary(ctx context.Context, who Caller, p core.Pipeline, role auth.Role) (Summary, error) {
	sum := Summary{Pipeline: p, Role: role, Activity: make([]int, ActivityMinutes)}
	if h, ok := s.st.(History); ok {
		runs, err := h.Runs(ctx, p.TeamID, p.ID, store.RunQuery{Limit: activityRuns})
		if err != nil {
			return sum, fmt.Errorf("runs of pipeline %s: %w", p.ID, err)
		}
		if len(runs) > 0 {
			sum.LastRun = &runs[0]
			sum.LastError = runs[0].Error
		}
		end := core.Now().Truncate(time.Minute).Add(time.Minute)
		start := end.Add(-ActivityMinutes * time.Minute)
		for _, r := range runs {
			if r.StartedAt.Before(start) {
				break // newest first
			}
			if i := int(r.StartedAt.Sub(start) / time.Minute); i >= 0 && i < ActivityMinutes {
				sum.Activity[i] += r.Stored
			}
		}
	}
	sinks, err := s.Sinks(ctx, Caller{Principal: who.Principal, Team: p.TeamID}, p.ID)
	if err != nil {
		return sum, err
	}
	sum.Sinks = sinks
	return sum, nil
}
